"""Test-only node types (imported by the tests and, via `--import slow_nodes`, by orchestrator
subprocesses and process workers): slow stages, a GPU-tagged one, a heavy one, a failing one."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node

STOP = threading.Event()  # set by tests at teardown so sleeping worker threads end at once
CALLS = {"fail": 0}


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(1.0, ge=0.0, le=600.0, description="How long to sleep", json_schema_extra={"unit": "s"})
    tag: str = Field("", description="Makes otherwise equal stages distinct")


def _sleep(seconds: float) -> None:
    """Sleep, ending early on STOP or once the file $SLOW_NODES_RELEASE exists (for subprocesses)."""
    end = time.time() + seconds
    release = os.environ.get("SLOW_NODES_RELEASE")
    while time.time() < end and not STOP.is_set() and not (release and os.path.exists(release)):
        time.sleep(0.02)


@node("test.sleep", outputs={"audio": AUDIO}, params=SleepParams, category="source")
def sleep_source(params, ctx):
    """Write part of an output, then sleep: a slow stage that is half-written while it runs."""
    sink = ctx.audio_sink("audio", 8000, 1)
    sink.write(np.full((1, 8000), 0.25, np.float32))
    ctx.progress(0.1)
    _sleep(params.seconds)
    return sink.finish()


@node("test.slow_pass", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SleepParams)
def slow_pass(params, audio):
    """Sleep, then return the audio halved (a slow downstream stage)."""
    _sleep(params.seconds)
    from haysay.graph_engine.values import Audio
    return Audio(np.asarray(audio.numpy() * 0.5, np.float32), audio.sample_rate)


@node("test.gpu_sleep", outputs={"audio": AUDIO}, params=SleepParams, category="source", gpu=True)
def gpu_sleep(params, ctx):
    """A GPU-tagged slow stage."""
    _sleep(params.seconds)
    from haysay.graph_engine.values import Audio
    return Audio(np.zeros((1, 800), np.float32), 8000)


@node("test.big", outputs={"audio": AUDIO}, params=SleepParams, category="source", memory_mb=4096)
def big(params):
    """Declares 4 GiB of memory."""
    from haysay.graph_engine.values import Audio
    return Audio(np.zeros((1, 800), np.float32), 8000)


@node("test.fail", outputs={"audio": AUDIO}, params=SleepParams, category="source")
def fail(params):
    """Always raises (a deterministic error); counts its calls."""
    CALLS["fail"] += 1
    raise ValueError("this node always fails")
