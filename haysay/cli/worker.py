"""`haysay worker` and `haysay cluster up`: the machines that run stages for `haysay run --scheduler`."""
from __future__ import annotations

import argparse
import os
import sys

from . import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run stages for a Dask scheduler (one per machine, or per GPU set)")
    p.add_argument("scheduler", nargs="?", default=os.environ.get("HAYSAY_SCHEDULER"),
                   help="scheduler address, e.g. tcp://10.0.0.1:8786 (default: $HAYSAY_SCHEDULER)")
    p.add_argument("--gpus", type=int, default=0, metavar="N",
                   help="GPUs this worker offers: sets the Dask resource GPU=N, so GPU stages land here")
    p.add_argument("--memory", metavar="SIZE",
                   help="warm-pool budget for loaded models, e.g. 6G (sets HAYSAY_WARM_POOL_BYTES)")
    p.add_argument("--memory-limit", default="auto", metavar="SIZE",
                   help="Dask's memory limit for the worker process (default: auto, the machine's)")
    p.add_argument("--nthreads", type=int, default=0, help="stage threads (default: the CPU count)")
    p.add_argument("--name", help="worker name shown in history and errors (default: host-pid)")
    p.add_argument("--host", help="address to listen on (default: the one that reaches the scheduler)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("cluster", help="a local multi-process cluster (`haysay cluster up`)")
    csub = p.add_subparsers(dest="cluster_command", metavar="ACTION")
    up = csub.add_parser("up", help="start a scheduler and workers on this machine; stop with Ctrl-C")
    up.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    up.add_argument("--gpus", type=int, default=0, metavar="N", help="GPU resource of each worker")
    up.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786)")
    up.add_argument("--host", default="127.0.0.1", help="scheduler host (default 127.0.0.1)")
    up.set_defaults(func=cmd_cluster_up)
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])


def _loaded_nodes() -> tuple[int, dict[str, str]]:
    """Load the node modules and plug-ins now, so a broken one is seen at start, not mid-run."""
    from haysay.graph_engine import default_registry
    import haysay.nodes as nodes
    reg = default_registry()
    return len(list(reg)), dict(getattr(nodes, "UNAVAILABLE", {}))


def cmd_worker(args) -> int:
    if not args.scheduler:
        print("error: give the scheduler address (haysay worker tcp://HOST:8786) or set HAYSAY_SCHEDULER",
              file=sys.stderr)
        return EXIT_USAGE
    if args.gpus < 0:
        print(f"error: --gpus must be 0 or more, got {args.gpus}", file=sys.stderr)
        return EXIT_USAGE
    if args.memory:
        from haysay.graph_engine.storage import parse_size
        try:
            os.environ["HAYSAY_WARM_POOL_BYTES"] = str(parse_size(args.memory, "--memory"))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    count, unavailable = _loaded_nodes()
    from haysay.graph_engine.cluster import haysay_version
    import socket
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    print(f"haysay worker {name}: haysay {haysay_version()}, {count} node types"
          + (f" ({len(unavailable)} left out: {', '.join(sorted(unavailable))})" if unavailable else "")
          + (f", GPU={args.gpus}" if args.gpus else ""), file=sys.stderr, flush=True)
    return _serve(args, name)


def _serve(args, name: str) -> int:
    import asyncio

    from distributed import Worker

    async def run() -> None:
        worker = Worker(args.scheduler, name=name, nthreads=args.nthreads or os.cpu_count() or 1,
                        resources={"GPU": args.gpus} if args.gpus else None, memory_limit=args.memory_limit,
                        host=args.host, port=args.port or None, dashboard=False)
        async with worker:
            print(f"haysay worker {name}: serving at {worker.address} for {args.scheduler}", file=sys.stderr,
                  flush=True)
            await worker.finished()

    asyncio.run(run())
    return EXIT_OK


def cmd_cluster_up(args) -> int:
    import time

    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=args.workers, processes=True, host=args.host, scheduler_port=args.port,
                           threads_per_worker=max(1, (os.cpu_count() or 2) // max(1, args.workers)),
                           resources={"GPU": args.gpus} if args.gpus else None, dashboard_address=":0")
    print(f"scheduler at {cluster.scheduler_address} with {args.workers} worker(s); "
          f"run with: haysay run PIPELINE --scheduler {cluster.scheduler_address}   (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
    return EXIT_OK
