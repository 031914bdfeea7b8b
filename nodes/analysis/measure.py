"""What every measuring node shares: its input as mono samples at its model's rate, and its
figures handed to the run history as well as returned as a `Metrics` value."""
from __future__ import annotations

from importlib.util import find_spec

import numpy as np

from haysay.graph_engine.contract import NodeContext
from haysay.graph_engine.values import Audio, Metrics


def require(*packages: str) -> None:
    """Raise ModuleNotFoundError (what `haysay.nodes` reads as "leave this node out, say why") when one
    of the packages is not installed, without importing any of them."""
    for name in packages:
        if find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r} (install haysay[eval])", name=name)


def package_versions(*packages: str):
    """A node `fingerprint=`: the installed versions of the wheels whose models it runs, so an upgraded
    model never serves figures measured by the old one."""
    def fingerprint(params) -> dict[str, str]:
        from importlib.metadata import version
        return {name: version(name) for name in packages}
    return fingerprint


def mono_at(audio: Audio, rate: int) -> np.ndarray:
    """The mean of the channels as float32 at `rate` (soxr, high quality)."""
    x = audio.mono().astype(np.float32)
    if audio.sample_rate == rate or not x.size:
        return x
    import soxr
    return soxr.resample(x, audio.sample_rate, rate).astype(np.float32)


def report(ctx: NodeContext | None, metrics: Metrics) -> Metrics:
    """Return `metrics`, with its figures also in the stage's info, where the history files them
    by name (queryable as `stage_metrics`)."""
    if ctx is not None:
        ctx.info["metrics"] = dict(metrics.values)
    return metrics
