"""A real multi-process cluster on loopback: a Dask scheduler and `haysay worker`s (one GPU-tagged),
each with its own HAYSAY_HOME and no shared folder; artifacts and models on a moto S3 server; a client
that installs a tiny RVC model (upstream layout) only in its own home."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from haysay.graph_engine import Engine, Settings, parse_pipeline  # noqa: E402
from haysay.graph_engine.audiofile import write_audio  # noqa: E402
from haysay.graph_engine.values import Audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "haysay-cluster-test"
NO_WORKER_TIMEOUT = 6.0


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


s3_helpers = _load(Path(__file__).with_name("test_s3_store.py"), "haysay_test_s3_helpers")
vc_helpers = _load(ROOT / "tests" / "nodes" / "vc" / "adapters" / "conftest.py", "haysay_test_vc_helpers")


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.procs = tmp, env, {}
        sched_file = tmp / "scheduler.json"
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sched_file)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "scheduler.log", "w"))
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]

    def worker(self, name: str, gpus: int = 0, prelude: str = "", hide: Path | None = None) -> Path:
        """Start `haysay worker` NAME; `prelude` runs first (e.g. to fake another version); `hide`: a
        folder this worker cannot see (a tmpfs over it in a mount namespace of its own)."""
        self.made = {**getattr(self, "made", {}), name: dict(gpus=gpus, prelude=prelude, hide=hide)}
        home = self.tmp / f"home-{name}"
        home.mkdir(exist_ok=True)
        code = prelude + "import sys; from haysay.cli import main; sys.exit(main(sys.argv[1:]))"
        cmd = [sys.executable, "-c", code, "worker", self.address, "--name", name, "--nthreads", "2",
               "--host", "127.0.0.1", *(["--gpus", str(gpus)] if gpus else [])]
        if hide is not None:
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f'mount -t tmpfs none "$0" && exec "$@"', str(hide), *cmd]
        self.procs[name] = subprocess.Popen(cmd, env={**self.env, "HAYSAY_HOME": str(home)}, cwd=home,
                                            stdout=subprocess.DEVNULL, stderr=open(self.tmp / f"{name}.log", "w"))
        return home

    def restart(self, name: str) -> Path:
        return self.worker(name, **self.made[name])

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)  # no goodbye to the scheduler: as a crashed machine
        proc.wait(timeout=30)

    def close(self) -> None:
        for proc in [*self.procs.values(), self.scheduler]:
            proc.kill()
            proc.wait(timeout=30)


def _wait_workers(client, names: set[str], timeout: float = 90.0) -> dict[str, str]:
    """{name: address} once exactly these workers are connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {str(w["name"]): a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        if set(found) == names:
            return found
        time.sleep(0.2)
    raise AssertionError(f"workers {sorted(names)} did not connect; connected: {sorted(found)}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    server, s3_env = s3_helpers.start_s3(BUCKET)
    env = {**os.environ, **s3_env, "HAYSAY_ARTIFACTS": f"s3://{BUCKET}/haysay", "PYTHONUNBUFFERED": "1"}
    env.pop("HAYSAY_MODELS", None)
    c = Cluster(tmp, env)
    # all started at once, so their start-up overlaps the client's: a CPU and a GPU-tagged worker; one
    # of another haysay version; where mount namespaces exist, one that cannot see the client's folders
    c.homes = {"w-cpu": c.worker("w-cpu"), "w-gpu": c.worker("w-gpu", gpus=1), "w-old": c.worker("w-old", prelude=(
        "import importlib.metadata as m; _v = m.version; m.version = lambda n: '0.0.1' if n == 'haysay' else _v(n); "))}
    c.hidden = tmp / "client-only"
    c.hidden.mkdir()
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0:
        c.homes["w-apart"] = c.worker("w-apart", hide=c.hidden)
    try:
        yield c
    finally:
        c.close()
        server.stop()
        s3_helpers.forget_s3_clients()


@pytest.fixture(scope="module")
def client_env(cluster, tmp_path_factory):
    """The client's own home with the tiny RVC voice and content encoder installed there alone."""
    home = tmp_path_factory.mktemp("client-home")
    saved = {k: os.environ.get(k) for k in ("HAYSAY_HOME", "HAYSAY_ARTIFACTS", "HAYSAY_NO_WORKER_TIMEOUT",
                                            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION")}
    os.environ.update({k: cluster.env[k] for k in saved if k in cluster.env})
    os.environ.update(HAYSAY_HOME=str(home), HAYSAY_NO_WORKER_TIMEOUT=str(NO_WORKER_TIMEOUT))
    import torch
    from haysay.graph_engine.models import ModelStore
    files = home / "files"
    files.mkdir()
    torch.manual_seed(3)
    encoder = vc_helpers.ContentEncoder(vc_helpers.HubertConfig(
        embed_dim=768, num_layers=12, num_heads=12, ff_dim=32, conv_layers=vc_helpers.TINY_CONV, pos_conv_kernel=8,
        pos_conv_groups=16, final_proj_dim=256)).eval()
    store = ModelStore(Settings.from_env())
    store.install(str(vc_helpers.save_fairseq_pickle(files / "hubert_base.pt", encoder)), name="hubert",
                  architecture="content_encoder")
    store.install(str(vc_helpers.save_rvc_checkpoint(files / "voice.pth", vc_helpers.tiny_rvc("v2", True), "v2")),
                  name="voice")
    rate = 16000
    t = np.arange(int(1.5 * rate)) / rate
    write_audio(files / "take.wav", Audio((0.4 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)[None], rate), "wav")
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def voice_doc(src: Path, out: Path, gain_db: float = -6.0, slow_seconds: float = 0.0, model: str = "voice"):
    nodes = [{"id": "load", "type": "audio.load", "params": {"path": str(src)}},
             {"id": "gain", "type": "audio.gain", "params": {"gain_db": gain_db}},
             {"id": "voice", "type": "vc.rvc", "params": {"model": model,  # the default encoder: fetched too
                                                          "f0_method": "pm"}},
             {"id": "save", "type": "audio.save", "params": {"path": str(out)}}]
    edges = [{"from": "load.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "voice.audio"},
             {"from": "voice.audio", "to": "save.audio"}]
    if slow_seconds:  # a long CPU stage before the adapter, to kill a worker while it runs
        nodes = [{"id": "tone", "type": "gen.tone", "params": {"frequency": 150, "duration": slow_seconds,
                                                               "sample_rate": 16000}},
                 {"id": "slow", "type": "audio.pitch_shift", "params": {"semitones": 2, "method": "world"}}] + nodes[1:]
        edges = [{"from": "tone.audio", "to": "slow.audio"}, {"from": "slow.audio", "to": "gain.audio"}] + edges[1:]
    return parse_pipeline({"format": "haysay.pipeline/1", "name": "cluster", "nodes": nodes, "edges": edges,
                           "outputs": {"out": "save.audio"}})


def slow_doc(seconds: float, gain_db: float):
    """A long CPU stage (WORLD pitch shift) and a short one after it; no adapter."""
    return parse_pipeline({
        "format": "haysay.pipeline/1", "name": "slow",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 150, "duration": seconds, "amplitude_db": -12.0,
                                                                "sample_rate": 16000}},
                  {"id": "slow", "type": "audio.pitch_shift", "params": {"semitones": 2, "method": "world"}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": gain_db}}],
        "edges": [{"from": "tone.audio", "to": "slow.audio"}, {"from": "slow.audio", "to": "gain.audio"}],
        "outputs": {"out": "gain.audio"}})


def _run_killing(eng, doc, kill) -> tuple[object, float]:
    """Run `doc`; once its slow stage runs, call kill(client, addresses running it). (result, seconds)."""
    running = threading.Event()
    result = {}

    def on_event(ev):
        if ev.node == "slow" and ev.status == "running":
            running.set()

    t0 = time.monotonic()
    th = threading.Thread(target=lambda: result.setdefault("r", eng.run(doc, on_event=on_event)), daemon=True)
    th.start()
    assert running.wait(120), "the slow stage never started"
    busy = [a for a, keys in eng.client.processing().items() if any(str(k).startswith("haysay-tone") for k in keys)]
    kill(busy)
    th.join(180)
    assert not th.is_alive(), "the run did not end"
    return result["r"], time.monotonic() - t0


def test_cluster_end_to_end(cluster, client_env, tmp_path):
    src = client_env / "files" / "take.wav"
    out = tmp_path / "client-out" / "converted.wav"
    eng = Engine(Settings.from_env(), scheduler=cluster.address)
    try:
        names = _wait_workers(eng.client, set(cluster.homes))
        # 1. runs: the adapter on the GPU-tagged worker, files read and written by the client; the
        # worker of another version is named and given nothing
        events = []
        first = eng.run(voice_doc(src, out), on_event=events.append)
        assert first.ok, first.error
        assert first.stages["voice"].worker == names["w-gpu"]
        assert first.stages["gain"].worker in names.values() and first.stages["gain"].worker != names["w-old"]
        assert first.stages["load"].worker.startswith("client on") and first.stages["save"].worker.startswith("client on")
        assert first.stages["voice"].info["worker_host"].startswith("w-gpu on ")
        warned = [e.message for e in events if e.status == "warning"]
        assert any(names["w-old"] in w and "haysay 0.0.1" in w for w in warned), warned
        assert out.is_file() and out.stat().st_size > 1000
        for home in cluster.homes.values():  # nothing written on a worker's disk but its fetched models
            assert not [p for p in home.rglob("*.wav")]
        for arch, name in (("rvc", "voice"), ("content_encoder", "hubert")):
            fetched = cluster.homes["w-gpu"] / "models" / arch / name / "manifest.json"
            assert fetched.is_file(), f"the GPU worker did not fetch the client's {arch} model"
        level = 20 * np.log10(np.max(np.abs(first.outputs["out"].numpy())) + 1e-12)
        assert -60 < level < 0  # audio came out of the voice

        # a stage that fails on a worker says which worker, and on which host
        broken = eng.run(voice_doc(src, out, model="no-such-voice"))
        assert broken.status == "failed" and "no-such-voice" in broken.stages["voice"].error
        assert f"on worker {names['w-gpu']} (w-gpu on " in broken.stages["voice"].error

        # 2. a re-run is fully cached (only the file write runs again, on the client)
        again = eng.run(voice_doc(src, out))
        assert again.ok and set(again.cached) == {"load", "gain", "voice"} and again.computed == ["save"]

        # 3. a killed worker's stage is retried on another; history keeps the retry
        killed = {}

        def kill_busy(busy):
            killed["name"] = name = next(n for n, a in names.items() if a in busy)
            cluster.kill(name)
        retried, _ = _run_killing(eng, slow_doc(6.0, -7.0), kill_busy)
        assert retried.ok, retried.error
        assert retried.stages["slow"].worker not in (names[killed["name"]], names["w-old"])
        assert retried.stages["slow"].info.get("retries", 0) >= 1
        redone = retried.outputs["out"]  # the whole signal, computed again from the start elsewhere
        assert redone.frames == pytest.approx(6 * 16000, abs=400) and np.all(np.isfinite(redone.numpy()))
        assert np.sqrt(np.mean(redone.numpy() ** 2)) > 0.01
        row = next(s for s in eng.history.stages(retried.run_id) if s.node_id == "slow")
        assert json.loads(row.info_json)["retries"] >= 1 and row.worker == retried.stages["slow"].worker
        cluster.homes[killed["name"]] = cluster.restart(killed["name"])  # as it was, for the next steps
        names = _wait_workers(eng.client, set(names))

        # 4. the only GPU worker dies after the adapter was queued: the run fails cleanly, in bounded time
        failed, seconds = _run_killing(eng, voice_doc(src, out, gain_db=-8.0, slow_seconds=4.0),
                                       lambda busy: cluster.kill("w-gpu"))
        assert failed.status == "failed" and "GPU" in failed.error and "voice" in failed.error, failed.error
        assert seconds < NO_WORKER_TIMEOUT + 60  # never a hang
        assert eng.history.run(failed.run_id).status == "failed"
        assert "GPU" in eng.history.run(failed.run_id).error
    finally:
        eng.close()


def test_workers_that_cannot_run_a_pipeline_refuse_it_before_the_run(cluster, client_env):
    """Left with a worker of another version and one that cannot see the client's local artifact folder
    (a mount namespace of its own: another machine's disk, as far as paths go), a run is refused before
    any stage, each worker named with the fix."""
    if "w-apart" not in cluster.homes:
        pytest.skip("no mount namespaces here (unshare -m)")
    eng = Engine(Settings.from_env(artifacts=str(cluster.hidden / "artifacts")), scheduler=cluster.address)
    try:
        for name in [n for n in cluster.procs if n not in ("w-old", "w-apart")]:
            cluster.kill(name)
        names = _wait_workers(eng.client, {"w-old", "w-apart"})
        res = eng.run(parse_pipeline({"format": "haysay.pipeline/1", "name": "t",
                                      "nodes": [{"id": "tone", "type": "gen.tone", "params": {}}],
                                      "outputs": {"out": "tone.audio"}}))
        assert res.status == "failed" and not res.computed
        assert res.error.startswith("no worker may run this pipeline")
        assert f"{names['w-apart']}" in res.error and "cannot see the artifact store" in res.error
        assert "s3://" in res.error and "HAYSAY_ARTIFACTS" in res.error
        assert f"{names['w-old']}" in res.error and "haysay 0.0.1" in res.error
        assert eng.history.run(res.run_id).status == "failed"
    finally:
        eng.close()
