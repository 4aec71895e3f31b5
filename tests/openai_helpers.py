"""Mocking the OpenAI HTTP API with respx, whichever HTTP stack the installed SDK uses.

Recent ``openai`` SDKs speak ``httpx2`` rather than ``httpx``, which respx does not patch, so a
small respx mocker routes ``httpx2`` transport calls through the same respx routers; pass
``using=USING`` to ``respx.mock``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
from respx.mocks import Mocker

API = "https://api.openai.com/v1"


def _sdk_transport() -> str:
    """The respx mocker matching the installed SDK's HTTP stack."""
    import openai._base_client as base

    if not hasattr(base, "httpx2"):
        return "httpcore"
    import httpx2

    class _Relay(httpx2.AsyncByteStream):
        """Hands the mocked body to httpx2 chunk by chunk, so streaming stays observable."""

        def __init__(self, response: httpx.Response) -> None:
            self._response = response

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._response.aiter_bytes():
                yield chunk

        async def aclose(self) -> None:
            await self._response.aclose()

    class _Httpx2Mocker(Mocker):
        name = "openai-tests-httpx2"
        targets: ClassVar[list[str]] = ["httpx2.AsyncHTTPTransport"]
        target_methods: ClassVar[list[str]] = ["handle_async_request"]

        @classmethod
        def mock(cls, spec: Any) -> Any:
            async def handle_async_request(self: Any, request: Any) -> Any:
                body = await request.aread()
                response = await cls.async_handler(
                    httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=body)
                )
                return httpx2.Response(
                    response.status_code, headers=response.headers.raw, stream=_Relay(response)
                )

            return handle_async_request

    return _Httpx2Mocker.name


USING = _sdk_transport()
