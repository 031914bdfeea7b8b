"""JobRunner: states, cancel, timeouts, retries, lanes, admission, resume (in-process cluster)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import pipe

import slow_nodes
from haysay.graph_engine import InvalidPipeline
from haysay.graph_engine.jobs import (AdmissionRefused, BadTransition, JobPolicy, JobRequest, OrchestratorBusy,
                                      JobRunner)
from haysay.graph_engine.jobs.model import STATES, TRANSITIONS, check_transition


def tone(duration=0.5, freq=440.0):
    return pipe([("t", "gen.tone", {"duration": duration, "frequency": freq, "sample_rate": 8000})], name="tone")


def sleeper(seconds, tag=""):
    return pipe([("s", "test.sleep", {"seconds": seconds, "tag": tag})], name="sleeper")


def wait_running(runner, job_id, node=None, timeout=30.0):
    runner.wait(job_id, timeout, states=("running",))
    return job_id


def test_lifecycle_table_allows_only_listed_transitions():
    for old in STATES:
        for new in STATES:
            if new in TRANSITIONS[old]:
                check_transition("j", old, new)
            else:
                with pytest.raises(BadTransition, match=f"cannot go from {old} to {new}"):
                    check_transition("j", old, new)


def test_job_succeeds_and_logs_every_state(make_runner):
    runner = make_runner()
    job_id = runner.submit(tone(0.75), name="hello")
    job = runner.wait(job_id, 60)
    assert job.state == "succeeded" and job.lane == "cpu" and job.attempts == 1
    events = runner.store.events(job_id)
    assert [(e.old_state, e.new_state) for e in events] == [(None, "queued"), ("queued", "running"), ("running", "succeeded")]
    assert events[0].at_time <= events[1].at_time <= events[2].at_time == job.ended_at
    run = runner.history.run(job.run_ids[0])
    assert run.job_id == job_id and run.status == "succeeded"
    key, port = job.outputs["audio"].split("/")
    audio = runner.engine.store.open(key)[port]
    assert audio.frames == 6000 and audio.sample_rate == 8000  # 0.75 s at 8 kHz


def test_invalid_pipeline_is_refused_at_submit(make_runner):
    runner = make_runner()
    with pytest.raises(InvalidPipeline) as err:
        runner.submit(pipe([("t", "gen.tone", {"duration": -1})]))
    assert err.value.errors[0].node == "t" and err.value.errors[0].field == "duration"
    assert runner.list() == []


def test_cancel_queued_job_never_starts(make_runner):
    runner = make_runner(lanes={"cpu": 1})
    first = wait_running(runner, runner.submit(sleeper(30, "a")))
    second = runner.submit(sleeper(30, "b"))
    assert runner.get(second).state == "queued"
    assert runner.cancel(second).state == "cancelled"
    runner.cancel(first)
    assert runner.wait(first, 30).state == "cancelled"
    time.sleep(0.5)  # a freed lane slot must not start the cancelled job
    job = runner.get(second)
    assert job.state == "cancelled" and job.started_at is None and job.run_ids == []
    assert runner.history.query("SELECT count(*) FROM runs WHERE job_id = ?", [second]).iloc[0, 0] == 0


def test_cancel_running_job_cancels_its_tasks(make_runner):
    runner = make_runner()
    job_id = wait_running(runner, runner.submit(sleeper(60)))
    runner.cancel(job_id)
    job = runner.wait(job_id, 30)
    assert job.state == "cancelled" and job.error == "cancelled by user"
    stages = runner.history.stages(job.run_ids[0])
    assert [s.status for s in stages] == ["cancelled"]
    assert runner.history.run(job.run_ids[0]).status == "cancelled"


def test_node_timeout_fails_the_job_with_the_reason(make_runner):
    runner = make_runner()
    policy = JobPolicy(node_timeouts={"test.sleep": 0.5})
    job = runner.wait(runner.submit(sleeper(60), policy=policy), 30)
    assert job.state == "failed"
    assert "node s (test.sleep) exceeded its timeout of 0.5 s" in job.error
    assert runner.history.run(job.run_ids[0]).status == "failed"


def test_deterministic_error_is_not_retried_unless_asked(make_runner):
    runner = make_runner()
    slow_nodes.CALLS["fail"] = 0
    job = runner.wait(runner.submit(pipe([("f", "test.fail", {"tag": "x"})])), 30)
    assert job.state == "failed" and "this node always fails" in job.error
    assert slow_nodes.CALLS["fail"] == 1
    slow_nodes.CALLS["fail"] = 0
    job = runner.wait(runner.submit(pipe([("f", "test.fail", {"tag": "y"})]), policy=JobPolicy(retries=2)), 30)
    assert job.state == "failed" and slow_nodes.CALLS["fail"] == 3


def test_worker_loss_retries_reach_the_scheduler(haysay_home, make_runner):
    runner = make_runner(worker_loss_retries=1)
    assert runner.allowed_failures() == 1


def _gpu_cluster(memory_limit: str):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=4, resources={"GPU": 1},
                           memory_limit=memory_limit, dashboard_address=":0")
    client = Client(cluster)
    yield client
    slow_nodes.STOP.set()
    client.close()
    cluster.close()


@pytest.fixture
def gpu_client():
    # An in-process worker measures this whole test process; a small limit would pause it once
    # earlier tests have loaded torch and voices, and then no task would ever start.
    yield from _gpu_cluster("64GiB")


@pytest.fixture
def small_gpu_client():
    """A worker offering 1 GiB, for admission checks (nothing runs on it)."""
    yield from _gpu_cluster("1GiB")


def test_cpu_job_runs_while_gpu_lane_is_busy(make_runner, gpu_client):
    runner = make_runner(gpu_client, lanes={"cpu": 1, "gpu": 1})
    gpu1 = wait_running(runner, runner.submit(pipe([("g", "test.gpu_sleep", {"seconds": 30, "tag": "1"})])))
    gpu2 = runner.submit(pipe([("g", "test.gpu_sleep", {"seconds": 30, "tag": "2"})]))
    cpu = runner.wait(runner.submit(tone(0.5, 300.0)), 30)
    assert runner.get(gpu1).lane == "gpu" and cpu.lane == "cpu"
    assert cpu.state == "succeeded"
    assert runner.get(gpu1).state == "running" and runner.get(gpu2).state == "queued"


def test_merged_lanes_make_the_cpu_job_wait(make_runner, gpu_client):
    runner = make_runner(gpu_client, lanes={"cpu": 1}, merge_lanes=True)
    gpu = wait_running(runner, runner.submit(pipe([("g", "test.gpu_sleep", {"seconds": 1.5, "tag": "m"})])))
    cpu = runner.wait(runner.submit(tone(0.5, 310.0)), 30)
    assert cpu.state == "succeeded"
    assert cpu.started_at >= runner.get(gpu).ended_at  # one FIFO: the short job waited for the long one


def test_admission_refuses_a_job_no_worker_can_hold(make_runner, small_gpu_client):
    runner = make_runner(small_gpu_client)
    assert runner.capacity().max_memory_mb == 1024
    with pytest.raises(AdmissionRefused, match=r"node b \(test.big\) needs about 4,096 MB.*offers 1024 MB"):
        runner.submit(pipe([("b", "test.big", {})]))
    assert runner.list() == []
    # the same request arriving through the spool (from `haysay submit`) ends failed, with the reason
    req = JobRequest(pipeline=pipe([("b", "test.big", {})]).to_dict())
    runner.spool.put_request(req)
    job = runner.wait(req.job_id, 10) if _appears(runner, req.job_id) else None
    assert job.state == "failed" and job.error.startswith("refused: job refused: node b (test.big)")


def test_admission_counts_the_need_planned_from_the_input_size(make_runner, small_gpu_client):
    # vc.world declares 320 B per input sample: 100 s at 48 kHz plans to ~2 GB, past the 1 GiB worker,
    # while 10 s (~660 MB) is admitted; the figure, not the node's flat memory_mb, decides
    long = pipe([("t", "gen.tone", {"duration": 100.0, "frequency": 220.0, "sample_rate": 48000}),
                 ("w", "vc.world", {})], edges=[("t", "w")])
    runner = make_runner(small_gpu_client)
    with pytest.raises(AdmissionRefused, match=r"node w \(vc.world\) needs about 1,[5-9]\d\d MB.*offers 1024 MB"):
        runner.submit(long)
    short = pipe([("t", "gen.tone", {"duration": 10.0, "frequency": 220.0, "sample_rate": 48000}),
                  ("w", "vc.world", {})], edges=[("t", "w")])
    assert runner._check(JobRequest(pipeline=short.to_dict())).memory_mb < 1024  # admitted


def _appears(runner, job_id, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            runner.get(job_id)
            return True
        except KeyError:
            time.sleep(0.05)
    return False


def test_resume_reuses_cached_stages_and_rejects_final_jobs(make_runner):
    runner = make_runner()
    doc = pipe([("t", "gen.tone", {"duration": 0.5, "sample_rate": 8000, "frequency": 500.0}),
                ("p", "test.slow_pass", {"seconds": 30})], edges=[("t", "p")])
    tone_key = runner.engine.keys(runner.engine.plan(doc))["t"]
    job_id = runner.submit(doc)
    deadline = time.time() + 30
    while not runner.engine.store.exists(tone_key):  # the first stage is done, the slow one runs
        assert time.time() < deadline
        time.sleep(0.05)
    runner.cancel(job_id)
    assert runner.wait(job_id, 30).state == "cancelled"
    slow_nodes.STOP.set()  # let the abandoned sleeping task end; the resumed one then runs at once
    time.sleep(0.1)
    slow_nodes.STOP.clear()
    job = runner.resume(job_id)
    assert job.state == "queued"
    with pytest.raises(BadTransition):
        runner.resume(job_id)
    slow_nodes.STOP.set()
    job = runner.wait(job_id, 60)
    assert job.state == "succeeded" and job.attempts == 2
    stages = {s.node_id: s for s in runner.history.stages(job.run_ids[1])}
    assert stages["t"].cache_hit and stages["t"].status == "cached"
    assert stages["p"].status in ("done", "cached")  # the abandoned attempt may have finished it meanwhile
    key, port = job.outputs["audio"].split("/")
    assert np.max(np.abs(runner.engine.store.open(key)[port].numpy())) == pytest.approx(0.5 * 10 ** (-12 / 20), rel=1e-3)
    with pytest.raises(BadTransition, match="succeeded"):
        runner.resume(job_id)


def test_only_one_orchestrator_per_home(make_runner):
    make_runner()
    with pytest.raises(OrchestratorBusy, match="another orchestrator"):
        JobRunner().start()


def test_restart_settles_jobs_whose_run_ended_and_resumes_the_rest(haysay_home, make_runner):
    """The orchestrator died after some runs ended but before their jobs did: a succeeded or failed
    run gives its job that outcome (no second run); a job whose run was cut short runs again by itself."""
    from haysay.graph_engine import Engine, Settings
    from haysay.graph_engine.jobs import JobStore
    from haysay.graph_engine.jobs.model import Needs
    engine = Engine(Settings.from_env())
    store = JobStore(engine.history)
    jobs = {}
    for name, doc in (("done", tone(0.25)), ("failed", pipe([("f", "test.fail", {"tag": "settle"})])),
                      ("cut", tone(0.25, 880.0))):
        req = JobRequest(pipeline=doc.to_dict(), name=name)
        store.add(req, Needs("cpu", 0))
        store.transition(req.job_id, "running")
        jobs[name] = req.job_id
        if name == "cut":  # its run was still going when the orchestrator died
            run_id = "c" * 32
            engine.history.start_run(run_id, doc.to_dict(), doc.content_hash(), job_id=req.job_id)
        else:
            run_id = engine.run(doc, job_id=req.job_id).run_id
        store.add_run(req.job_id, run_id)
    engine.close()

    runner = make_runner()
    assert set(runner.settled) == {jobs["done"], jobs["failed"]}
    assert runner.recovered == [jobs["cut"]] and runner.resumed == [jobs["cut"]]
    done = runner.get(jobs["done"])
    assert done.state == "succeeded" and done.attempts == 1
    assert "from history" in runner.store.events(jobs["done"])[-1].reason
    key, port = done.outputs["audio"].split("/")
    assert runner.engine.store.open(key)[port].frames == 2000
    failed = runner.get(jobs["failed"])
    assert failed.state == "failed" and failed.attempts == 1 and "this node always fails" in failed.error
    cut = runner.wait(jobs["cut"], 60)
    assert cut.state == "succeeded" and cut.attempts == 2
    assert runner.history.run("c" * 32).status == "interrupted"


def test_auto_resume_can_be_turned_off(haysay_home, make_runner, monkeypatch):
    first = make_runner()
    job_id = wait_running(first, first.submit(sleeper(30, "off")))
    first.stop()
    assert first.get(job_id).state == "interrupted"
    monkeypatch.setenv("HAYSAY_JOBS_AUTO_RESUME", "0")
    second = make_runner()
    assert second.resumed == [] and second.get(job_id).state == "interrupted"
    second.stop()
    monkeypatch.delenv("HAYSAY_JOBS_AUTO_RESUME")
    third = make_runner()  # a graceful stop counts as a restart too
    assert third.resumed == [job_id]
    third.wait(job_id, 30, states=("running",))
