"""Plivo's side of a call, played against a server on a real socket.

It does what Plivo does for an XML call: V3-signed form webhooks (the SDK's own signature),
following the Plivo XML it gets back element by element, posting ``<GetInput>`` results to the
element's ``action``, and falling through to the next element when the caller says nothing,
as Plivo does. Outbound calls start from the mocked REST API, which answers with a
``request_uuid`` that differs from the ``CallUUID`` the callbacks then carry.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import respx
from plivo_helpers import AUTH_ID, signed_headers

from telephony.adapters.local import SimulatedCall, SimulatedTurn

API = f"https://api.plivo.com/v1/Account/{AUTH_ID}"


def _plivo_number(number: str) -> str:
    """Plivo writes numbers without the ``+``."""
    return number.removeprefix("+")


class PlivoFarEnd:
    """Places and answers calls the way Plivo would.

    Args:
        webhook_url: The application's answer URL (the server's webhook URL); its hangup URL is
            the same with ``?kind=status``, as the setup page says.
        script: What a callee says on outbound calls, line by line.
    """

    def __init__(self, webhook_url: str, script: list[str]) -> None:
        self.webhook_url = webhook_url
        self.hangup_url = f"{webhook_url}?kind=status"
        self.script = script
        self.calls: dict[str, SimulatedCall] = {}
        self.requests: dict[str, str] = {}  # request_uuid -> CallUUID
        self._tasks: set[asyncio.Task[SimulatedCall]] = set()

    def mock_rest_api(self, router: respx.MockRouter) -> None:
        """Answer the Call resource: creating a call rings this far end; hang-ups and transfers succeed."""
        router.post(f"{API}/Call/").mock(side_effect=self._create)
        router.delete(url__regex=rf"{API}/Call/[\w-]+/").mock(return_value=httpx.Response(204))
        router.delete(url__regex=rf"{API}/Request/[\w-]+/").mock(return_value=httpx.Response(404))
        router.post(url__regex=rf"{API}/Call/[\w-]+/").mock(
            return_value=httpx.Response(
                202, json={"message": "call transferred", "api_id": str(uuid.uuid4())}
            )
        )

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        request_uuid, call_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        self.requests[request_uuid] = call_uuid
        task = asyncio.get_running_loop().create_task(self._answer(request_uuid, call_uuid, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return httpx.Response(
            201, json={"message": "call fired", "request_uuid": request_uuid, "api_id": str(uuid.uuid4())}
        )

    async def _answer(self, request_uuid: str, call_uuid: str, body: dict[str, str]) -> SimulatedCall:
        call = self.calls.setdefault(call_uuid, SimulatedCall(provider_call_id=call_uuid))
        base = {
            "CallUUID": call_uuid,
            "RequestUUID": request_uuid,
            "ALegRequestUUID": request_uuid,
            "ALegUUID": call_uuid,
            "Direction": "outbound",
            "From": body["from"],
            "To": body["to"],
        }
        async with httpx.AsyncClient(timeout=30) as http:
            if "ring_url" in body:
                await self._post(http, body["ring_url"], base | {"Event": "Ring", "CallStatus": "ringing"})
            started = base | {"Event": "StartApp", "CallStatus": "in-progress"}
            document = await self._post(http, body["answer_url"], started)
            await self._follow(http, call, document, base, list(self.script))
            await self._post(http, body["hangup_url"], _hangup(base))
        return call

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall:
        """Ring the number from ``caller`` and say ``script`` line by line."""
        call_uuid = str(uuid.uuid4())
        call = self.calls.setdefault(call_uuid, SimulatedCall(provider_call_id=call_uuid))
        base = {
            "CallUUID": call_uuid,
            "Direction": "inbound",
            "From": _plivo_number(caller),
            "To": _plivo_number(callee),
        }
        async with httpx.AsyncClient(timeout=30) as http:
            started = base | {"Event": "StartApp", "CallStatus": "ringing"}
            document = await self._post(http, self.webhook_url, started)
            await self._follow(http, call, document, base, list(script))
            await self._post(http, self.hangup_url, _hangup(base))
        return call

    async def _post(self, http: httpx.AsyncClient, url: str, params: dict[str, str]) -> str:
        response = await http.post(url, content=urlencode(params), headers=signed_headers(url, params))
        response.raise_for_status()
        return response.text

    async def _follow(
        self,
        http: httpx.AsyncClient,
        call: SimulatedCall,
        document: str,
        base: dict[str, str],
        script: list[str],
    ) -> None:
        """Carry out Plivo XML documents until one ends the call or runs out."""
        live = base | {"CallStatus": "in-progress"}
        while document:
            root = ElementTree.fromstring(document)
            assert root.tag == "Response", f"not Plivo XML: {document[:80]}"
            next_document = ""
            for element in root:
                if element.tag == "Speak":
                    call.turns.append(SimulatedTurn(speaker="bot", text=element.text or ""))
                elif element.tag in ("Play", "Wait", "DTMF"):
                    pass
                elif element.tag == "GetInput":
                    call.turns.extend(
                        SimulatedTurn(speaker="bot", text=s.text or "") for s in element.iter("Speak")
                    )
                    if not script:
                        continue  # nothing heard: Plivo runs the next element
                    line = script.pop(0)
                    call.turns.append(SimulatedTurn(speaker="caller", text=line))
                    result = live | {"InputType": "speech", "Speech": line, "SpeechConfidenceScore": "0.91"}
                    next_document = await self._post(http, element.attrib["action"], result)
                    break
                elif element.tag == "Redirect":
                    next_document = await self._post(http, element.text or "", live | {"Event": "Redirect"})
                    break
                elif element.tag == "Hangup":
                    call.ended_by = "bot"
                    return
                else:
                    raise AssertionError(f"this far end cannot follow <{element.tag}>")
            else:
                call.ended_by = "bot"  # a document that runs out ends the call
                return
            document = next_document


def _hangup(base: dict[str, str]) -> dict[str, str]:
    return base | {
        "Event": "Hangup",
        "CallStatus": "completed",
        "HangupCause": "NORMAL_CLEARING",
        "Duration": "3",
        "BillDuration": "60",
    }
