"""`haysay sweep`: run a pipeline over a grid of param values, rank the runs by measured scores."""
from __future__ import annotations

import argparse
import sys

from . import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a pipeline over a grid of param values and rank the runs by a score",
                       description="Each point of the cartesian grid runs as an override of the pipeline; stages "
                                   "upstream of the swept params are computed once and shared. Writes sweep.csv, "
                                   "sweep.md, sweep.png and each point's audio to --out.")
    p.add_argument("pipeline", help="pipeline JSON file")
    p.add_argument("--grid", "-g", action="append", default=[], metavar="NODE.PARAM=V1,V2,...",
                   help="a swept param and its values (JSON each, or a JSON list); repeat for a cartesian grid")
    p.add_argument("--score", action="append", default=[], metavar="NODE.METRIC",
                   help="a figure of an analysis node to rank by (e.g. q.OVRL, wer.wer); repeat for tie-breakers")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--minimize", action="store_true", help="lower scores are better (default for wer/rmse/error)")
    way.add_argument("--maximize", action="store_true", help="higher scores are better (default for other figures)")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="a named pipeline input")
    p.add_argument("--out", "-o", default="sweep", help="folder for the table, plot and audio (default: ./sweep)")
    p.add_argument("--format", choices=["wav", "flac", "ogg"], default="wav", help="format of each point's audio")
    p.add_argument("--scheduler", help="Dask scheduler address (default: an embedded LocalCluster)")
    p.add_argument("--no-cache", action="store_true", help="recompute every stage of every point")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per point")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from haysay.graph_engine import Engine, InvalidPipeline, PipelineFormatError, Settings, load_pipeline
    from haysay.graph_engine.sweep import as_axes, parse_score, run_sweep, write_report

    from .pipeline import _pairs, _print_errors

    if not args.grid or not args.score:
        print("error: a sweep needs at least one --grid NODE.PARAM=V1,V2 and one --score NODE.METRIC", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = load_pipeline(args.pipeline)
    except PipelineFormatError as exc:
        _print_errors(exc.errors)
        return EXIT_INVALID
    maximize = True if args.maximize else False if args.minimize else None
    try:
        inputs = _pairs(args.input, "--input")
        axes = as_axes(args.grid)
        scores = [parse_score(s, maximize) for s in args.score]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    total = 1
    for a in axes:
        total *= len(a.values)

    def on_point(pt) -> None:
        if args.quiet:
            return
        settings = " ".join(f"{k}={v}" for k, v in pt.settings.items())
        figures = " ".join(f"{k}={v:.4g}" for k, v in pt.scores.items()) or pt.error or ""
        print(f"  [{pt.index}/{total}] {settings}: {pt.status}  {figures}  "
              f"({len(pt.computed)} computed, {len(pt.cached)} cached)", file=sys.stderr)

    engine = Engine(Settings.from_env(scheduler=args.scheduler))
    try:
        try:
            result = run_sweep(engine, doc, axes, scores, inputs, use_cache=not args.no_cache, on_point=on_point,
                               output_dir=args.out)
        except InvalidPipeline as exc:
            _print_errors(exc.errors)
            return EXIT_INVALID
        paths = write_report(result, args.out, args.format)
    finally:
        engine.close()
    print(result.markdown())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    failed = [p for p in result.points if p.status != "succeeded" or len(p.scores) < len(scores)]
    if failed:
        print(f"error: {len(failed)} of {len(result.points)} point(s) failed or measured no score", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
