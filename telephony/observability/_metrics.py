"""Prometheus metrics of one running app, served at ``/metrics`` in the text exposition format.

Every app gets its own :class:`~prometheus_client.CollectorRegistry`, never the process-wide
default, so two apps in one process (tests, a host embedding two numbers) count apart. Active
calls are read from the call store at scrape time rather than counted up and down, so the figure
is right after a restart and whichever instance sharing the store is scraped.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from telephony.providers import AudioFormat, WebhookRejected

if TYPE_CHECKING:
    from ..store import CallStore

__all__ = ["CONTENT_TYPE", "MAX_COUNTED_CALLS", "FrameLagMeter", "Metrics", "verification_reason"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
"""The content type of the text exposition format the scrape gets."""

MAX_COUNTED_CALLS: Final = 10_000
"""Active calls read from the store per scrape; far above any ``maxConcurrentCalls`` in use."""

_VERIFICATION_REASONS: Final = frozenset({"missing", "invalid", "malformed", "stale"})

# Seconds. A turn waits on the agent (a language model: up to several seconds); the store and
# frame lag are about the event loop (sub-millisecond when healthy).
_TURN_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)
_STORE_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_LAG_BUCKETS: Final = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12)


def verification_reason(exc: WebhookRejected) -> str:
    """A bounded label for a failed verification: ``missing``, ``invalid``, ``malformed``, ``stale``.

    Adapters word their refusals as "<reason> <header>" ("invalid X-Twilio-Signature", "stale
    telnyx-timestamp ..."); the first word is the reason, and anything else is ``other``, so a
    label never carries free text.
    """
    word = exc.reason.split(" ", 1)[0].lower()
    return word if word in _VERIFICATION_REASONS else "other"


class Metrics:
    """The metrics one app exports, in a registry of its own.

    Attributes:
        registry: What ``/metrics`` renders.
        active_calls: Calls not yet ended, by carrier, direction and media (set at scrape time).
        turn_latency: From the caller's words being stored to the agent's reply, by carrier and media.
        verification_failures: Webhooks refused by signature checks, by carrier and reason.
        rejected_requests: Requests answered with an error status (HTTP status, or the WebSocket
            close code of a refused media stream), by status.
        stream_frame_lag: How late inbound media frames are handled (see :class:`FrameLagMeter`).
        store_latency: Call-store operations, by operation.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.active_calls = Gauge(
            "telephony_active_calls",
            "Calls not yet ended, read from the call store at scrape time.",
            ["carrier", "direction", "media"],
            registry=registry,
        )
        self.turn_latency = Histogram(
            "telephony_turn_latency_seconds",
            "From the caller's words being stored to the agent's reply.",
            ["carrier", "media"],
            buckets=_TURN_BUCKETS,
            registry=registry,
        )
        self.verification_failures = Counter(
            "telephony_webhook_verification_failures",
            "Webhooks refused by the carrier's signature check.",
            ["carrier", "reason"],
            registry=registry,
        )
        self.rejected_requests = Counter(
            "telephony_rejected_requests",
            "Requests answered with an error: HTTP status, or close code of a refused media stream.",
            ["status"],
            registry=registry,
        )
        self.stream_frame_lag = Histogram(
            "telephony_stream_frame_lag_seconds",
            "Worst lateness of inbound media frames per second of audio, against the carrier's clock.",
            ["carrier"],
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self.store_latency = Histogram(
            "telephony_store_operation_seconds",
            "Call-store operations; a write batch counts once, as 'transaction'.",
            ["operation"],
            buckets=_STORE_BUCKETS,
            registry=registry,
        )
        self._store_children: dict[str, Histogram] = {}

    def observe_store(self, operation: str, seconds: float) -> None:
        """Record one store operation (the callback :class:`~telephony.store.TimedStore` calls)."""
        child = self._store_children.get(operation)
        if child is None:  # a turn makes several store calls: look each label up once
            child = self._store_children[operation] = self.store_latency.labels(operation)
        child.observe(seconds)

    def rejected(self, status: int) -> None:
        """Count one refused request."""
        self.rejected_requests.labels(str(status)).inc()

    def verification_failed(self, carrier: str, exc: WebhookRejected) -> None:
        """Count one webhook whose signature check failed."""
        self.verification_failures.labels(carrier, verification_reason(exc)).inc()

    async def render(self, store: CallStore) -> bytes:
        """The exposition text, with active calls read from ``store`` now."""
        calls = await store.list_calls(active_only=True, limit=MAX_COUNTED_CALLS)
        tally = Tally((call.provider, call.direction, call.media) for call in calls)
        # No await between clearing and rendering: a concurrent scrape cannot see a half-set gauge.
        self.active_calls.clear()
        for labels, count in tally.items():
            self.active_calls.labels(*labels).set(count)
        return generate_latest(self.registry)


class FrameLagMeter:
    """How late one stream's inbound frames are handled, relative to the carrier's clock.

    Each frame has a media time: the carrier's timestamp (milliseconds since the stream began)
    when the codec reports one, else the duration of the audio received before it. A frame's
    offset is the wall-clock time it is handled minus its media time. The smallest offset seen
    is the stream's baseline (the frame that arrived most promptly); a frame's lag is how far
    its offset exceeds that baseline: network delay beyond the best case, plus time spent
    queued behind our own work. The worst lag of each ``window`` frames (a second of 20 ms
    frames) is observed, so a spike is not averaged away and the hot path pays no histogram
    lookup per frame.

    Args:
        observe: Receives a lag in seconds.
        audio_format: The inbound format, to tell audio duration when frames carry no timestamp.
        window: Frames per observation.
        clock: Seconds, monotonic.
    """

    __slots__ = (
        "_baseline",
        "_bytes_per_ms",
        "_clock",
        "_observe",
        "_received_ms",
        "_seen",
        "_window",
        "_worst",
    )

    def __init__(
        self,
        observe: Callable[[float], None],
        audio_format: AudioFormat,
        *,
        window: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._observe = observe
        self._bytes_per_ms = audio_format.sample_rate * audio_format.bytes_per_sample / 1000
        self._window = window
        self._clock = clock
        self._baseline: float | None = None
        self._received_ms = 0.0
        self._seen = 0
        self._worst = 0.0

    def frame(self, payload_bytes: int, timestamp_ms: int | None) -> None:
        """Account for one inbound audio frame, as it is handled."""
        media_ms = self._received_ms if timestamp_ms is None else float(timestamp_ms)
        self._received_ms += payload_bytes / self._bytes_per_ms
        offset = self._clock() * 1000 - media_ms
        if self._baseline is None or offset < self._baseline:
            self._baseline = offset
        lag = offset - self._baseline
        if lag > self._worst:
            self._worst = lag
        self._seen += 1
        if self._seen >= self._window:
            self.flush()

    def flush(self) -> None:
        """Observe the worst lag of the frames since the last observation, if any."""
        if self._seen:
            self._observe(self._worst / 1000)
            self._seen = 0
            self._worst = 0.0
