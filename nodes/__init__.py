"""Built-in node types. Importing this package registers them.

Each family lives in its own module; adding a module here is how a built-in
node joins the registry.
"""
from importlib import import_module

BUILTIN_MODULES = [
    "haysay.nodes.source.tone",
    "haysay.nodes.source.text",
    "haysay.nodes.audio.io",
    "haysay.nodes.audio.gain",
    "haysay.nodes.audio.resample",
    "haysay.nodes.audio.mixing",
    "haysay.nodes.audio.levels",
    "haysay.nodes.audio.editing",
    "haysay.nodes.audio.filters",
    "haysay.nodes.audio.dynamics",
    "haysay.nodes.audio.denoise",
    "haysay.nodes.audio.pitch_time",
    "haysay.nodes.audio.effects",
    "haysay.nodes.audio.separate",
    "haysay.nodes.tts.espeak",
    "haysay.nodes.tts.piper",
    "haysay.nodes.tts.coqui.node",
    "haysay.nodes.tts.styletts2.node",
    "haysay.nodes.tts.talknet.node",
    "haysay.nodes.tts.gpt_sovits.node",
    "haysay.nodes.vc.world",
    "haysay.nodes.vc.praat",
    "haysay.nodes.vc.rvc.node",
    "haysay.nodes.vc.sovits.node",
    "haysay.nodes.vc.openvoice.node",
    "haysay.nodes.vc.sovits5.node",
    "haysay.nodes.analysis.pitch",
    "haysay.nodes.analysis.transcribe",
    "haysay.nodes.analysis.quality",
    "haysay.nodes.analysis.speaker",
    "haysay.nodes.analysis.pitch_error",
    "haysay.nodes.analysis.vad",
]

# A built-in whose third-party library is not installed (a selective install without an
# architecture's extra) is left out, not fatal; `haysay doctor` reports why. Importing this package
# loads nothing: `load_builtin()` imports every family (reading `UNAVAILABLE` does too), while the
# registry imports one family where one of its node types is first asked for (see
# graph_engine/manifest.py), so `haysay validate` loads only the families a pipeline uses.
_unavailable: dict[str, str] | None = None


def load_builtin() -> dict[str, str]:
    """Import every built-in family (registering its node types); the ones left out and why."""
    global _unavailable
    if _unavailable is not None:
        return _unavailable
    left_out: dict[str, str] = {}
    for name in BUILTIN_MODULES:
        try:
            import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in ("haysay", ""):
                raise
            left_out[name] = f"needs the Python package {exc.name!r}"
    _unavailable = left_out
    return left_out


def __getattr__(name: str):
    if name == "UNAVAILABLE":
        return load_builtin()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_builtin() -> None:
    """Entry point of the `haysay.nodes` group for the built-ins."""
    load_builtin()
