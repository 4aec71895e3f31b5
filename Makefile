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
# the binary comes from the Debian package when it is missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "install redis-server (the Redis store's tests run one)" >&2; exit 1; }; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

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
