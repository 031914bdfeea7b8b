"""The built-in node types' light declarations: what `haysay nodes`, the JSON Schema and the registry
need to know about each type without importing its family.

Importing every family and building every params model costs about half a second, most of it pydantic
work and numpy. This module does that once, writes what it learnt to `<HAYSAY_HOME>/node_manifest.json`
(for each type: the module that declares it, its listing card and its `describe()`), and after that
answers from the file. The file is keyed by the sources it was built from (every file of the built-in
node packages, the contract, the port types, pydantic's and Python's versions): any change rebuilds it.
While a family is left out for a missing library, the key also holds the site-packages folders of
`sys.path`, whose change times move when a package is installed there, so a later install of that library is seen. Plug-ins (the `haysay.nodes` entry points) are never in the file;
they load as they always did.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

BUILTIN_ENTRY = "haysay.nodes:register_builtin"  # the entry point of the built-ins (pyproject.toml)
FORMAT = 1
_HERE = Path(__file__).resolve().parent

_cache: dict[str, Any] | None = None


def _stat_line(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path} -"
    return f"{path} {st.st_size} {st.st_mtime_ns}"


def source_key(left_out: bool = False) -> str:
    """What the declarations depend on, as one string: files and their sizes and change times (with
    `left_out`, also the import path's folders, where installing the missing library shows)."""
    import importlib.util

    import haysay.nodes  # the package only: importing it loads no family

    lines = [f"format {FORMAT}", f"python {sys.version}"]
    for dist in ("pydantic", "pydantic_core"):
        spec = importlib.util.find_spec(dist)
        folder = os.path.dirname(spec.origin) if spec is not None and spec.origin else ""
        lines += [_stat_line(os.path.join(folder, name)) for name in ("__init__.py", "version.py")]
    lines += [_stat_line(str(_HERE / name)) for name in ("contract.py", "values.py", "manifest.py")]
    root = os.path.dirname(haysay.nodes.__file__)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        lines += [_stat_line(os.path.join(folder, f)) for f in sorted(files) if f.endswith(".py")]
    if left_out:  # where pip installs: an install there changes the folder's time
        lines += [_stat_line(p) for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    return "\n".join(lines)


def manifest_path() -> Path:
    from .config import default_home
    return default_home() / "node_manifest.json"


def _range(f) -> str:
    lo = hi = None
    for m in f.metadata:
        lo = next((getattr(m, a) for a in ("ge", "gt") if getattr(m, a, None) is not None), lo)
        hi = next((getattr(m, a) for a in ("le", "lt") if getattr(m, a, None) is not None), hi)
    if lo is None and hi is None:
        return ""
    return f", range {'' if lo is None else lo}..{'' if hi is None else hi}"


def card(spec) -> dict[str, Any]:
    """What `haysay nodes` lists of a node type, as plain JSON (params as ready-made text)."""
    fields = []
    for name, f in spec.params.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        fields.append({"name": name, "default": "required" if f.is_required() else f"default {f.default!r}",
                       "range": _range(f), "unit": f" {extra['unit']}" if extra.get("unit") else "",
                       "description": f.description or ""})
    return {"type": spec.type, "category": spec.category, "gpu": spec.gpu, "blockwise": spec.blockwise,
            "description": spec.description,
            "inputs": [{"name": p.name, "type": p.type.value, "optional": p.optional} for p in spec.inputs.values()],
            "outputs": [{"name": p.name, "type": p.type.value} for p in spec.outputs.values()],
            "fields": fields}


def _build() -> tuple[dict[str, Any], dict[str, str]]:
    """Import every built-in family: ({type: entry}, {family left out: why})."""
    from haysay.nodes import load_builtin

    from .contract import _DECLARED
    left_out = load_builtin()
    types = {t: {"module": s.module, "card": card(s), "describe": s.describe()}
             for t, s in _DECLARED.items() if s.module.startswith("haysay.nodes.")}
    return types, left_out


def builtin_manifest() -> dict[str, Any]:
    """{type: {"module", "card", "describe"}} of every built-in node type (from the file when it is current)."""
    global _cache
    if _cache is not None:
        return _cache
    path = manifest_path()
    try:
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("types"), dict) \
                and doc.get("key") == source_key(left_out=bool(doc.get("left_out"))):
            _cache = doc["types"]
            return _cache
    except (OSError, ValueError):
        pass
    keys = {False: source_key(), True: source_key(left_out=True)}  # taken before the sources are read
    types, left_out = _build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": keys[bool(left_out)], "left_out": left_out, "types": types}))
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError:  # a read-only home: the declarations still answer, only slower next time
        pass
    _cache = types
    return types


def plugin_entry_points() -> list:
    from importlib.metadata import entry_points
    return [ep for ep in entry_points(group="haysay.nodes") if getattr(ep, "value", None) != BUILTIN_ENTRY]


def node_entries() -> dict[str, dict[str, Any]]:
    """{type: {"card", "describe"}} of every node type, built-ins from the declarations, plug-ins live."""
    entries = {t: {"card": e["card"], "describe": e["describe"]} for t, e in builtin_manifest().items()}
    if plugin_entry_points():
        from .contract import default_registry
        reg = default_registry()
        for spec in reg.loaded():
            entries[spec.type] = {"card": card(spec), "describe": spec.describe()}
    return dict(sorted(entries.items(), key=lambda kv: (kv[1]["card"]["category"], kv[0])))
