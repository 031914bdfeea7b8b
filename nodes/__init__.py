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
    "haysay.nodes.tts.espeak",
    "haysay.nodes.tts.piper",
    "haysay.nodes.vc.world",
    "haysay.nodes.vc.praat",
    "haysay.nodes.vc.rvc.node",
    "haysay.nodes.analysis.pitch",
]

for _name in BUILTIN_MODULES:
    import_module(_name)


def register_builtin() -> None:
    """Entry point of the `haysay.nodes` group for the built-ins (already registered on import)."""
