"""haysay: node-graph pipelines for voice generation and voice conversion.

    import haysay
    p = haysay.Pipeline("demo")
    tone = p.add("gen.tone", frequency=220)
    tone >> p.add("audio.gain", gain_db=-6)
    run = p.run()

Names load on first use, so `haysay` (and the CLI) start fast. Notebook
displays are wired in the first time the Python API is touched.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> (module, attribute)
_EXPORTS = {
    "Pipeline": ("haysay.graph_engine.builder", "Pipeline"),
    "load": ("haysay.graph_engine.builder", "load"),
    "run": ("haysay.graph_engine.builder", "run"),
    "default_engine": ("haysay.graph_engine.builder", "default_engine"),
    "Engine": ("haysay.graph_engine.engine", "Engine"),
    "Audio": ("haysay.graph_engine.values", "Audio"),
    "GraphError": ("haysay.graph_engine.errors", "GraphError"),
    "InvalidPipeline": ("haysay.graph_engine.errors", "InvalidPipeline"),
    "node_types": ("haysay.studio.notebook.catalog", "node_types"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'haysay' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    if module.endswith(".builder"):
        _wire_notebook_displays()
    globals()[name] = value
    return value


def _wire_notebook_displays() -> None:
    try:
        import_module("haysay.studio.notebook")  # registers renderers into the builder's DISPLAYS
    except ImportError:  # a slim install without the notebook bits still builds and runs
        pass


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
