"""NodePalette: every node type by category, with search; click adds, drag drops onto the canvas."""
from __future__ import annotations

from typing import Iterable

from nicegui import ui

from haysay.studio.bundle import BUNDLE_DIR
from haysay.studio.palette import palette_entries


class NodePalette(ui.element, component="node_palette.js", esm={"haysay-studio": str(BUNDLE_DIR)}):
    """The shared palette component; `on_event("add", handler)` gets {type} when an item is clicked."""

    def __init__(self, registry: Iterable) -> None:
        super().__init__()
        self._props["types"] = palette_entries(registry)

    def on_add(self, handler) -> "NodePalette":
        """`handler(node_type)` when an item is clicked."""
        self.on("add", lambda e: handler(str((e.args or {}).get("type", ""))) if isinstance(e.args, dict) else None)
        return self
