"""The studio's job queue: owning the orchestrator or reading another's status, and the Jobs tab in a browser."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from haysay.graph_engine import History, InvalidPipeline, Settings, parse_pipeline
from haysay.graph_engine.jobs import JobStore, Spool
from haysay.graph_engine.store import ArtifactStore
from haysay.studio.app import Studio
from haysay.studio.config import StudioConfig

from .conftest import CHROMIUM
from .test_studio_browser import _import, _select, _set_field, _shot, browser_page  # noqa: F401 (a fixture)


def tone_doc(duration: float, name: str = "tone job", rate: int = 8000, waveform: str = "sine") -> dict:
    return {"format": "haysay.pipeline/1", "name": name,
            "nodes": [{"id": "tone", "type": "gen.tone",
                       "params": {"duration": duration, "sample_rate": rate, "waveform": waveform}}],
            "edges": [], "outputs": {"audio": "tone.audio"}}


# Six hours of silence at 96 kHz (under the 8 GiB cap on generated signals): a minute or more of work, so it is surely still running when cancelled;
# silence keeps what the abandoned task goes on writing small.
SLOW = tone_doc(21600.0, "slow job", rate=96000, waveform="silence")


def test_read_only_while_another_process_orchestrates_then_takes_over(haysay_home):
    other = Spool(haysay_home)
    other.lock()
    listed = [{"job_id": "ab" * 16, "name": None, "pipeline": "elsewhere", "lane": "cpu", "state": "running",
               "submitted_at": "2025-01-01 10:00:00.000", "run_ids": [], "attempts": 1}]
    other.publish_status(listed)
    studio = Studio(StudioConfig(home=haysay_home))
    try:
        studio.start_jobs()
        assert studio.jobs is None
        assert f"pid {os.getpid()}" in studio.jobs_note and "read-only" in studio.jobs_note
        assert studio.list_jobs() == listed

        with pytest.raises(InvalidPipeline) as err:
            studio.submit_job(parse_pipeline(tone_doc(-1.0)))
        assert any(e.node == "tone" and e.field == "duration" for e in err.value.errors)
        job_id = studio.submit_job(parse_pipeline(tone_doc(0.25)))
        assert [r.job_id for _, r, _ in other.pending()] == [job_id]  # handed to the other orchestrator

        other.unlock()  # it stopped: the studio takes the queue over, spooled request included
        studio.list_jobs()
        assert studio.jobs is not None and studio.jobs_note == ""
        for _ in range(300):  # its dispatcher ingests the spool within a poll or two
            if job_id in [j["job_id"] for j in studio.list_jobs()]:
                break
            time.sleep(0.1)
        job = studio.jobs.wait(job_id, timeout=60)
        assert job.state == "succeeded" and job.lane == "cpu"
        key, port = job.outputs["audio"].split("/")
        audio = ArtifactStore(Settings.from_env(home=haysay_home).artifacts).open(key)[port]
        assert audio.frames == 2000 and audio.sample_rate == 8000
    finally:
        studio.close()
        other.unlock()
    assert Spool(haysay_home).holder() is None  # closing the studio released the orchestrator lock


def _job_row(page, state: str, name: str):
    row = page.locator(f'[data-testid="jobs"] [data-job-id][data-state="{state}"]', has_text=name)
    row.wait_for(timeout=60_000)
    return row


@pytest.mark.browser
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium")
def test_queue_cancel_succeed_open_and_resume_from_the_jobs_tab(start_studio, browser_page, haysay_home):
    page, page_errors = browser_page
    studio = start_studio()
    page.goto(studio.url + "/")
    page.wait_for_selector(".vue-flow")
    page.click('[data-testid="tab-jobs"]')
    page.locator('[data-testid="jobs"]', has_text="No jobs yet.").wait_for()
    _import(page, SLOW)

    page.click('[data-testid="queue"]')
    page.wait_for_selector('[data-testid="tab-jobs"][aria-selected="true"]')
    slow = _job_row(page, "running", "slow job")
    assert "cpu lane" in slow.inner_text() and "started" in slow.inner_text()
    slow_id = slow.get_attribute("data-job-id")
    page.wait_for_timeout(500)  # let the tab finish sliding in for the screenshot
    _shot(page, "jobs-1-running")
    slow.locator('[data-testid="job-cancel"]').click()
    slow = _job_row(page, "cancelled", "slow job")
    assert "cancelled by user" in slow.inner_text()

    # the same graph, made short, succeeds; its run opens in the editor with playable stages
    _select(page, "tone")
    _set_field(page, "duration", 0.5)
    page.wait_for_timeout(300)
    page.click('[data-testid="queue"]')
    done = page.locator(f'[data-testid="jobs"] [data-state="succeeded"]:not([data-job-id="{slow_id}"])')
    done.wait_for(timeout=60_000)
    done_id = done.get_attribute("data-job-id")
    done.locator('[data-testid="job-open"]').click()
    page.wait_for_selector('[data-node-id="tone"][data-status="done"]')
    assert "opened run" in page.locator('[data-testid="run-status"]').inner_text()
    _shot(page, "jobs-2-cancelled-and-succeeded")

    # resuming the cancelled job queues it again: a second attempt runs
    page.locator(f'[data-job-id="{slow_id}"] [data-testid="job-resume"]').click()
    again = page.locator(f'[data-job-id="{slow_id}"][data-state="running"]', has_text="attempt 2")
    again.wait_for(timeout=60_000)
    assert page_errors == []

    # stopping the studio stops its orchestrator: the running attempt is left resumable
    studio.proc.terminate()
    store = JobStore(History(Settings.from_env(home=haysay_home).history_path))
    for _ in range(300):
        if store.get(slow_id).state != "running":
            break
        time.sleep(0.1)
    assert store.get(slow_id).state == "interrupted" and store.get(slow_id).attempts == 2
    studio.proc.kill()  # the abandoned tone task (Dask cannot stop a thread) would hold the exit until it ends
    short = store.get(done_id)
    assert short.state == "succeeded" and short.request.pipeline["nodes"][0]["params"]["duration"] == 0.5
    key, port = short.outputs["audio"].split("/")
    samples = ArtifactStore(Settings.from_env(home=haysay_home).artifacts).open(key)[port].numpy()
    assert samples.shape == (1, 48000) and not samples.any()  # half a second of silence at 96 kHz
