"""Cancelling a run stops a long stage at its next progress report and leaves nothing half-written."""
import threading
import time

from haysay.graph_engine import Engine, Settings, parse_pipeline


def test_cancel_stops_a_running_stage(haysay_home):
    # 5.5 h of 96 kHz audio (under gen.tone's 8 GiB cap): minutes of work, reported block by block
    doc = parse_pipeline({"format": "haysay.pipeline/1",
                          "nodes": [{"id": "long", "type": "gen.tone",
                                     "params": {"duration": 20000, "sample_rate": 96000, "waveform": "silence"}}]})
    cancel = threading.Event()
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.node == "long" and ev.status == "running":
            cancel.set()

    with Engine(Settings.from_env()) as eng:
        result = eng.run(doc, on_event=on_event, cancel=cancel)
        assert result.status == "cancelled" and result.stages["long"].status == "cancelled"
        tmp = haysay_home / "artifacts" / "tmp"
        deadline = time.time() + 60
        while time.time() < deadline and tmp.exists() and any(tmp.iterdir()):
            time.sleep(0.2)
        assert not (tmp.exists() and any(tmp.iterdir())), "the cancelled stage kept writing"
        assert eng.store.keys() == []
        assert eng.history.run(result.run_id).status == "cancelled"
