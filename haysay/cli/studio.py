"""`haysay studio`: start the browser node editor."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studio", help="start the browser node editor (NiceGUI)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else needs --password)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--password", help="access password (or HAYSAY_STUDIO_PASSWORD); required off loopback")
    p.add_argument("--max-upload-mb", type=float, help="largest accepted upload (default 200 MiB)")
    p.add_argument("--allow-root", action="append", default=[], metavar="DIR",
                   help="in server mode, a folder pipelines may read/write besides HAYSAY_HOME/uploads and /outputs")
    p.add_argument("--allow-url-installs", action="store_true",
                   help="in server mode, allow installing models from URLs")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME[:PORT]",
                   help="a host name the studio is reached by besides loopback and --host (e.g. behind a proxy)")
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="IP/CIDR",
                   help="a reverse proxy whose X-Forwarded-For/-Proto are believed (default: none)")
    p.add_argument("--rate-limit", type=int, metavar="N",
                   help="requests per minute per client, static files aside (default 600)")
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM; needs --tls-key)")
    p.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    p.add_argument("--catalogue", action="append", default=[], metavar="FILE_OR_URL",
                   help="a model catalogue (haysay's or Hay Say's character_models.json) for the Models page's "
                        "Browse tab; repeatable; HAYSAY_HOME/catalogues/*.json are browsed too")
    p.set_defaults(func=cmd_studio)


def cmd_studio(args) -> int:
    from haysay.studio.app import run_studio
    from haysay.studio.config import MiB, StudioConfig, StudioConfigError

    try:
        config = StudioConfig.from_env(
            host=args.host, port=args.port, password=args.password,
            max_upload_bytes=int(args.max_upload_mb * MiB) if args.max_upload_mb else None,
            allow_url_installs=True if args.allow_url_installs else None,
            extra_roots=[Path(r).expanduser().resolve() for r in args.allow_root] or None,
            allowed_hosts=args.allowed_host or None, trusted_proxies=args.trusted_proxy or None,
            requests_per_minute=args.rate_limit,
            tls_cert=Path(args.tls_cert).expanduser() if args.tls_cert else None,
            tls_key=Path(args.tls_key).expanduser() if args.tls_key else None)
        config.check()
    except StudioConfigError as exc:
        print(f"haysay studio: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.catalogue:  # read by the Models page (studio.pages.catalogue_view)
        import os

        os.environ["HAYSAY_STUDIO_CATALOGUES"] = os.pathsep.join(args.catalogue)
    run_studio(config, open_browser=not args.no_browser)
    return EXIT_OK
