"""Build an installed voice model's compiled graphs at install time, not on its first conversion.

The RVC and so-vits adapters run their decoder and content encoder as ONNX Runtime graphs exported from
the checkpoint and checked against the torch network (nodes.vc.backend); exporting takes seconds (a
minute on a busy CPU). `prepare_model` runs the model's adapter once, as a run would, on a second and a
half of a generated voiced signal, so every graph that run needs is exported, checked and cached by
content before the user's first conversion. The checkpoint stays the source of truth: a graph that
fails its check is not kept and the adapter runs torch, as it would at run time.
"""
from __future__ import annotations

import time
from typing import Any

# architectures whose adapters run exported graphs -> the adapter node
ADAPTERS = {"rvc": "vc.rvc", "sovits": "vc.sovits"}
RATE = 16000


def probe_audio(seconds: float = 1.5):
    """A voiced test signal: a 150 Hz harmonic tone gliding up a fifth, with a vowel-like spectrum, so the
    pitch trackers find voicing and the slicers keep it whole."""
    import numpy as np

    from haysay.graph_engine.values import Audio

    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 150.0 * 2 ** (7 / 12 * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    wave = sum(np.sin(k * phase) / k * np.exp(-((k * f0 - 700) / 900) ** 2) for k in range(1, 20))
    wave *= 0.4 / np.abs(wave).max()
    return Audio(wave.astype(np.float32)[None, :], RATE)


def needs_preparing(architecture: str) -> bool:
    return architecture in ADAPTERS


def prepare_model(name: str, architecture: str, backend: str = "auto") -> dict[str, Any]:
    """Run the installed model `name`'s adapter once so its graphs are built; what was built and why not.

    Returns {"prepared": bool, "reason": str (when not), "decoder": info, "content_encoder": info,
    "graphs": [paths], "seconds": float}. Never raises for a model the adapter cannot run (no content
    encoder installed yet, a graph out of tolerance): the reason says what, and the graphs are then built
    on the first run."""
    from haysay.graph_engine.contract import NodeContext, default_registry

    if architecture not in ADAPTERS:
        return {"prepared": False, "nothing": True, "reason": f"{architecture} runs no compiled graphs"}
    node = ADAPTERS[architecture]
    t0 = time.perf_counter()
    ctx = NodeContext("prepare")
    try:
        default_registry()[node].call({"model": name, "backend": backend}, ctx=ctx, audio=probe_audio())
    except Exception as exc:  # the adapter's own field-level message (e.g. content_encoder: none installed)
        return {"prepared": False, "reason": f"{type(exc).__name__}: {exc}",
                "seconds": round(time.perf_counter() - t0, 2)}
    info = ctx.info.get(node.split(".")[1], {})
    decoder, encoder = info.get("decoder") or {}, info.get("content_encoder") or {}
    graphs = [decoder["graph"]] if decoder.get("graph") else []
    graphs += [layer["graph"] for layer in (encoder.get("layers") or {}).values() if layer.get("graph")]
    return {"prepared": True, "decoder": decoder, "content_encoder": encoder, "graphs": graphs,
            "seconds": round(time.perf_counter() - t0, 2)}


def describe(result: dict[str, Any]) -> str:
    """One line for a person: what backend each network runs and where its graph is, or why not."""
    if result.get("nothing"):
        return result["reason"]
    if not result.get("prepared") and str(result.get("reason", "")).startswith("BackendError"):
        return f"no graph kept ({result.get('reason')}); with backend auto this model runs torch"
    if not result.get("prepared") and str(result.get("reason", "")).startswith("ModelRefError"):
        return f"graphs not built now ({result.get('reason')}); they are built on the first run"
    if not result.get("prepared"):  # the adapter could not run the model at all: a run would fail alike
        return f"warning: graphs not built, the model did not run ({result.get('reason')})"

    def part(what: str, info: dict) -> str:
        backend = info.get("backend", "?")
        if backend != "onnx":
            return f"{what} torch ({info.get('reason', '')})".rstrip(" ()")
        layers = info.get("layers")
        if layers is not None:
            rels = [layer.get("probe_rel_l2") for layer in layers.values() if layer.get("probe_rel_l2") is not None]
            return f"{what} onnx (layers {', '.join(k.removeprefix('layer') for k in layers)}" + \
                (f", relL2 vs torch {max(rels):.1e})" if rels else ")")
        return f"{what} onnx (relL2 vs torch {info.get('probe_rel_l2', float('nan')):.1e})"

    return (f"graphs ready in {result.get('seconds')} s: {part('decoder', result.get('decoder') or {})}, "
            f"{part('content encoder', result.get('content_encoder') or {})}")
