"""Batches: one job per input file, CSV row or text line, with predictable output names.

    items = batch_items(doc, "voices/", input_name="source")
    # -> [BatchItem(stem="alice", inputs={"source": "voices/alice.wav"}), ...]
    write_outputs(store, job, "out/", "alice")   # out/alice__voice.wav

Outputs are named `<input stem>__<output name>.<ext>`, so a re-run of the same
batch overwrites the same files and a listing sorts by input.
"""
from __future__ import annotations

import csv
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ..pipeline import PipelineDoc

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
NAME_COLUMN = "name"  # a CSV column that names the row's outputs instead of its number


class BatchError(ValueError):
    """The batch's inputs cannot be turned into jobs; the message names the file, row or column."""


@dataclass(frozen=True)
class BatchItem:
    stem: str
    inputs: dict[str, Any]
    source: str  # where it came from: a file, "file.csv row 3", "file.txt line 7"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).strip("._") or "item"


def output_path(out_dir: str | Path, stem: str, output: str, ext: str) -> Path:
    return Path(out_dir) / f"{safe_name(stem)}__{safe_name(output)}.{ext}"


def batch_items(doc: PipelineDoc, source: str | Path, input_name: str | None = None) -> list[BatchItem]:
    """Expand a folder (one item per file), a .csv (one per row; columns are input names)
    or any other text file (one per non-empty line) into batch items."""
    source = Path(source)
    if source.is_dir():
        name = _pick_input(doc, input_name, source)
        return _dedupe([BatchItem(p.stem, {name: _file_value(doc, name, p)}, str(p))
                        for p in sorted(source.iterdir()) if p.is_file() and not p.name.startswith(".")], source)
    if not source.is_file():
        raise BatchError(f"--inputs {source}: no such folder or file")
    if source.suffix.lower() == ".csv":
        return _csv_items(doc, source, input_name)
    name = _pick_input(doc, input_name, source)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise BatchError(f"--inputs {source}: not UTF-8 text (give a folder, a .csv or a text file of lines)") from None
    items = [BatchItem(f"line{i:04d}", {name: line.strip()}, f"{source} line {i}")
             for i, line in enumerate(lines, 1) if line.strip()]
    if not items:
        raise BatchError(f"--inputs {source}: no non-empty lines")
    return items


def _pick_input(doc: PipelineDoc, input_name: str | None, source: Path) -> str:
    names = list(doc.inputs)
    if input_name is not None:
        if input_name not in doc.inputs:
            raise BatchError(f"--input-name {input_name!r}: the pipeline has no such input (it has: {', '.join(names) or 'none'})")
        return input_name
    if len(names) != 1:
        raise BatchError(f"--inputs {source}: say which pipeline input each item feeds with --input-name "
                         f"(the pipeline has {len(names)}: {', '.join(names) or 'none'})")
    return names[0]


def _file_value(doc: PipelineDoc, name: str, path: Path) -> str:
    """A .txt file feeding a text input (a Text port, or a plain string param) gives its content;
    anything else is passed as a path."""
    if path.suffix.lower() != ".txt":
        return str(path)
    from ..contract import default_registry
    from ..values import PortType

    node_id, target = doc.inputs[name].bind.split(".", 1)
    try:
        spec = default_registry().get(doc.node(node_id).type)
    except KeyError:
        spec = None
    if spec is None:
        return str(path)
    if target in spec.inputs:
        wants_text = spec.inputs[target].type is PortType.TEXT
    else:
        field = spec.params.model_fields.get(target)
        wants_text = field is not None and field.annotation is str and target not in spec.file_fields()
    return path.read_text(encoding="utf-8").strip() if wants_text else str(path)


def _csv_items(doc: PipelineDoc, source: Path, input_name: str | None) -> list[BatchItem]:
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c for c in reader.fieldnames or [] if c is not None]
        if not columns:
            raise BatchError(f"--inputs {source}: the CSV has no header row (columns are input names)")
        unknown = [c for c in columns if c not in doc.inputs and c != NAME_COLUMN]
        if unknown:
            raise BatchError(f"--inputs {source}: column(s) {', '.join(map(repr, unknown))} name no pipeline input "
                             f"(inputs: {', '.join(doc.inputs) or 'none'}; a {NAME_COLUMN!r} column names the outputs)")
        items = []
        for i, row in enumerate(reader, 1):
            values = {k: _cell(v) for k, v in row.items() if k in doc.inputs and v not in (None, "")}
            stem = row.get(NAME_COLUMN) or f"row{i:04d}"
            items.append(BatchItem(stem, values, f"{source} row {i}"))
    if not items:
        raise BatchError(f"--inputs {source}: the CSV has no rows")
    return _dedupe(items, source)


def _cell(text: str) -> Any:
    """Numbers and JSON literals in cells keep their type; everything else stays text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _dedupe(items: list[BatchItem], source: Path) -> list[BatchItem]:
    if not items:
        raise BatchError(f"--inputs {source}: the folder has no files")
    seen: dict[str, int] = {}
    out = []
    for item in items:
        stem = safe_name(item.stem)
        seen[stem] = seen.get(stem, 0) + 1
        if seen[stem] > 1:  # a.wav and a.flac must not overwrite each other's outputs
            stem = f"{stem}-{seen[stem]}"
        out.append(BatchItem(stem, item.inputs, item.source))
    return out


def write_outputs(store, outputs: dict[str, str], out_dir: str | Path, stem: str, fmt: str = "wav") -> list[Path]:
    """Write a finished job's outputs ({name: "cache_key/port"}) as `<stem>__<name>.<fmt>` files."""
    from ..audiofile import write_audio
    from ..values import Audio

    written = []
    for name, ref in outputs.items():
        key, port = ref.split("/", 1)
        value = store.open(key)[port]
        if isinstance(value, Audio):
            written.append(write_audio(output_path(out_dir, stem, name, fmt), value, fmt))
        else:
            path = output_path(out_dir, stem, name, "txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value if isinstance(value, str) else json.dumps(value, default=str), encoding="utf-8")
            written.append(path)
    return [Path(p) for p in written]


@dataclass
class BatchResult:
    item: BatchItem
    job_id: str
    state: str = "queued"
    seconds: float | None = None
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None


def run_batch(doc: PipelineDoc, items: list[BatchItem], out_dir: str | Path, fmt: str = "wav",
              overrides: list[tuple[str, str, Any]] | None = None, settings=None, poll_s: float = 0.3,
              on_update: Callable[[list[BatchResult], BatchResult | None], None] | None = None,
              **request: Any) -> list[BatchResult]:
    """Queue one job per item and wait for all; each finished job's outputs are written to `out_dir`
    as soon as it succeeds. Uses the live orchestrator when there is one (via the spool), else runs
    its own for the duration. `on_update(results, changed)` is called on every state change."""
    from ..config import Settings
    from ..engine import Engine
    from ..errors import InvalidPipeline
    from .model import FINAL, INTERRUPTED, JobRequest
    from .runner import JobRunner
    from .spool import OrchestratorBusy, Spool
    from .workers import AdmissionRefused

    settings = settings or Settings.from_env()
    spool = Spool(settings.home)
    runner = None
    if spool.holder() is None:
        runner = JobRunner(Engine(settings))
        try:
            runner.start()
        except OrchestratorBusy:
            runner.engine.close()
            runner = None
    store = runner.engine.store if runner else Engine(settings).store
    batch_id = uuid.uuid4().hex
    results: list[BatchResult] = []
    notify = on_update or (lambda results, changed: None)
    try:
        for item in items:
            req = JobRequest(pipeline=doc.to_dict(), inputs=item.inputs, overrides=list(overrides or []),
                             name=item.stem, batch_id=batch_id, submitted_at=time.time(), **request)
            res = BatchResult(item, req.job_id)
            results.append(res)
            if runner is None:
                spool.put_request(req)
                continue
            try:
                runner.submit(req)
            except (InvalidPipeline, AdmissionRefused) as exc:
                res.state, res.error = "failed", str(exc)
                notify(results, res)
        by_id = {r.job_id: r for r in results}
        while any(r.state not in FINAL and r.state != INTERRUPTED for r in results):
            time.sleep(poll_s)
            if runner is not None:
                jobs = [j.to_dict() for j in runner.store.list(batch_id=batch_id, limit=len(results) + 1)]
            else:
                status = spool.read_status()
                jobs = [j for j in (status or {}).get("jobs", []) if j.get("batch_id") == batch_id]
                if spool.holder() is None and not jobs:
                    raise RuntimeError("the orchestrator stopped before taking the batch; "
                                       "`haysay jobs serve` will run the spooled jobs")
            for j in jobs:
                res = by_id.get(j["job_id"])
                if res is None or res.state == j["state"]:
                    continue
                res.state, res.error = j["state"], j.get("error")
                if j.get("started_at") and j.get("ended_at"):
                    res.seconds = (datetime.fromisoformat(j["ended_at"]) - datetime.fromisoformat(j["started_at"])).total_seconds()
                if res.state == "succeeded":
                    try:
                        res.outputs = write_outputs(store, j.get("outputs") or {}, out_dir, res.item.stem, fmt)
                    except Exception as exc:  # a full disk or bad folder fails this item, not the batch
                        res.state, res.error = "failed", f"writing outputs: {exc}"
                notify(results, res)
    finally:
        if runner is not None:
            runner.stop()
    return results
