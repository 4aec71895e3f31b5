# Two entry points for newcomers: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench reliability clean redis-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[offline]'
	touch $@

# The tests also install examples/acme, an adapter packaged the way an outside author ships one.
$(VENV)/.installed-test: pyproject.toml examples/acme/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -e examples/acme
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/telephony demo

# The Redis store's tests start a private redis-server of their own (never a system service);
# the binary comes from the Debian package when it is missing, through sudo when not root.
# Outside CI a redis-server that cannot be had skips only the Redis-backed tests (one line says
# so); in CI (CI set, as .ci/run does) it is an error, so those tests always run there.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then as_root=""; \
	  elif command -v sudo >/dev/null 2>&1; then as_root="sudo"; \
	  else as_root="none"; fi; \
	  if [ "$$as_root" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$as_root apt-get update -q && \
	    $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	  fi; \
	  command -v redis-server >/dev/null 2>&1 || { \
	    if [ -n "$$CI" ]; then \
	      echo "redis-server is missing and could not be installed; CI runs the Redis store's tests, so install redis-server" >&2; \
	      exit 1; \
	    fi; \
	    echo "redis-server could not be installed: the Redis-backed tests will be skipped" >&2; \
	  }; \
	}

test: $(VENV)/.installed-test redis-server
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check providers telephony adapters tests bench examples
	$(BIN)/ruff format --check providers telephony adapters tests bench examples
	$(BIN)/mypy
	$(BIN)/mypy --config-file examples/acme/pyproject.toml examples/acme/src examples/acme/tests

# The media benchmarks compare with the real pipecat-ai package, a bench-only dependency.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

# Fuzz-and-fault counts on loopback (no pipecat needed): 5xx, forged requests accepted, turns lost.
reliability: $(VENV)/.installed-test
	$(BIN)/python -m bench.reliability

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
