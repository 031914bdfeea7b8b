"""The open graph, kept as it is edited, so a reload or a visit to another page loses nothing.

Two copies: the browser tab's sessionStorage (per tab; written by the page) and one file per
workspace under HAYSAY_HOME/studio/workspaces/ (here), which a new tab or another browser opens.
Both hold the editor's document as it stands, valid or not: half-built graphs are work too.
Beside the open document (the active tab's) both keep every open workflow tab, in order, so a
reload brings back the same tabs.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

SESSION_KEY = "haysay.workflow"
TABS_KEY = "haysay.workflow.tabs"
MAX_TABS = 32
MAX_BYTES = 4 << 20  # a pipeline document is a few kB; anything this large is not one


class Autosave:
    def __init__(self, home: Path, workspace: str = "default"):
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", workspace):
            raise ValueError(f"workspace: {workspace!r} is not a name (letters, digits, _ and -)")
        self.path = Path(home) / "studio" / "workspaces" / f"{workspace}.json"
        self.tabs_path = self.path.with_name(f"{workspace}.tabs.json")

    def save(self, doc: dict[str, Any]) -> None:
        """The open document."""
        _write(self.path, doc)

    def save_tabs(self, state: dict[str, Any]) -> None:
        """Every open tab: {"active": index, "tabs": [{"doc": ..., "modified": bool}, ...]}."""
        _write(self.tabs_path, state)

    def load_tabs(self) -> dict[str, Any] | None:
        return parse_tabs(_read(self.tabs_path))

    def load(self) -> dict[str, Any] | None:
        """The last saved document, or None when there is none or it is not a document."""
        return parse_saved(_read(self.path))


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous copy, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".autosave-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def parse_tabs(data: Any) -> dict[str, Any] | None:
    """Saved tabs (from the file or the browser), keeping those whose document looks like one."""
    if isinstance(data, str):
        if len(data) > MAX_BYTES:
            return None
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("tabs"), list):
        return None
    tabs = [{"doc": doc, "modified": t.get("modified") is True} for t in data["tabs"][:MAX_TABS]
            if isinstance(t, dict) and (doc := parse_saved(t.get("doc"))) is not None]
    if not tabs:
        return None
    active = data.get("active")
    active = active if isinstance(active, int) and not isinstance(active, bool) and 0 <= active < len(tabs) else 0
    return {"active": active, "tabs": tabs}


def parse_saved(data: Any) -> dict[str, Any] | None:
    """A saved copy (from the file or the browser) if it looks like the editor's document."""
    if isinstance(data, str):
        if len(data) > MAX_BYTES:
            return None
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not isinstance(data.get("edges", []), list):
        return None
    if not all(isinstance(n, dict) and isinstance(n.get("id"), str) and isinstance(n.get("type"), str)
               for n in data["nodes"]):
        return None
    return data
