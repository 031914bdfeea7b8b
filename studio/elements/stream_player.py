"""StreamPlayer: plays a running stage's blocks as they come, gaplessly, through the Web Audio API."""
from __future__ import annotations

from nicegui import ui


class StreamPlayer(ui.element, component="stream_player.js"):
    """Fetches `{base}/{i}.f32` (stream_routes.py) block after block while the stage runs, and schedules
    each as an AudioBuffer right after the one before. Its state lives in the page, keyed by `base`, so a
    panel redrawn mid-stream (the stage ended) keeps playing instead of starting over."""

    def __init__(self, base: str, *, label: str = "") -> None:
        super().__init__()
        self._props["base"] = base
        self._props["label"] = label
