"""The artifact store on an S3 object store (a moto server on 127.0.0.1, reached through s3fs):
zarr's own event loop, publish-by-marker commits with no moves, crash leftovers, engine runs."""
import json
import logging
import os

import numpy as np
import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from haysay.graph_engine import Engine, Settings, parse_pipeline  # noqa: E402
from haysay.graph_engine import liveness  # noqa: E402
from haysay.graph_engine.store import CHUNK_FRAMES, MARKER, ArtifactMissing, ArtifactStore  # noqa: E402
from haysay.graph_engine.values import F0, Audio  # noqa: E402

KEY = "c3" * 32


def start_s3(bucket: str) -> tuple[object, dict[str, str]]:
    """A moto S3 server on a free loopback port with `bucket` made; returns (server, env for clients)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    forget_s3_clients()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    import boto3
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    return server, env


def forget_s3_clients() -> None:
    """fsspec keeps one S3FileSystem per set of arguments, and the endpoint comes from the environment:
    a server of an earlier test module must not be reached through a cached instance."""
    import s3fs
    from haysay.graph_engine import executor
    s3fs.S3FileSystem.clear_instance_cache()
    executor._STORES.clear()


@pytest.fixture(scope="module")
def s3_env():
    server, env = start_s3("haysay-s3-test")
    yield env
    server.stop()
    forget_s3_clients()


@pytest.fixture
def s3(s3_env, monkeypatch, request):
    for k, v in s3_env.items():
        monkeypatch.setenv(k, v)
    return f"s3://haysay-s3-test/{request.node.name.replace('[', '-').rstrip(']')}"


def _objects(store: ArtifactStore, prefix: str = "") -> list[str]:
    root = store.fs._strip_protocol(store.root).rstrip("/") + "/"
    return sorted(p[len(root):] for p in store.fs.find(store.root + ("/" + prefix if prefix else "")))


def test_round_trip_through_s3_publishes_a_generation_and_moves_nothing(s3):
    store = ArtifactStore(s3)
    assert not store.local and not store.moves
    rng = np.random.default_rng(3)
    audio = Audio(rng.uniform(-1, 1, (2, CHUNK_FRAMES + 77)).astype(np.float32), 24000)
    store.writer(KEY).commit({"audio": audio, "f0": F0([0.0, 0.01], [200.0, 0.0], [1.0, 0.0]), "t": "hi"},
                             {"node_id": "n"})
    marker = json.loads(store.fs.cat_file(store._object_path(KEY) + "/" + MARKER))
    gen = marker["dir"]
    names = _objects(store)
    # every data object lies inside the generation the marker names; tmp/ holds nothing (lease released)
    assert all(n.startswith(f"objects/{KEY[:2]}/{KEY}/{gen}/") or n.endswith(MARKER) for n in names), names
    assert not [n for n in names if n.startswith("tmp/")]
    assert set(marker["files"]) == {n.split(f"/{gen}/", 1)[1] for n in names if f"/{gen}/" in n}
    fresh = ArtifactStore(s3)  # another process's view: nothing cached
    assert fresh.verify(KEY) and fresh.keys() == [KEY]
    out = fresh.open(KEY)
    np.testing.assert_array_equal(out["audio"].numpy(), audio.numpy())
    assert out["t"] == "hi" and out["f0"].hz[0] == 200.0 and fresh.attrs(KEY)["node_id"] == "n"


def test_an_unpublished_generation_is_never_read_and_is_swept_once_its_writer_is_gone(s3):
    store = ArtifactStore(s3)
    w = store.writer(KEY)
    w.audio_sink("audio", 8000, 1).write(np.ones((1, CHUNK_FRAMES), np.float32))  # a chunk is stored
    assert _objects(store, "objects")  # data is there ...
    assert not store.exists(KEY) and not store.verify(KEY)  # ... but no marker: not an artifact
    with pytest.raises(ArtifactMissing):
        store.open(KEY)
    assert store.clean_tmp() == 0  # its writer is alive (fresh heartbeat): kept
    lease = w.lease_path
    info = json.loads(store.fs.cat_file(lease))
    info.update(pid=None, renewed=info["renewed"] - liveness.STALE_S - 1)  # a writer elsewhere that stopped
    liveness._HEARTBEAT.discard(w._lease)
    store.fs.pipe_file(lease, json.dumps(info).encode())
    assert store.clean_tmp() == 1
    assert _objects(store) == []


def test_replacing_publishes_the_new_generation_then_drops_the_old(s3):
    store = ArtifactStore(s3)
    store.writer(KEY).commit({"x": np.zeros(4)}, {})
    first = json.loads(store.fs.cat_file(store._object_path(KEY) + "/" + MARKER))["dir"]
    store.writer(KEY).commit({"x": np.ones(4)}, {}, replace=True)
    second = json.loads(store.fs.cat_file(store._object_path(KEY) + "/" + MARKER))["dir"]
    assert first != second
    assert {n.split("/")[3] for n in _objects(store, "objects") if not n.endswith(MARKER)} == {second}
    np.testing.assert_array_equal(ArtifactStore(s3).open(KEY)["x"], np.ones(4))
    # without replace, a second writer of a verified key keeps the first and leaves no trace
    store.writer(KEY).commit({"x": np.full(4, 7.0)}, {})
    np.testing.assert_array_equal(ArtifactStore(s3).open(KEY)["x"], np.ones(4))
    assert {n.split("/")[3] for n in _objects(store, "objects") if not n.endswith(MARKER)} == {second}


def test_a_damaged_object_fails_verification(s3):
    store = ArtifactStore(s3)
    store.writer(KEY).commit({"audio": Audio(np.linspace(-1, 1, 3000, dtype=np.float32)[None], 8000)}, {})
    gen = json.loads(store.fs.cat_file(store._object_path(KEY) + "/" + MARKER))["dir"]
    chunk = f"{store._object_path(KEY)}/{gen}/audio/c/0/0"
    data = store.fs.cat_file(chunk)
    store.fs.pipe_file(chunk, data[:-1] + bytes([data[-1] ^ 1]))
    assert not ArtifactStore(s3).verify(KEY)


def test_bad_storage_options_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HAYSAY_STORAGE_OPTIONS", "{not json")
    with pytest.raises(ValueError, match="HAYSAY_STORAGE_OPTIONS: not valid JSON"):
        ArtifactStore(tmp_path / "a")


def test_engine_runs_on_s3_and_a_rerun_is_fully_cached(s3, haysay_home):
    doc = parse_pipeline({
        "format": "haysay.pipeline/1", "name": "s3chain",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 440, "duration": 1.0}},
                  {"id": "gain", "type": "audio.gain", "params": {"gain_db": -6.0}}],
        "edges": [{"from": "tone.audio", "to": "gain.audio"}], "outputs": {"out": "gain.audio"}})
    with Engine(Settings.from_env(artifacts=s3), processes=False) as eng:
        first = eng.run(doc)
        assert first.ok, first.error
        assert set(first.computed) == {"tone", "gain"}
        peak = 20 * np.log10(np.max(np.abs(first.outputs["out"].numpy())))
    with Engine(Settings.from_env(artifacts=s3), processes=False) as eng:  # a new client: only the bucket is shared
        again = eng.run(doc)
        assert again.ok and set(again.cached) == {"tone", "gain"} and not again.computed
        assert 20 * np.log10(np.max(np.abs(again.outputs["out"].numpy()))) == pytest.approx(peak, abs=1e-6)
    assert peak == pytest.approx(-12.0 - 6.0, abs=0.1)  # gen.tone's default level, then -6 dB
