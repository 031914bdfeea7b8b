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


# words of param names as they are written; and whole labels where the words alone read badly
WORDS = {"db": "dB", "hz": "Hz", "ms": "ms", "lufs": "LUFS", "f0": "F0", "sr": "rate", "vad": "VAD", "rms": "RMS",
         "ssml": "SSML", "id": "ID", "q": "Q", "s": "s"}
LABELS = {"noise_w": "Noise width", "f0_ceil": "F0 ceiling", "f0_floor": "F0 floor", "target_lufs": "Target loudness",
          "resample_sr": "Resample to", "k_step": "Diffusion steps", "cr_threshold": "CREPE threshold",
          "fmin": "Lowest frequency", "fmax": "Highest frequency", "tau": "Tau", "true_peak": "True peak",
          "gain_a_db": "Gain of A", "gain_b_db": "Gain of B", "offset_b_ms": "Offset of B"}


def label_for(name: str, title: str | None, unit: str = "") -> str:
    """A field's label: its own `title` when one was written, else a curated or readable form of
    its name ("target_lufs" -> "Target loudness", "gain_db" -> "Gain"; the unit shows apart)."""
    generated = name.replace("_", " ").title()
    if title and title != generated:
        return title
    if name in LABELS:
        return LABELS[name]
    words = name.split("_")
    if len(words) > 1 and unit and words[-1].lower() in (unit.lower(), "seconds" if unit == "s" else unit.lower()):
        words = words[:-1]  # "gain_db" with unit dB: the unit is shown beside the label
    out = [WORDS.get(w.lower(), w.lower()) for w in words]
    if out and out[0] == words[0].lower():
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def parse_number(spec: "FieldSpec", text: Any) -> tuple[Any, str | None]:
    """(value, None) for what a number field holds, or (None, message) when it is not a number;
    "" clears the param back to its default."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None, None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            return None, f"{str(text)[:40]!r} is not a number"
    if value != value or value in (float("inf"), float("-inf")):
        return None, "must be a finite number"
    if spec.kind == "integer":
        if not value.is_integer():
            return None, f"{text} is not a whole number"
        return int(value), None
    return value, None


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
            name=name, kind=kind, label=label_for(name, prop.get("title"), unit), hint=" · ".join(p for p in parts if p),
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
        self.local_errors: dict[str, str] = {}  # what the form itself found (text in a number field)
        self.engine_errors: dict[str, str] = {}
        for s in specs:
            value = values.get(s.name, s.default)
            self.widgets[s.name] = self._widget(s, value, on_change, upload_choices or {})

    def _widget(self, s: FieldSpec, value: Any, on_change, uploads: dict[str, str]):
        label = s.label + (f" ({s.unit})" if s.unit else "")
        handler = lambda e, s=s: on_change(s.name, coerce(s, e.value))  # noqa: E731
        if s.kind in ("number", "integer"):
            # a text box, not <input type=number>: that one turns "abc" into an empty value, which
            # would silently clear the param; here it stays and is named as the field's error. No
            # clamping either: the range is in the hint and the engine's range error shows as typed
            def number_changed(e, s=s):
                value, problem = parse_number(s, e.value)
                if problem:
                    self.local_errors[s.name] = problem
                    self._show(s.name)
                    return
                self.local_errors.pop(s.name, None)
                on_change(s.name, value)
                self._show(s.name)
            text = "" if value is None else (_fmt(value) if isinstance(value, (int, float)) else str(value))
            w = ui.input(label, value=text, on_change=number_changed).props("inputmode=decimal")
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
        w.props("bottom-slots dense").classes("w-full hs-field")
        w._props.update({"hint": s.hint, "data-field": s.name})
        return w

    def show_errors(self, errors: dict[str, str]) -> None:
        """Mark fields with the engine's messages ({field: message}); others are cleared."""
        self.engine_errors = dict(errors)
        for name in self.widgets:
            self._show(name)

    def _show(self, name: str) -> None:
        w = self.widgets.get(name)
        message = self.local_errors.get(name) or self.engine_errors.get(name)
        if w is not None and hasattr(w, "error"):
            w.error = message or None
            w.update()
