"""The node palette's items, built once for the studio's palette and the notebook canvas's (one list, one
component, studio/frontend/src/NodePalette.js, so the two cannot drift). No NiceGUI here: the notebook
imports it."""
from __future__ import annotations

from typing import Iterable


def palette_entries(registry: Iterable) -> list[dict[str, str]]:
    """{type, title, category, description} for each node type of `registry`, in registry order."""
    return [{"type": s.type, "title": s.title, "category": s.category, "description": s.description or ""}
            for s in registry]
