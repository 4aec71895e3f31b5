"""The real ``pipecat-ai`` objects our media path is compared with, set up as a pipeline would.

pipecat is a bench-only dependency (``pip install -e '.[bench]'``, which ``make bench`` does).
Its Twilio serializer needs ``setup()`` with a :class:`FrameProcessorSetup` before it can
deserialize (that is where it learns the pipeline's input rate), so :func:`twilio_serializer`
builds a real one around an empty pipeline, as ``PipelineWorker`` does for a running bot.
Nothing here imitates pipecat: every call goes to the installed package.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ._signals import STREAM_SID

try:
    from loguru import logger

    # pipecat logs a banner on import and every pipeline link at DEBUG; the bench prints tables.
    logger.disable("pipecat")

    from pipecat.audio.resamplers.soxr_resampler import SOXRAudioResampler
    from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler
    from pipecat.clocks.system_clock import SystemClock
    from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessorSetup
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.utils.asyncio.task_manager import TaskManager
except ImportError as exc:  # pragma: no cover - only without the bench extra
    raise SystemExit(
        f"the benchmarks compare with the real pipecat-ai package, which is not installed ({exc}); "
        "run `make bench`, or `pip install -e '.[bench]'`"
    ) from None

__all__ = [
    "OUTPUT_CHUNK_MS",
    "InputAudioRawFrame",
    "OutputAudioRawFrame",
    "SOXRAudioResampler",
    "SOXRStreamAudioResampler",
    "TwilioFrameSerializer",
    "pipecat_version",
    "twilio_serializer",
]

OUTPUT_CHUNK_MS = 40
"""What pipecat's output transport hands its serializer by default: ``audio_out_10ms_chunks=4``."""


def pipecat_version() -> str:
    """The installed pipecat-ai version, for the report header."""
    try:
        return version("pipecat-ai")
    except PackageNotFoundError:  # pragma: no cover - the import above would have failed
        return "unknown"


def twilio_serializer(loop: asyncio.AbstractEventLoop, pipeline_rate: int) -> Any:
    """A ``TwilioFrameSerializer`` for one call, set up for a pipeline whose input runs at ``pipeline_rate``.

    Auto hang-up is off: it needs Twilio credentials and would call Twilio's REST API on
    ``EndFrame``, which the bench never sends. Everything else is pipecat's default, including
    its stream resampler at soxr ``VHQ``.
    """

    async def build() -> Any:
        params = TwilioFrameSerializer.InputParams(auto_hang_up=False)
        serializer = TwilioFrameSerializer(STREAM_SID, params=params)
        setup = FrameProcessorSetup(
            clock=SystemClock(),
            task_manager=TaskManager(),  # binds to the running loop, so built inside it
            pipeline_worker=PipelineWorker(Pipeline([])),
            audio_in_sample_rate=pipeline_rate,
        )
        await serializer.setup(setup)
        return serializer

    return loop.run_until_complete(build())
