"""Compiling to Dask: linear chains become one task; branches stay apart; failures keep finished stages."""

from haysay.graph_engine import Engine, Settings, parse_pipeline, plan
from haysay.graph_engine.engine import fuse_chains


def doc(nodes, edges):
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": nodes, "edges": edges})


def test_linear_chain_fuses_and_fan_out_splits():
    d = doc([{"id": "src", "type": "gen.tone"}, {"id": "a", "type": "audio.gain"}, {"id": "b", "type": "audio.gain"},
             {"id": "c", "type": "audio.gain"}, {"id": "d", "type": "audio.gain"}],
            [{"from": "src.audio", "to": "a.audio"}, {"from": "a.audio", "to": "b.audio"},
             {"from": "a.audio", "to": "c.audio"}, {"from": "c.audio", "to": "d.audio"}])
    p = plan(d)
    assert fuse_chains(p, p.order()) == [["src", "a"], ["b"], ["c", "d"]]
    # a cached producer does not bind its consumers together
    assert fuse_chains(p, ["b", "c", "d"]) == [["b"], ["c", "d"]]


def test_mix_of_two_running_producers_starts_a_new_chain():
    d = doc([{"id": "x", "type": "gen.tone"}, {"id": "y", "type": "gen.tone"}, {"id": "m", "type": "audio.mix"}],
            [{"from": "x.audio", "to": "m.a"}, {"from": "y.audio", "to": "m.b"}])
    p = plan(d)
    assert fuse_chains(p, p.order()) == [["x"], ["y"], ["m"]]


def test_failure_mid_chain_keeps_earlier_stages(haysay_home):
    # silence has no loudness (validation cannot know the level): the third stage of one chain fails at run time
    d = doc([{"id": "t", "type": "gen.tone", "params": {"duration": 1.0, "waveform": "silence"}},
             {"id": "g", "type": "audio.gain", "params": {"gain_db": -3}},
             {"id": "loud", "type": "audio.loudness_normalize"}, {"id": "after", "type": "audio.gain"}],
            [{"from": "t.audio", "to": "g.audio"}, {"from": "g.audio", "to": "loud.audio"},
             {"from": "loud.audio", "to": "after.audio"}])
    p = plan(d)
    assert fuse_chains(p, p.order()) == [["t", "g", "loud", "after"]]
    with Engine(Settings.from_env()) as eng:
        result = eng.run(d)
        assert result.status == "failed"
        assert result.stages["loud"].status == "failed" and "silent" in result.stages["loud"].error
        assert result.stages["after"].status == "skipped" and "loud" in result.stages["after"].error
        assert result.stages["t"].status == result.stages["g"].status == "done"
        stages = {s.node_id: s.status for s in eng.history.stages(result.run_id)}
        assert stages == {"t": "done", "g": "done", "loud": "failed", "after": "skipped"}
        again = eng.run(d)
        assert set(again.cached) == {"t", "g"}


def test_a_retried_chain_skips_stages_already_stored(tmp_path):
    from haysay.graph_engine.executor import execute_chain
    from haysay.graph_engine.store import ArtifactStore

    root = str(tmp_path / "arts")
    work = [("t", "gen.tone", {"duration": 0.1}, {}, "a1" * 32),
            ("g", "audio.gain", {"gain_db": -6.0}, {"audio": ("a1" * 32, "audio")}, "b2" * 32)]
    first = execute_chain(root, "run1", work, True)
    created = ArtifactStore(root).attrs("b2" * 32)["created"]
    again = execute_chain(root, "run2", work, True)  # as after a lost worker: both already stored
    assert [r["info"] for r in first] == [{}, {}] and [r["info"] for r in again] == [{"reused": True}] * 2
    assert ArtifactStore(root).attrs("b2" * 32)["created"] == created
    forced = execute_chain(root, "run3", work, False)  # --no-cache
    assert forced[1]["info"] == {} and ArtifactStore(root).attrs("b2" * 32)["created"] > created
