"""The editor's Jobs tab: the job queue of this HAYSAY_HOME, with cancel, resume and open-run.

Every action is one call on the studio's `JobRunner` (graph_engine.jobs); the
panel only lists, so the same queue can be driven from `haysay jobs` too.
When another process orchestrates, the list comes from its status snapshot
and the actions are hidden.
"""
from __future__ import annotations

from datetime import datetime

from nicegui import run as ng_run
from nicegui import ui

POLL_S = 0.5
STATE_COLORS = {"queued": "grey-7", "running": "info", "succeeded": "positive", "failed": "negative",
                "cancelled": "warning", "interrupted": "orange-9"}
CANCELLABLE = ("queued", "running", "interrupted")
RESUMABLE = ("interrupted", "failed", "cancelled")


def _clock(stamp: str | None) -> str:
    """"2025-01-02 13:14:15.678" -> "13:14:15" (times are UTC, as in the history)."""
    return str(stamp)[11:19] if stamp else ""


def _seconds(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    try:
        return f"{(datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds():.1f} s"
    except ValueError:
        return ""


def job_times(job: dict) -> str:
    """One line of when a job was submitted, started and ended, and how long it ran."""
    parts = [f"submitted {_clock(job.get('submitted_at'))}"]
    if job.get("started_at"):
        parts.append(f"started {_clock(job['started_at'])}")
    if job.get("ended_at") and job.get("state") != "queued":
        parts.append(f"ended {_clock(job['ended_at'])}")
    took = _seconds(job.get("started_at"), job.get("ended_at") if job.get("state") != "running" else None)
    return " · ".join(parts) + (f" · {took}" if took else "") + " UTC"


class JobsPanel:
    def __init__(self, page):
        self.page = page
        self.studio = page.studio
        self.seen: tuple | None = None
        self.seen_version = -1
        self.busy = False
        self.note = ui.label("").classes("text-sm text-orange-9").props('data-testid="jobs-note"')
        with ui.row().classes("items-center w-full gap-1 no-wrap"):
            ui.label("Queue the pipeline with the Queue button; jobs run in the background, in lanes.") \
                .classes("text-grey-7 text-sm grow min-w-0")
            ui.button(icon="refresh", on_click=lambda: self.poll(force=True)).props("flat dense round") \
                .tooltip("Refresh")
        self.box = ui.column().classes("w-full gap-1").props('data-testid="jobs"')
        page.tabs.on_value_change(lambda _: self.poll(force=True) if self.shown else None)
        ui.timer(POLL_S, self.poll)

    @property
    def owner(self) -> bool:
        return self.studio.jobs is not None

    @property
    def shown(self) -> bool:
        value = self.page.tabs.value
        return (value.props["name"] if isinstance(value, (ui.tab, ui.tab_panel)) else value) == "Jobs"

    async def poll(self, force: bool = False) -> None:
        # the list is read only when a job changed (owner) or on each tick (reading another's status)
        # a panel re-rendered while its tab slides away can stall the slide: only the shown tab renders
        if self.busy or not self.shown or (self.owner and not force and self.studio.jobs_version == self.seen_version):
            return
        self.busy = True
        try:
            version = self.studio.jobs_version
            jobs = await ng_run.io_bound(self.studio.list_jobs)
            self.seen_version = version
        except Exception as exc:  # e.g. the history file held by another process for a moment
            self.note.text = f"jobs unavailable: {exc}"
            return
        finally:
            self.busy = False
        self.note.text = self.studio.jobs_note
        shown = tuple((j["job_id"], j["state"], j.get("attempts"), j.get("error"), self.owner) for j in jobs)
        if force or shown != self.seen:
            self.seen = shown
            self.render(jobs)

    def render(self, jobs: list[dict]) -> None:
        self.box.clear()
        with self.box:
            if not jobs:
                ui.label("No jobs yet.").classes("text-grey-7")
            for job in jobs:
                self._row(job)

    def _row(self, job: dict) -> None:
        job_id, state = job["job_id"], job["state"]
        with ui.row().classes("items-start w-full gap-2 no-wrap hs-job").props(
                f'data-job-id="{job_id}" data-state="{state}"'):
            ui.badge(state, color=STATE_COLORS.get(state, "grey")).props('data-testid="job-state"')
            with ui.column().classes("gap-0 grow min-w-0"):
                label = job.get("name") or job.get("pipeline") or "(unnamed)"
                ui.label(f"{label} · {job.get('lane', '?')} lane · {job_id[:8]}").classes("text-sm font-medium")
                ui.label(job_times(job)).classes("text-xs text-grey-7")
                if job.get("attempts", 0) > 1:
                    ui.label(f"attempt {job['attempts']}").classes("text-xs text-grey-7")
                if job.get("error") and state != "succeeded":
                    ui.label(job["error"]).classes("text-xs text-negative")
            with ui.row().classes("gap-0 no-wrap shrink-0"):
                runs = job.get("run_ids") or []
                if runs:
                    ui.button(icon="open_in_browser", on_click=lambda r=runs[-1]: self.page.history.open_run(r)) \
                        .props('flat dense round data-testid="job-open"').tooltip("Open its run in the editor")
                if self.owner and state in CANCELLABLE:
                    ui.button(icon="stop", on_click=lambda: self.cancel(job_id)) \
                        .props('flat dense round color=negative data-testid="job-cancel"').tooltip("Cancel")
                if self.owner and state in RESUMABLE:
                    ui.button(icon="replay", on_click=lambda: self.resume(job_id)) \
                        .props('flat dense round data-testid="job-resume"') \
                        .tooltip("Resume: run again; finished stages are cache hits")

    async def cancel(self, job_id: str) -> None:
        await self._act("cancel", job_id)

    async def resume(self, job_id: str) -> None:
        await self._act("resume", job_id)

    async def _act(self, action: str, job_id: str) -> None:
        runner = self.studio.jobs
        if runner is None:
            ui.notify("Jobs are read-only here: another process orchestrates them", type="warning")
            return
        try:
            job = await ng_run.io_bound(getattr(runner, action), job_id)
        except (KeyError, ValueError) as exc:  # UnknownJob, BadTransition, InvalidPipeline, AdmissionRefused
            ui.notify(f"{action} {job_id[:8]}: {exc}", type="negative", position="bottom")
            return
        done = "cancel requested" if action == "cancel" and job.state == "running" else job.state
        ui.notify(f"job {job_id[:8]}: {done}")
        await self.poll(force=True)
