"""The client's side of a run on other machines, without starting any: which stages run at home,
what a worker's facts are refused for, the worker check on an in-process cluster."""
import pytest
from distributed import Client, LocalCluster

from haysay.graph_engine import default_registry, parse_pipeline, plan
from haysay.graph_engine.cluster import ClusterError, RemoteRun, _mismatch, check_workers, haysay_version
from haysay.graph_engine.config import is_remote, storage_options


def _plan(nodes, edges, outputs):
    doc = parse_pipeline({"format": "haysay.pipeline/1", "name": "t", "nodes": nodes, "edges": edges,
                          "outputs": outputs})
    p = plan(doc, default_registry())
    assert not p.errors, p.errors
    return p


def test_files_are_read_first_and_written_last_on_the_client(tmp_path):
    src = tmp_path / "in.wav"
    from haysay.graph_engine.audiofile import write_audio
    from haysay.graph_engine.values import Audio
    import numpy as np
    write_audio(src, Audio(np.zeros((1, 800), np.float32), 8000), "wav")
    p = _plan([{"id": "load", "type": "audio.load", "params": {"path": str(src)}},
               {"id": "gain", "type": "audio.gain", "params": {}},
               {"id": "mid", "type": "audio.save", "params": {"path": str(tmp_path / "mid.wav")}},
               {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 16000}},
               {"id": "end", "type": "audio.save", "params": {"path": str(tmp_path / "end.wav")}}],
              [{"from": "load.audio", "to": "gain.audio"}, {"from": "gain.audio", "to": "mid.audio"},
               {"from": "mid.audio", "to": "rs.audio"}, {"from": "rs.audio", "to": "end.audio"}],
              {"out": "end.audio"})
    first, cluster, last = RemoteRun.split_home(None, p, p.order())
    # a save with a consumer sits between two cluster stages: it stays on the cluster
    assert first == ["load"] and last == ["end"] and cluster == ["gain", "mid", "rs"]


MINE = object()  # stands for this client's haysay version


@pytest.mark.parametrize("facts, expected", [
    ({"haysay": "0.0.1", "nodes": {"audio.gain": 1}}, "runs haysay 0.0.1, this client"),
    ({"haysay": MINE, "nodes": {}}, "has no node type audio.gain (a plug-in installed only here?)"),
    ({"haysay": MINE, "nodes": {"audio.gain": 2}}, "its node versions differ: audio.gain v2 there, v1 here"),
])
def test_a_worker_is_refused_for_each_difference(facts, expected):
    facts = {**facts, "haysay": haysay_version() if facts["haysay"] is MINE else facts["haysay"]}
    assert expected in _mismatch(haysay_version(), {"audio.gain": 1}, facts)


def test_a_matching_worker_passes():
    assert _mismatch(haysay_version(), {"audio.gain": 1}, {"haysay": haysay_version(),
                                                           "nodes": {"audio.gain": 1, "other": 3}}) is None


def test_urls_and_storage_options(monkeypatch):
    assert is_remote("s3://b/x") and is_remote("gs://b") and not is_remote("/tmp/x") and not is_remote("file:///tmp")
    monkeypatch.setenv("HAYSAY_STORAGE_OPTIONS", '{"anon": true}')
    assert storage_options("s3://b/x") == {"anon": True, "use_listings_cache": False}
    assert storage_options("/tmp/x") == {"anon": True}
    monkeypatch.setenv("HAYSAY_STORAGE_OPTIONS", "[1]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        storage_options("s3://b")


def test_worker_check_on_an_in_process_cluster(tmp_path):
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0",
                      resources={"GPU": 1}) as cluster, Client(cluster) as client:
        check = check_workers(client, str(tmp_path / "arts"), ["audio.gain", "gen.tone"])
        (addr,) = check.eligible
        assert check.gpu_workers == [addr] and not check.refused and "on " in check.hosts[addr]
        assert not list((tmp_path / "arts" / "probe").iterdir())  # the probe is removed again
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        with pytest.raises(ClusterError, match="no workers connected; start some with `haysay worker"):
            check_workers(client, str(tmp_path / "arts"), ["audio.gain"])
