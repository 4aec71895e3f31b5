"""A small client for a running server's control API (what the CLI's call commands use).

It never starts a server: two processes on one port is the failure this replaces.
"""

from __future__ import annotations

from typing import Any

import httpx

from telephony.providers import TelephonyError

from ..config import Config

__all__ = ["ControlClient", "ControlError", "ServerUnavailable", "server_url"]


class ServerUnavailable(TelephonyError):
    """No server answered at the control API address."""


class ControlError(TelephonyError):
    """The server refused a control request; the message is the server's."""


def server_url(config: Config) -> str:
    """Where the CLI reaches the control API: the configured bind, with a wildcard made loopback."""
    host = "127.0.0.1" if config.serve.bind in ("0.0.0.0", "::") else config.serve.bind
    return f"http://{host}:{config.serve.port}"


class ControlClient:
    """Talks to ``/api/calls`` with the configured bearer token."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError:
            raise ServerUnavailable(
                f"no telephony server at {self.base_url}; start one with `telephony serve`"
            ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("error") or response.json().get("detail") or response.text
            except ValueError:
                detail = response.text
            raise ControlError(f"server answered {response.status_code}: {detail}")
        return response.json()

    def place_call(
        self, to: str, *, message: str | None = None, mode: str | None = None, media: str | None = None
    ) -> dict[str, Any]:
        """``POST /api/calls``: dial ``to``; returns the new call."""
        body = {k: v for k, v in {"to": to, "message": message, "mode": mode, "media": media}.items() if v}
        result: dict[str, Any] = self._request("POST", "/api/calls", body)
        return result

    def calls(self, *, active: bool = False) -> list[dict[str, Any]]:
        """``GET /api/calls``: the newest calls first."""
        result: list[dict[str, Any]] = self._request("GET", "/api/calls" + ("?active=true" if active else ""))
        return result

    def status(self, call_id: str) -> dict[str, Any]:
        """``GET /api/calls/{id}``."""
        result: dict[str, Any] = self._request("GET", f"/api/calls/{call_id}")
        return result

    def speak(self, call_id: str, text: str) -> dict[str, Any]:
        """``POST /api/calls/{id}/speak``."""
        result: dict[str, Any] = self._request("POST", f"/api/calls/{call_id}/speak", {"text": text})
        return result

    def end(self, call_id: str) -> dict[str, Any]:
        """``POST /api/calls/{id}/end`` (idempotent)."""
        result: dict[str, Any] = self._request("POST", f"/api/calls/{call_id}/end")
        return result

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()
