"""`haysay models install | prepare | list | info | remove | verify | catalogue` and `haysay doctor`."""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import EXIT_FAILED, EXIT_INVALID, EXIT_OK

ENV_CATALOGUE = "HAYSAY_CATALOGUE"
# Hay Say's community list of RVC characters: the default when no catalogue is named.
DEFAULT_CATALOGUE = "https://raw.githubusercontent.com/hydrusbeta/hay_say_ui/main/architectures/rvc/character_models.json"


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="install, list, check and remove voice models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    models.set_defaults(func=lambda args: (models.print_help(), 2)[1])

    p = msub.add_parser("install", help="install from a file/folder, an http(s) URL, hf://owner/repo/path, "
                                        "or a catalogue entry (with --catalogue)")
    p.add_argument("source", help="file, folder, URL, hf:// reference, or a model name with --catalogue")
    p.add_argument("--name", help="name to install under (default: the file's or entry's name)")
    p.add_argument("--sha256", help="expected sha256 of the downloaded (or local) file")
    p.add_argument("--arch", help="architecture, when the files do not say (rvc, sovits, content_encoder, piper, ...)")
    p.add_argument("--catalogue", "-c", metavar="FILE_OR_URL", help="install the entry named SOURCE from this catalogue")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before downloading")
    p.add_argument("--no-prepare", action="store_true",
                   help="do not build the model's compiled graphs now (RVC, so-vits: built on the first run then)")
    p.set_defaults(func=cmd_install)

    p = msub.add_parser("prepare", help="build installed RVC / so-vits models' compiled (ONNX Runtime) graphs, "
                                        "checked against torch, so the first conversion does not wait for them")
    p.add_argument("name", nargs="*", help="installed models (default: every RVC and so-vits model)")
    p.add_argument("--backend", choices=("auto", "onnx"), default="auto",
                   help="onnx: fail where a graph cannot be built or checked (auto: fall back to torch)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prepare)

    p = msub.add_parser("list", help="installed models with sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("info", help="one installed model's manifest")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)

    p = msub.add_parser("remove", help="delete an installed model")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)

    p = msub.add_parser("verify", help="re-hash installed files against their manifests")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = msub.add_parser("catalogue", help="list a catalogue's models with sizes and installed state")
    p.add_argument("source", nargs="?", metavar="FILE_OR_URL",
                   help=f"catalogue (default: ${ENV_CATALOGUE}, else Hay Say's RVC character_models.json)")
    p.add_argument("--arch", help="architecture of a Hay Say catalogue outside its architectures/<arch>/ folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_catalogue)

    p = sub.add_parser("doctor", help="which components can run here: dependencies, models, GPU")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _store():
    from haysay.graph_engine.models import ModelStore

    return ModelStore.from_env()


def _fail(exc: Exception) -> int:
    from haysay.graph_engine.models import DownloadError

    print(f"error: {exc}", file=sys.stderr)
    return EXIT_FAILED if isinstance(exc, (DownloadError, OSError)) else EXIT_INVALID


class _Progress:
    """Prints a line per 10% of each file (to stderr), so logs stay short."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def __call__(self, label: str, done: int, total: int | None) -> None:
        step = int(done * 10 / total) if total else done // (50 << 20)
        if self.last.get(label) != step:
            self.last[label] = step
            pct = f"{100 * done / total:5.1f}% " if total else ""
            print(f"  {pct}{human_size(done)}", file=sys.stderr)


def _confirm(assume_yes: bool):
    def ask(plan) -> bool:
        print(f"{plan.name}: {len(plan.files)} file(s), {human_size(plan.total_size)} to download")
        for f in plan.files:
            print(f"  {human_size(f.size):>12}  {f.source}")
        if assume_yes:
            return True
        try:
            answer = input("Download? [y/N] ")
        except EOFError:
            answer = ""
        return answer.strip().lower() in ("y", "yes")

    return ask


def cmd_install(args) -> int:
    from haysay.graph_engine.models import ModelError

    store = _store()
    progress = _Progress()
    try:
        model = store.install(args.source, name=args.name, sha256=args.sha256, architecture=args.arch,
                              catalogue=args.catalogue, confirm=_confirm(args.yes),
                              progress=lambda done, total: progress(args.source, done, total))
    except (ModelError, OSError) as exc:
        return _fail(exc)
    print(f"installed {model.name!r}: {model.architecture} {model.version or ''} "
          f"({human_size(model.size_bytes)}) at {model.path}")
    warning = model.info.get("warning")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    from haysay.nodes.vc.prepare import describe, needs_preparing, prepare_model

    if needs_preparing(model.architecture) and not args.no_prepare:
        print(f"building {model.name!r}'s graphs (exported from the checkpoint, checked against torch) ...",
              file=sys.stderr, flush=True)
        print(describe(prepare_model(model.name, model.architecture)))
    elif model.architecture == "content_encoder" and any(needs_preparing(m.architecture) for m in store.list()):
        print("voice models installed before it build their graphs on their first run, "
              "or now: haysay models prepare")
    return EXIT_OK


def cmd_prepare(args) -> int:
    from haysay.graph_engine.models import ModelError
    from haysay.nodes.vc.prepare import describe, needs_preparing, prepare_model

    store = _store()
    try:
        models = [store.get(name) for name in args.name] if args.name else \
            [m for m in store.list() if needs_preparing(m.architecture)]
    except ModelError as exc:
        return _fail(exc)
    if not models:
        print("no RVC or so-vits models installed: nothing to prepare")
        return EXIT_OK
    results, failed = {}, 0
    for model in models:
        result = prepare_model(model.name, model.architecture, args.backend)
        results[model.name] = result
        failed += not result["prepared"]
        if not args.json:
            print(f"{model.name}: {describe(result)}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_list(args) -> int:
    from haysay.graph_engine.models import ModelError

    try:
        models = _store().list()
    except ModelError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps([{"name": m.name, "architecture": m.architecture, "version": m.version,
                           "size": m.size_bytes, "path": str(m.path)} for m in models], indent=2))
        return EXIT_OK
    if not models:
        print("no models installed (haysay models install ...)")
        return EXIT_OK
    rows = [(m.architecture, m.name, m.version or "-", human_size(m.size_bytes)) for m in models]
    widths = [max(len(r[i]) for r in rows + [("architecture", "name", "version", "")]) for i in range(3)]
    print("  ".join(h.ljust(w) for h, w in zip(("architecture", "name", "version"), widths)) + "  size")
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + f"  {r[3]}")
    print(f"{len(models)} model(s), {human_size(sum(m.size_bytes for m in models))} in total")
    return EXIT_OK


def cmd_info(args) -> int:
    from haysay.graph_engine.models import ModelError

    try:
        model = _store().get(args.name)
    except ModelError as exc:
        return _fail(exc)
    print(json.dumps({"path": str(model.path), **model.manifest}, indent=2))
    return EXIT_OK


def cmd_remove(args) -> int:
    from haysay.graph_engine.models import ModelError

    try:
        model = _store().remove(args.name)
    except (ModelError, OSError) as exc:
        return _fail(exc)
    print(f"removed {model.name!r} ({model.architecture}, {human_size(model.size_bytes)})")
    return EXIT_OK


def cmd_verify(args) -> int:
    from haysay.graph_engine.models import ModelError

    try:
        reports = _store().verify(args.name)
    except ModelError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps([{"name": r.name, "ok": r.ok, "missing": list(r.missing), "changed": list(r.changed)}
                          for r in reports], indent=2))
    else:
        for r in reports:
            state = "ok" if r.ok else "; ".join(filter(None, [
                f"missing {', '.join(r.missing)}" if r.missing else "",
                f"changed {', '.join(r.changed)}" if r.changed else ""]))
            print(f"{r.name}: {state}")
        if not reports:
            print("no models installed")
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def cmd_catalogue(args) -> int:
    from haysay.graph_engine.models import ModelError, load_catalogue

    source = args.source or os.environ.get(ENV_CATALOGUE) or DEFAULT_CATALOGUE
    store = _store()
    try:
        cat = load_catalogue(source, args.arch)
        installed = {m.name.casefold() for m in store.list()}
    except ModelError as exc:
        return _fail(exc)
    rows = [{"name": e.name, "architecture": e.architecture, "size": e.size, "files": len(e.files),
             "license": e.license, "installed": e.name.casefold() in installed, "depends_on": e.depends_on}
            for e in cat.entries]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{cat.origin}: {len(rows)} model(s)" + (f", architecture {cat.architecture}" if cat.architecture else ""))
    width = max([len(r["name"]) for r in rows] + [4])
    for r in rows:
        mark = "[installed]" if r["installed"] else ""
        extra = f"  needs {r['depends_on']}" if r["depends_on"] else ""
        print(f"  {r['name'].ljust(width)}  {human_size(r['size']):>12}  {r['license'] or '-':<12} {mark}{extra}")
    return EXIT_OK


def cmd_doctor(args) -> int:
    from haysay.graph_engine.doctor import format_report, run_doctor

    from haysay.nodes import UNAVAILABLE  # built-ins left out because their library is missing

    report = run_doctor(_store())
    adapters = _lifecycles()
    if args.json:
        print(json.dumps({**report.to_dict(), "nodes_left_out": UNAVAILABLE, "adapters": adapters}, indent=2))
    else:
        print(format_report(report))
        for module, why in UNAVAILABLE.items():
            print(f"left out: {module} ({why})")
        if adapters:
            print("\nadapters (upstream, versions, status, licence):")
            for a in adapters:
                print(f"  {a['type']}: {a['upstream']} {'/'.join(a['versions'])}, {a['status']}, {a['licence'] or '?'}"
                      + (f" ({a['note']})" if a["note"] else ""))
    return EXIT_OK


def _lifecycles() -> list[dict]:
    """Every registered node that declares a lifecycle (built-in adapters and plug-ins)."""
    from haysay.graph_engine.contract import default_registry

    return [{"type": s.type, **s.lifecycle.to_dict()} for s in default_registry() if s.lifecycle is not None]
