"""Errors shared by every adapter, so the server can map them to HTTP answers in one place."""

from __future__ import annotations


class TelephonyError(Exception):
    """Base class of every error this framework raises on purpose."""


class WebhookRejected(TelephonyError):
    """A webhook failed verification or could not be parsed; nothing was changed.

    Args:
        status: The HTTP status to answer with (401 missing signature, 403 bad signature,
            400 malformed body, 413 too large).
        reason: A short, secret-free explanation for logs and the response body.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MediaRejected(TelephonyError):
    """A media-stream frame was malformed or arrived out of order."""


class CallControlError(TelephonyError):
    """A carrier REST command failed for a reason other than "the call already ended".

    Args:
        message: What failed, secret-free (it is logged).
        status: The HTTP status the carrier answered with, if it answered.
        code: The carrier's own error code, if it gave one.
        transient: Whether repeating the request may succeed: by default true for a 5xx or
            429 answer; adapters pass true for a request that never reached the carrier.
        retry_after: Seconds the carrier asked us to wait (its ``Retry-After``), if it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        transient: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.transient = (
            (status is not None and (status >= 500 or status == 429)) if transient is None else transient
        )
        self.retry_after = retry_after


class AdapterNotFound(TelephonyError):
    """No adapter is registered under the requested name in the requested entry-point group."""


class AdapterConfigError(TelephonyError):
    """An adapter's settings are missing or malformed; the message names the key path.

    Args:
        message: One line that starts with, or names, the key at fault.
        path: The dotted key path at fault (``twilio.authToken``), when known, so the core can
            report it as the config key to fix.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MissingDependency(AdapterNotFound):
    """An adapter is registered but a package it needs is not installed.

    The message names the missing module and the extra that brings it, both ways to install
    it: ``pip install '.[twilio]'`` from a checkout, ``pip install 'telephony[twilio]'`` from a
    package index.
    """


def missing_dependency(
    exc: ModuleNotFoundError, extra: str, *, package: str = "telephony"
) -> MissingDependency:
    """Turn an import failure of an optional package into an error naming the extra to install.

    Args:
        exc: The failed import.
        extra: The name of the extra that provides it (``twilio``, ``openai``, ``offline``).
        package: The distribution that declares the extra; a third-party adapter names its own.
    """
    module = exc.name or "a required package"
    return MissingDependency(
        f"{module!r} is not installed; install it with: pip install '.[{extra}]' from a {package} "
        f"checkout, or pip install '{package}[{extra}]' from a package index"
    )


def require_module(module: str, extra: str, *, package: str = "telephony") -> None:
    """Fail early, with the extra to install, when an optional package an adapter needs is absent.

    Checks without importing, so an adapter can refuse at start-up without paying the import.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise missing_dependency(ModuleNotFoundError(name=module), extra, package=package)
