"""The headless CLI: run, validate, nodes, schema, history, exit codes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def haysay(*args, home, cwd=None):
    env = {**os.environ, "HAYSAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "haysay", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=300)


def test_run_hello_writes_outputs_and_records_history(haysay_home, tmp_path):
    out = tmp_path / "out"
    proc = haysay("run", "examples/hello.json", "--out", str(out), "--set", "quiet.gain_db=-3", "-i", "pitch=110",
                  home=haysay_home)
    assert proc.returncode == 0, proc.stderr
    low, info = sf.read(out / "low.wav"), sf.info(str(out / "low.wav"))
    assert info.samplerate == 22050 and info.duration == pytest.approx(2.0, abs=0.01)
    assert (out / "high.wav").exists() and "run " in proc.stdout
    run_id = proc.stdout.split("run ", 1)[1].split(":", 1)[0]
    hist = haysay("history", run_id, "--json", home=haysay_home)
    data = json.loads(hist.stdout)
    assert data["run"]["status"] == "succeeded" and json.loads(data["run"]["overrides_json"]) == [["quiet", "gain_db", -3]]
    assert {s["node_id"] for s in data["stages"]} == {"low", "high", "quiet", "resample"}
    again = haysay("run", "examples/hello.json", "--out", str(out), "--set", "quiet.gain_db=-3", "-i", "pitch=110",
                   home=haysay_home)
    assert "0 computed, 4 cached" in again.stdout
    listing = haysay("history", home=haysay_home)
    assert listing.stdout.count("hello") == 2


def test_validate_lists_all_errors_and_exits_3(haysay_home, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "haysay.pipeline/1", "nodes": [
        {"id": "g", "type": "audio.gain", "params": {"gain_db": 400}}, {"id": "x", "type": "nope"}]}))
    proc = haysay("validate", str(bad), home=haysay_home)
    assert proc.returncode == 3
    assert "g.gain_db: must be between -96.0 and 48.0 dB, got 400" in proc.stderr
    assert "x.type: unknown node type 'nope'" in proc.stderr and "g.audio: required input" in proc.stderr
    as_json = haysay("validate", str(bad), "--json", home=haysay_home)
    assert {e["code"] for e in json.loads(as_json.stdout)} == {"invalid_param", "unknown_node_type", "unconnected_input"}
    ok = haysay("validate", "examples/hello.json", home=haysay_home)
    assert ok.returncode == 0 and "is valid" in ok.stdout


def test_run_exit_codes(haysay_home, tmp_path):
    garbage = tmp_path / "g.json"
    garbage.write_text("{oops")
    assert haysay("run", str(garbage), home=haysay_home).returncode == 3
    corrupt = tmp_path / "c.wav"
    corrupt.write_bytes(b"RIFF....WAVEjunk")
    doc = {"format": "haysay.pipeline/1", "nodes": [{"id": "l", "type": "audio.load", "params": {"path": str(corrupt)}}],
           "outputs": {"o": "l.audio"}}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    failed = haysay("run", str(tmp_path / "c.json"), "--out", str(tmp_path / "o"), home=haysay_home)
    assert failed.returncode == 1 and "l (audio.load) failed" in failed.stderr
    assert haysay("run", "examples/hello.json", "--set", "nonsense", home=haysay_home).returncode == 2


def test_nodes_and_schema(haysay_home):
    nodes = json.loads(haysay("nodes", "--json", home=haysay_home).stdout)
    gain = next(n for n in nodes if n["type"] == "audio.gain")
    assert gain["params_schema"]["properties"]["gain_db"]["unit"] == "dB"
    text = haysay("nodes", "audio.gain", home=haysay_home).stdout
    assert "gain_db: default 0.0, range -96.0..48.0 dB" in text
    schema = json.loads(haysay("schema", home=haysay_home).stdout)
    assert schema["properties"]["format"]["const"] == "haysay.pipeline/1"


def test_output_format_and_bit_depth(haysay_home, tmp_path):
    out = tmp_path / "out"
    proc = haysay("run", "examples/hello.json", "--out", str(out), "--format", "flac", "--depth", "16", "-q",
                  home=haysay_home)
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(out / "low.flac"))
    assert info.format == "FLAC" and info.subtype == "PCM_16" and info.samplerate == 22050
    proc = haysay("run", "examples/hello.json", "--out", str(out), "--depth", "float", "-q", home=haysay_home)
    assert sf.info(str(out / "high.wav")).subtype == "FLOAT"
    bad = haysay("run", "examples/hello.json", "--format", "flac", "--depth", "float", home=haysay_home)
    assert bad.returncode == 2 and "cannot be written as flac" in bad.stderr
