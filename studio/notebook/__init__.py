"""Notebook support: rich displays for pipelines, runs, stages and errors, and Jupyter widgets.

Importing this package registers the displays with the engine's Python API
(`haysay` does so on first use). Widgets need the `notebook` extra
(ipywidgets, anywidget) and load on first access:

    from haysay.studio.notebook import ParamsForm, RunProgress, CanvasWidget, StreamPlayer
"""
from __future__ import annotations

from typing import Any

from haysay.graph_engine.run_view import DISPLAYS

from .catalog import catalog_html, node_types


def _pipeline(p) -> dict[str, Any]:
    from .graph_svg import pipeline_svg
    svg = pipeline_svg(p, {e.node for e in p.validate(check_files=False) if e.node})
    return {"text/html": svg, "image/svg+xml": svg}


def _run(r) -> dict[str, Any]:
    from .tables import run_html
    return {"text/html": run_html(r)}


def _stage(s) -> dict[str, Any]:
    from .tables import stage_html
    return {"text/html": stage_html(s)}


def _errors(report) -> dict[str, Any]:
    from .tables import errors_html
    return {"text/html": errors_html(report)}


def _player(player) -> dict[str, Any]:
    from .audio_html import audio_tag
    return {"text/html": audio_tag(player.audio, player.label)}


def _comparison(cmp) -> dict[str, Any]:
    from .compare import comparison_html
    return {"text/html": comparison_html(cmp)}


DISPLAYS.update({"Pipeline": _pipeline, "PipelineRun": _run, "Stage": _stage, "ValidationReport": _errors,
                 "Player": _player, "Comparison": _comparison,
                 "NodeCatalog": lambda c: {"text/html": catalog_html(c)}})



def _register_live_players() -> None:
    """In an IPython kernel, players, stages, runs and comparisons fetch audio from the kernel when a
    live front end shows them (live_audio.py), and embed a compressed preview otherwise."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from haysay.graph_engine.run_view import Comparison, PipelineRun, Player, Stage

    from .compare import comparison_html
    from .live_audio import register
    from .tables import run_html, stage_html
    register(shell, {
        Player: lambda p: lambda tag: tag(p.audio, p.label),
        Stage: lambda s: lambda tag: stage_html(s, tag),
        PipelineRun: lambda r: lambda tag: run_html(r, tag),
        Comparison: lambda c: lambda tag: comparison_html(c, tag),
    })


_register_live_players()

_WIDGETS = {"ParamsForm": ".widgets", "RunProgress": ".widgets", "CanvasWidget": ".canvas",
            "StreamPlayer": ".stream_player"}


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        from importlib import import_module
        return getattr(import_module(_WIDGETS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["node_types", "ParamsForm", "RunProgress", "CanvasWidget", "StreamPlayer"]
