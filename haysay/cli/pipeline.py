"""`haysay run | validate | nodes | schema | history`: the headless pipeline commands."""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from . import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="validate and run a pipeline JSON, writing its outputs")
    p.add_argument("pipeline", help="pipeline JSON file")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="a named pipeline input")
    p.add_argument("--set", "-s", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a node param (value parsed as JSON when it parses)")
    p.add_argument("--out", "-o", default="out", help="folder for the output files (default: ./out)")
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav", help="output file format")
    p.add_argument("--depth", choices=["16", "24", "32", "float"],
                   help="bit depth of wav/flac outputs (default 24; flac takes 16 or 24)")
    p.add_argument("--scheduler", help="Dask scheduler address (default: an embedded LocalCluster)")
    p.add_argument("--no-cache", action="store_true", help="recompute every stage")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-stage progress")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a pipeline without running it; lists every problem")
    p.add_argument("pipeline")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--set", "-s", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--json", action="store_true", help="errors as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("nodes", help="list node types with their ports and params")
    p.add_argument("type", nargs="?", help="show one node type in full")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nodes)

    p = sub.add_parser("schema", help="print the pipeline format's JSON Schema")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("history", help="list runs, or one run's stages")
    p.add_argument("run_id", nargs="?")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} must be NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def _load(args) -> tuple[object, dict, list] | int:
    from haysay.graph_engine import PipelineFormatError, load_pipeline, parse_override
    try:
        doc = load_pipeline(args.pipeline)
    except PipelineFormatError as exc:
        _print_errors(exc.errors, getattr(args, "json", False))
        return EXIT_INVALID
    try:
        inputs = _pairs(args.input, "--input")
        overrides = [parse_override(s) for s in args.set]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return doc, inputs, overrides


def _print_errors(errors, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([e.to_dict() for e in errors], indent=2))
        return
    print(f"invalid pipeline: {len(errors)} problem(s)", file=sys.stderr)
    for e in errors:
        print(f"  {e.location or '(pipeline)'}: {e.message}  [{e.code}]", file=sys.stderr)


def _load_checked(args) -> tuple[object, dict, list] | int:
    """The pipeline, inputs and overrides, or the exit code after printing what is wrong."""
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    checked = _check(*loaded)
    if checked.errors:
        _print_errors(checked.errors, getattr(args, "json", False))
        return EXIT_INVALID
    for w in checked.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return loaded


def cmd_validate(args) -> int:
    loaded = _load_checked(args)
    if isinstance(loaded, int):
        return loaded
    doc, inputs, overrides = loaded
    print("[]" if args.json else f"ok: {args.pipeline} is valid ({len(doc.nodes)} nodes, {len(doc.edges)} edges)")
    return EXIT_OK


def _check(doc, inputs, overrides):
    """Validation needs only the registry, not a cluster or the state folder."""
    from haysay.graph_engine import default_registry, plan
    return plan(doc, default_registry(), inputs, overrides)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "output"


def cmd_run(args) -> int:
    from haysay.graph_engine import Engine, InvalidPipeline, Settings
    from haysay.graph_engine.audiofile import write_audio
    from haysay.graph_engine.values import Audio, Metrics

    if args.depth and args.format == "flac" and args.depth not in ("16", "24"):
        print(f"error: --depth {args.depth} cannot be written as flac (16 or 24)", file=sys.stderr)
        return EXIT_USAGE
    loaded = _load_checked(args)
    if isinstance(loaded, int):
        return loaded
    doc, inputs, overrides = loaded

    seen: dict[str, str] = {}
    t0 = time.time()

    def on_event(ev) -> None:
        if args.quiet or ev.status == "queued" or seen.get(ev.node) == ev.status and ev.status != "running":
            return
        if ev.status == "running" and ev.progress not in (0.0, None) and ev.progress < 1.0:
            bar = "#" * int(ev.progress * 20)
            print(f"  {ev.node:<20} running  [{bar:<20}] {ev.progress * 100:5.1f}%", file=sys.stderr)
            return
        if ev.status == "running" and seen.get(ev.node) == "running":
            return
        seen[ev.node] = ev.status
        extra = f"  {ev.message}" if ev.message else ""
        print(f"  {ev.node:<20} {ev.status:<8} {time.time() - t0:7.2f}s{extra}", file=sys.stderr)

    engine = Engine(Settings.from_env(scheduler=args.scheduler))
    try:
        result = engine.run(doc, inputs, overrides, use_cache=not args.no_cache, on_event=on_event,
                            output_dir=args.out)
    except InvalidPipeline as exc:
        engine.close()
        _print_errors(exc.errors)
        return EXIT_INVALID
    try:
        print(f"run {result.run_id}: {result.status} in {result.duration:.2f}s "
              f"({len(result.computed)} computed, {len(result.cached)} cached)")
        for nid, stage in result.stages.items():
            for w in (stage.info or {}).get("warnings", []):
                print(f"warning: {nid}: {w}", file=sys.stderr)
        if not result.ok:
            print(f"error: {result.error}", file=sys.stderr)
            return EXIT_FAILED
        out_dir = Path(args.out)
        for name, value in result.outputs.items():
            if isinstance(value, Audio):
                path = write_audio(out_dir / f"{_safe_name(name)}.{args.format}", value, args.format,
                                   args.depth if args.format != "ogg" else None)
                print(f"{name}: {path} ({value.duration:.2f}s, {value.sample_rate} Hz, {value.channels} ch)")
            elif isinstance(value, Metrics):
                path = out_dir / f"{_safe_name(name)}.json"
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(value.to_dict(), indent=2))
                print(f"{name}: {path} {json.dumps(value.to_dict()['values'])}")
            else:
                path = out_dir / f"{_safe_name(name)}.txt"
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(value if isinstance(value, str) else json.dumps(value, default=str))
                print(f"{name}: {path}")
        return EXIT_OK
    finally:
        engine.close()


def cmd_nodes(args) -> int:
    # from the built-ins' declarations: listing every type imports no node family
    from haysay.graph_engine.manifest import node_entries
    entries = node_entries()
    if args.type and args.type not in entries:
        print(f"unknown node type {args.type!r}", file=sys.stderr)
        return EXIT_USAGE
    chosen = [entries[args.type]] if args.type else list(entries.values())
    if args.json:
        print(json.dumps([e["describe"] for e in chosen], indent=2))
        return EXIT_OK
    for c in (e["card"] for e in chosen):
        ins = ", ".join(f"{p['name']}:{p['type']}{'?' if p['optional'] else ''}" for p in c["inputs"]) or "-"
        outs = ", ".join(f"{p['name']}:{p['type']}" for p in c["outputs"]) or "-"
        flags = "".join([" [gpu]" if c["gpu"] else "", " [block-wise]" if c["blockwise"] else ""])
        print(f"{c['type']:<24} {c['category']:<10} ({ins}) -> ({outs}){flags}")
        first = c["description"].splitlines()[0] if c["description"] else ""
        if first:
            print(f"    {first}")
        for f in c["fields"]:
            print(f"    - {f['name']}: {f['default']}{f['range']}{f['unit']}  {f['description']}".rstrip())
    return EXIT_OK


def cmd_schema(args) -> int:
    from haysay.graph_engine import pipeline_schema
    print(json.dumps(pipeline_schema(), indent=2))
    return EXIT_OK


def cmd_history(args) -> int:
    from haysay.graph_engine import History, Settings
    hist = History(Settings.from_env().history_path)
    if args.run_id:
        run = hist.run(args.run_id)
        if run is None:
            print(f"no run {args.run_id!r}", file=sys.stderr)
            return EXIT_USAGE
        stages = hist.stages(run.run_id)
        if args.json:
            from dataclasses import asdict
            print(json.dumps({"run": asdict(run), "stages": [asdict(s) for s in stages]}, default=str, indent=2))
            return EXIT_OK
        print(f"run {run.run_id}  {run.pipeline_name or '-'}  {run.status}  {run.duration_s or 0:.2f}s")
        if run.error:
            print(f"error: {run.error}")
        print(f"{'node':<20} {'type':<20} {'status':<9} {'cache':<6} {'seconds':>8}  worker")
        for s in stages:
            print(f"{s.node_id:<20} {s.node_type:<20} {s.status:<9} {'hit' if s.cache_hit else 'miss':<6} "
                  f"{(s.duration_s or 0):8.3f}  {s.worker or '-'}")
            if s.error:
                print(f"    error: {s.error}")
        return EXIT_OK
    runs = hist.runs(limit=args.limit)
    if args.json:
        from dataclasses import asdict
        print(json.dumps([{k: v for k, v in asdict(r).items() if k != "pipeline_json"} for r in runs], default=str, indent=2))
        return EXIT_OK
    print(f"{'run':<34} {'pipeline':<20} {'status':<10} {'started':<20} {'seconds':>8}")
    for r in runs:
        print(f"{r.run_id:<34} {(r.pipeline_name or '-'):<20} {r.status:<10} {str(r.started_at)[:19]:<20} {(r.duration_s or 0):8.2f}")
    return EXIT_OK
