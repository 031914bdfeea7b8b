"""Assemble and start the studio: one engine, one job orchestrator, the security layer, artifact routes and pages.

    from haysay.studio.app import StudioConfig, run_studio
    run_studio(StudioConfig(port=8080))
"""
from __future__ import annotations

import socket
import sys
import threading
import webbrowser
from pathlib import Path

from haysay.graph_engine import Engine, GraphError, InvalidPipeline, PipelineDoc, Settings

from .config import StudioConfig
from .runs import LiveRuns
from .security import RateLimiter
from .uploads import path_problems


class Studio:
    """What every page of one studio process shares: engine, config and limits."""

    def __init__(self, config: StudioConfig, engine: Engine | None = None):
        self.config = config
        self.settings = Settings.from_env(home=config.home)
        self.engine = engine or Engine(settings=self.settings)
        self.registry = self.engine.registry
        self.run_limiter = RateLimiter(config.runs_per_minute, 60.0)
        self.uploads_dir = self.settings.home / "uploads"
        self.outputs_dir = self.settings.home / "outputs"
        self.jobs = None  # the JobRunner this studio orchestrates with, once started
        self.jobs_note = ""  # why jobs are shown read-only, when another process orchestrates
        self.jobs_version = 0  # bumped on every job change, so pages re-read the list only then
        self.clipboard: dict | None = None  # nodes copied in any tab, as a pipeline document
        self.live_runs = LiveRuns()  # the newest runs, whose streaming stages' blocks the players fetch
        self._jobs_starting: threading.Thread | None = None

    # -- jobs --------------------------------------------------------------------------
    def start_jobs(self) -> None:
        """Become the orchestrator of this HAYSAY_HOME, or, when another process already is
        (e.g. `haysay jobs serve`), show its jobs read-only from its status snapshot."""
        from haysay.graph_engine.jobs import JobRunner, OrchestratorBusy, Spool

        self.engine.history  # noqa: B018 - made once here: threads that race to make it conflict in DuckDB
        spool = Spool(self.settings.home)
        holder = spool.holder()
        if holder is None:
            try:
                self.jobs = JobRunner(self.engine, on_change=self._job_changed).start()
                self.jobs_note = ""
                self.jobs_version += 1
                return
            except OrchestratorBusy:  # another process took it between the look and the start
                holder = spool.holder() or {}
            except Exception as exc:  # the editor still works without a queue; say why there is none
                self.jobs_note = f"The job queue could not start: {type(exc).__name__}: {exc}"
                return
        self.jobs_note = (f"Another orchestrator (pid {holder.get('pid', '?')}) runs the jobs of "
                          f"{self.settings.home}; shown read-only from its status, queued jobs are handed to it.")

    def start_jobs_soon(self, after: threading.Event | None = None, at_most_s: float = 10.0) -> None:
        """`start_jobs` in the background, once `after` is set (the first page answered) or
        `at_most_s` passed: the job queue starts the Dask cluster (seconds of CPU), and the first page
        must neither wait for it nor share the CPU with it. Meanwhile queued jobs wait in the spool."""
        self.jobs_note = "The job queue is starting; queued jobs run as soon as it is up."

        def start() -> None:
            if after is not None:
                after.wait(at_most_s)
            self.start_jobs()

        self._jobs_starting = threading.Thread(target=start, name="haysay-studio-jobs", daemon=True)
        self._jobs_starting.start()

    def _job_changed(self, job) -> None:
        self.jobs_version += 1

    def list_jobs(self, limit: int = 200) -> list[dict]:
        """Recent jobs as `Job.to_dict()` dicts, newest first."""
        from haysay.graph_engine.jobs import Spool

        if self.jobs is None and self.jobs_note.startswith("Another") and Spool(self.settings.home).holder() is None:
            self.start_jobs()  # the other orchestrator stopped: take over its queue
        if self.jobs is not None:
            return [j.to_dict() for j in self.jobs.list(limit=limit)]
        status = Spool(self.settings.home).read_status() or {}
        return list(status.get("jobs", []))[:limit]

    def submit_job(self, doc: PipelineDoc, inputs: dict | None = None) -> str:
        """Queue `doc` as a job; raises InvalidPipeline or AdmissionRefused, queueing nothing then."""
        errors = self.validate(doc, inputs)
        if errors:
            raise InvalidPipeline(errors)
        if self.jobs is not None:
            return self.jobs.submit(doc, inputs=inputs)
        from haysay.graph_engine.jobs import JobRequest, Spool

        request = JobRequest(pipeline=doc.to_dict(), inputs=dict(inputs or {}))
        Spool(self.settings.home).put_request(request)
        return request.job_id

    def close(self) -> None:
        if self._jobs_starting is not None:  # a queue half started would outlive the studio
            self._jobs_starting.join(timeout=120)
        if self.jobs is not None:
            self.jobs.stop(timeout=10.0)  # running jobs end `interrupted`, resumable next time
            self.jobs = None
        self.engine.close()

    @property
    def roots(self) -> list[Path]:
        """Folders a pipeline may read or write in server mode."""
        return [self.uploads_dir, self.outputs_dir, *self.config.extra_roots]

    def validate(self, doc: PipelineDoc, inputs: dict | None = None) -> list[GraphError]:
        """The engine's validation, plus the path rule of server mode."""
        errors = self.engine.validate(doc, inputs=inputs)
        if self.config.sandboxed:
            errors += path_problems(doc, self.registry, self.roots, inputs)
        return errors

    def cached_keys(self, doc: PipelineDoc, inputs: dict | None = None) -> dict[str, str]:
        """{node: cache_key} for the nodes whose outputs are in the store with the current params."""
        p = self.engine.plan(doc, inputs=inputs)
        if p.errors:
            return {}
        keys = self.engine.keys(p)
        return {nid: key for nid, key in keys.items() if nid in {n.id for n in doc.nodes}
                and p.spec(nid).cacheable and self.engine.store.exists(key)}


class FirstAnswer:
    """ASGI middleware that sets `event` once the server has sent its first whole HTTP answer."""

    def __init__(self, app, event: threading.Event):
        self.app, self.event = app, event

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.event.is_set():
            return await self.app(scope, receive, send)

        async def sending(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.event.set()

        return await self.app(scope, receive, sending)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build(config: StudioConfig) -> Studio:
    """Register middleware, routes and pages on NiceGUI's app (once per process)."""
    from nicegui import app

    from .artifact_routes import add_artifact_routes
    from .stream_routes import add_stream_routes
    from .pages import register_pages
    from nicegui import core

    from .security import HostPolicy, SecurityMiddleware, add_login_routes

    config.check()
    studio = Studio(config)
    app.add_middleware(SecurityMiddleware, config=config)
    core.sio.eio.cors_allowed_origins = HostPolicy(config).socketio_origins  # NiceGUI's default '*' echoes any Origin
    answered = threading.Event()
    app.add_middleware(FirstAnswer, event=answered)
    studio.login_limiter = add_login_routes(app, config)
    add_artifact_routes(app, studio.engine.store)
    add_stream_routes(app, studio.live_runs)
    register_pages(studio)
    # the page answers at once; the job queue (and its Dask cluster) starts beside it
    app.on_startup(lambda: studio.start_jobs_soon(after=answered))
    app.on_shutdown(studio.close)
    return studio


def run_studio(config: StudioConfig, open_browser: bool = True) -> None:
    """Start the studio and block until it stops."""
    from nicegui import ui

    config.check()
    if not config.port:
        config.port = free_port(config.host if config.host != "localhost" else "127.0.0.1")
    build(config)
    shown = f"[{config.host}]" if ":" in config.host else config.host
    url = f"{'https' if config.tls_cert else 'http'}://{shown}:{config.port}/"
    print(f"haysay studio: {url}" + ("  (password required)" if config.auth_required else ""), flush=True)
    if config.server_mode and not config.secret_configured:
        print("haysay studio: HAYSAY_STUDIO_SECRET is not set; sessions end when the studio restarts", file=sys.stderr)
    if open_browser:
        webbrowser.open(url)
    ui.run(host=config.host, port=config.port, title="haysay studio", show=False, reload=False,
           storage_secret=config.secret, show_welcome_message=False, favicon="🎙", uvicorn_logging_level="warning",
           # X-Forwarded-* are read by SecurityMiddleware, from --trusted-proxy peers only
           proxy_headers=False,
           **({"ssl_certfile": str(config.tls_cert), "ssl_keyfile": str(config.tls_key)} if config.tls_cert else {}))
