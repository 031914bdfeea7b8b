"""Params forms generated from a node's pydantic JSON Schema.

`field_specs(schema)` turns the schema into plain `FieldSpec`s (kind, range,
unit, options, hint) — pure and tested alone; `ParamsForm` renders them with
NiceGUI and reports each edit. Validation stays the engine's: the form shows
the errors `Engine.validate` returns, on the field they name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from nicegui import ui


@dataclass
class FieldSpec:
    name: str
    kind: str  # number | integer | select | bool | text | textarea | json
    label: str
    hint: str = ""
    default: Any = None
    required: bool = False
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    options: list[Any] = field(default_factory=list)
    file: bool = False


def _resolve(schema: dict, prop: dict) -> dict:
    ref = prop.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return {**schema.get("$defs", {}).get(ref.split("/")[-1], {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _fmt(x: float) -> str:
    return f"{x:g}"


def field_specs(schema: dict, file_fields: tuple[str, ...] | list[str] = ()) -> list[FieldSpec]:
    """One FieldSpec per property of a pydantic params schema, in declaration order."""
    required = set(schema.get("required", []))
    specs = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(schema, raw)
        nullable = False
        if "anyOf" in prop:  # Optional[X] comes as anyOf [X, null]
            variants = [_resolve(schema, v) for v in prop["anyOf"]]
            non_null = [v for v in variants if v.get("type") != "null"]
            nullable = len(non_null) < len(variants)
            merged = dict(non_null[0]) if len(non_null) == 1 else {"type": "json"}
            prop = {**merged, **{k: v for k, v in prop.items() if k != "anyOf"}}
        unit = str(prop.get("unit", ""))
        lo = prop.get("minimum", prop.get("exclusiveMinimum"))
        hi = prop.get("maximum", prop.get("exclusiveMaximum"))
        if "enum" in prop or "const" in prop:
            kind, options = "select", list(prop.get("enum", [prop.get("const")]))
        else:
            options = []
            kind = {"number": "number", "integer": "integer", "boolean": "bool", "string": "text"}.get(prop.get("type", ""), "json")
            if kind == "text" and (prop.get("widget") == "textarea" or (prop.get("maxLength") or 0) > 1000):
                kind = "textarea"
        parts = [prop.get("description", "")]
        if lo is not None or hi is not None:
            left = "(" if "exclusiveMinimum" in prop else "["
            right = ")" if "exclusiveMaximum" in prop else "]"
            parts.append(f"{left}{_fmt(lo) if lo is not None else '-∞'} … {_fmt(hi) if hi is not None else '∞'}{right}"
                         + (f" {unit}" if unit else ""))
        elif unit:
            parts.append(unit)
        specs.append(FieldSpec(
            name=name, kind=kind, label=prop.get("title", name), hint=" · ".join(p for p in parts if p),
            default=prop.get("default"), required=name in required, nullable=nullable, minimum=lo, maximum=hi,
            unit=unit, options=options, file=name in file_fields))
    return specs


def coerce(spec: FieldSpec, raw: Any) -> Any:
    """The value a widget's raw content stands for; None clears the param back to its default."""
    if raw is None or raw == "":
        return None
    if spec.kind == "integer" and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if spec.kind == "json" and isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


class ParamsForm:
    """Widgets for one node's params; `on_change(field, value)` fires on every edit."""

    def __init__(self, specs: list[FieldSpec], values: dict[str, Any], on_change: Callable[[str, Any], None],
                 upload_choices: dict[str, str] | None = None):
        self.specs = {s.name: s for s in specs}
        self.widgets: dict[str, Any] = {}
        for s in specs:
            value = values.get(s.name, s.default)
            self.widgets[s.name] = self._widget(s, value, on_change, upload_choices or {})

    def _widget(self, s: FieldSpec, value: Any, on_change, uploads: dict[str, str]):
        label = s.label + (f" ({s.unit})" if s.unit else "")
        handler = lambda e, s=s: on_change(s.name, coerce(s, e.value))  # noqa: E731
        if s.kind in ("number", "integer"):
            # no min/max here: NiceGUI would clamp on blur and hide the range error the engine
            # reports; the range is in the hint and checked on every edit
            w = ui.number(label, value=value, on_change=handler, step=1 if s.kind == "integer" else None)
        elif s.kind == "select":
            opts = list(s.options) + ([None] if s.nullable else [])
            w = ui.select({o: ("(default)" if o is None else str(o)) for o in opts}, label=label,
                          value=value if value in opts else None, on_change=handler)
        elif s.kind == "bool":
            w = ui.switch(label, value=bool(value), on_change=handler)
        elif s.kind == "textarea":
            w = ui.textarea(label, value=value or "", on_change=handler).props("autogrow")
        elif s.kind == "json":
            text = "" if value is None else json.dumps(value)
            w = ui.input(label, value=text, on_change=handler)
        else:
            w = ui.input(label, value=value or "", on_change=handler)
            if s.file and uploads:
                w.props("list=haysay-uploads")
        if hasattr(w, "without_auto_validation"):
            w.without_auto_validation()  # errors come from the engine; NiceGUI's own check would clear them
        w.props("bottom-slots dense").classes("w-full")
        w._props.update({"hint": s.hint, "data-field": s.name})
        return w

    def show_errors(self, errors: dict[str, str]) -> None:
        """Mark fields with the engine's messages ({field: message}); others are cleared."""
        for name, w in self.widgets.items():
            message = errors.get(name)
            if hasattr(w, "error"):
                w.error = message or None
                w.update()
