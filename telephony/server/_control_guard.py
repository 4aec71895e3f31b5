"""Who may use the control API: never a web page, only this machine or a bearer of the token.

A server on loopback without a token is reachable from every browser on the machine. A page can
send a cross-site ``POST`` without asking first when its body is ``text/plain``, a form or
multipart, and DNS rebinding lets a page on a foreign name reach ``127.0.0.1`` as if it were
its own origin. Either would let any web page place calls from the operator's number. So,
whatever the token setting, the control API (and ``/metrics``, ``/schema``) refuses:

- a body that is not ``application/json`` (415): no browser sends that cross-site unasked;
- a request whose ``Origin`` or ``Sec-Fetch-Site`` says it comes from another site (403);
- a ``Host`` that is not a loopback name, an address, ``publicUrl``'s host or one listed in
  ``serve.allowedHosts`` (421): a rebound name is always foreign.

The CLI and :class:`~telephony.cli.ControlClient` send JSON (or no body) with no ``Origin``, so they pass.
Wrong tokens are counted per client address; a client that keeps guessing is answered 429
until its window ends, whether its next token is right or not, so a guess tells nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit

from telephony.providers import TelephonyError

from ..observability import RateLimitedLog

__all__ = [
    "ControlGuard",
    "CrossSiteRequest",
    "ForeignHost",
    "NotJson",
    "TokenAttempts",
    "TooManyAttempts",
    "client_network",
    "is_proxied",
]

_log = logging.getLogger("telephony.server")
_GUESSES = RateLimitedLog(_log, what="wrong control tokens")


class NotJson(TelephonyError):
    """A control request's body is not ``application/json`` (415)."""


class CrossSiteRequest(TelephonyError):
    """A browser sent the request from another site's page (403)."""


class ForeignHost(TelephonyError):
    """The request names a host this server does not answer to, as DNS rebinding does (421)."""


class TooManyAttempts(TelephonyError):
    """A client sent too many wrong tokens; it may try again after ``retry_after`` seconds (429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Headers proxies, tunnels and CDNs add to say whom they forward for, or that they carried the
# request. Any of them marks a request as proxied; prefixes and suffixes catch vendor variants
# (X-Forwarded-Proto, CF-Connecting-IP, True-Client-IP, Tailscale-User-Login, Ngrok-Trace-Id...).
_PROXY_HEADERS: Final = frozenset({"forwarded", "via", "x-real-ip", "x-original-forwarded-for"})
_PROXY_PREFIXES: Final = ("x-forwarded-", "x-envoy-external-", "tailscale-", "ngrok-", "cf-")
_PROXY_SUFFIXES: Final = ("-client-ip", "-connecting-ip")


def is_proxied(headers: Iterable[str]) -> bool:
    """Whether any header name says the request came through a proxy or tunnel."""
    for name in headers:
        lowered = name.lower()
        if (
            lowered in _PROXY_HEADERS
            or lowered.startswith(_PROXY_PREFIXES)
            or lowered.endswith(_PROXY_SUFFIXES)
        ):
            return True
    return False


_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAME_SITE_FETCHES: Final = frozenset({"same-origin", "none"})  # "none": typed by the user


def _host_name(netloc: str) -> str:
    """The name in a ``Host`` value or URL authority, lowercased, without port or brackets."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc[1:]
    if netloc.count(":") > 1:  # a bare IPv6 address
        return netloc
    return netloc.partition(":")[0]


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class ControlGuard:
    """The browser checks every control request passes, whatever the token setting.

    Args:
        public_url: ``publicUrl``; its host is one the server answers to.
        allowed_hosts: ``serve.allowedHosts``: more host names (``*`` allows any, for a host app
            that checks ``Host`` itself).
    """

    def __init__(self, public_url: str, allowed_hosts: Iterable[str] = ()) -> None:
        parts = urlsplit(public_url)
        self._public_origin = f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""
        names = {_host_name(host) for host in allowed_hosts}
        self._any_host = "*" in names
        self._hosts = names | ({_host_name(parts.netloc)} if parts.netloc else set())

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (a ``Host`` header) names this server rather than a rebound name.

        Loopback names and addresses cannot be rebound: a page can only reach an address
        under a name of its own.
        """
        if self._any_host:
            return True
        name = _host_name(host)
        return name == "localhost" or name.endswith(".localhost") or _is_address(name) or name in self._hosts

    def check(self, method: str, headers: Mapping[str, str]) -> None:
        """Refuse a request a web page could have sent; headers are keyed in lowercase.

        Raises:
            ForeignHost: The ``Host`` is not one this server answers to.
            CrossSiteRequest: ``Origin`` or ``Sec-Fetch-Site`` names another site.
            NotJson: A body of another type than ``application/json``.
        """
        host = headers.get("host", "")
        if not self.host_allowed(host):
            raise ForeignHost(
                f"host {_host_name(host)!r} is not one this server answers to; add it to "
                "serve.allowedHosts if it is yours"
            )
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_FETCHES:
            raise CrossSiteRequest("the control API does not answer requests from other sites' pages")
        origin = headers.get("origin")
        if origin is not None and not self._same_origin(origin, host):
            raise CrossSiteRequest("the control API does not answer requests from other sites' pages")
        if method.upper() in _BODY_METHODS:
            content_type = headers.get("content-type")
            has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
            if content_type is None and not has_body:
                return  # nothing to read (``end``); a browser's cross-site POST is stopped above
            media_type = (content_type or "").partition(";")[0].strip().lower()
            if media_type != "application/json":
                raise NotJson("the control API takes only application/json bodies")

    def _same_origin(self, origin: str, host: str) -> bool:
        """Whether a browser's ``Origin`` is this server's own (as reached, or as published).

        The scheme is not compared with the request's: TLS often ends at a proxy in front.
        """
        origin = origin.strip().lower()
        if origin == "null" or "://" not in origin:
            return False
        if origin == self._public_origin:
            return True
        return bool(host) and origin.partition("://")[2] == host.strip().lower()


def client_network(address: str) -> str:
    """The unit wrong tokens are counted in: an IPv4 address, or an IPv6 address's /64.

    One IPv6 host is usually handed a whole /64, so counting single IPv6 addresses would let
    one client guess from endless addresses.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class TokenAttempts:
    """Wrong control tokens per client (an IPv4 address or an IPv6 /64), in fixed windows.

    Args:
        limit: Wrong tokens a client may send in one window before it is refused.
        window_seconds: The window's length; a refused client waits for its end.
        max_clients: Addresses remembered; the oldest is forgotten first.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        limit: int = 10,
        window_seconds: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _current(self, client: str) -> tuple[float, int]:
        client = client_network(client)
        now = self._clock()
        started, count = self._failures.get(client, (now, 0))
        if now - started >= self._window:
            self._failures.pop(client, None)
            return now, 0
        return started, count

    def check(self, client: str) -> None:
        """Refuse a client that used up its wrong tokens, before its token is looked at.

        Raises:
            TooManyAttempts: With the seconds left in the client's window.
        """
        started, count = self._current(client)
        if count >= self._limit:
            retry_after = max(1, math.ceil(started + self._window - self._clock()))
            raise TooManyAttempts(f"too many wrong control tokens; try again in {retry_after} s", retry_after)

    def failed(self, client: str) -> None:
        """Count one wrong token from ``client``, and log it at a bounded rate."""
        started, count = self._current(client)
        network = client_network(client)
        self._failures[network] = (started, count + 1)
        self._failures.move_to_end(network)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)
        if count + 1 == self._limit:
            _GUESSES.warning(
                "control API: %s sent %d wrong tokens; refused for %d s", network, self._limit, self._window
            )
        else:
            _GUESSES.warning("control API: wrong bearer token from %s", client)

    def succeeded(self, client: str) -> None:
        """Forget a client's wrong tokens once it sent the right one (a typo, corrected)."""
        self._failures.pop(client_network(client), None)

    def __len__(self) -> int:
        return len(self._failures)
