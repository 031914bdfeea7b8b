"""`haysay sweep` on the shipped example: 6 settings of the WORLD conversion, scored by DNSMOS, ranked
and plotted in one command; bad grids refused before running; `haysay run` writes Metrics as JSON."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAY = "Hello there. How are you today?"

pytest.importorskip("speechmos")


def haysay(*args, home):
    env = {**os.environ, "HAYSAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "haysay", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_sweep_example_runs_ranks_and_plots_six_settings(haysay_home, tmp_path):
    out = tmp_path / "sweep"
    proc = haysay("sweep", "examples/sweep_pitch.json", "--grid", "convert.f0_shift=0,4,8",
                  "--grid", "convert.formant_shift=1.0,1.12", "--score", "q.OVRL", "-i", f"text={SAY}",
                  "--out", str(out), home=haysay_home)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert len(rows) == 6
    settings = {(float(r["convert.f0_shift"]), float(r["convert.formant_shift"])) for r in rows}
    assert settings == {(s, f) for s in (0, 4, 8) for f in (1.0, 1.12)}
    scores = [float(r["q.OVRL"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(1.0 <= s <= 5.0 for s in scores)  # OVRL: higher first
    assert len(set(scores)) > 1  # the settings change what DNSMOS hears
    # the speech is synthesized by the first point only; later points reuse it from the cache
    by_point = {int(r["point"]): r for r in rows}
    assert by_point[1]["computed"] == "5" and by_point[1]["cached"] == "0"
    assert all(by_point[i]["cached"] == "2" and by_point[i]["computed"] == "3" for i in range(2, 7))
    hist = json.loads(haysay("history", by_point[2]["run_id"], "--json", home=haysay_home).stdout)
    hits = {s["node_id"]: s["cache_hit"] for s in hist["stages"]}
    assert hits["tts"] is True and hits["convert"] is False and hits["q"] is False
    import soundfile as sf
    for r in rows:
        info = sf.info(r["voice.file"])
        assert info.duration > 1.0 and Path(r["voice.file"]).parent.name == f"point_{int(r['point']):02d}"
    md = (out / "sweep.md").read_text()
    assert "q.OVRL (higher is better)" in md and md.count("\n| ") == 7
    assert f"| 1 | {rows[0]['point']} |" in md
    from PIL import Image
    with Image.open(out / "sweep.png") as img:
        img.load()
        assert img.size == (1200, 400)
    assert "[6/6]" in proc.stderr and "2 cached" in proc.stderr


def test_bad_grid_exits_3_with_located_errors_before_running(haysay_home, tmp_path):
    proc = haysay("sweep", "examples/sweep_pitch.json", "--grid", "convert.f0_shift=0,99", "--grid", "convert.pitchh=1",
                  "--grid", "ghost.x=1", "--score", "loudness.lufs", "--out", str(tmp_path / "s"), home=haysay_home)
    assert proc.returncode == 3, proc.stderr
    assert "convert.f0_shift: grid value 99: must be between" in proc.stderr
    assert "convert.pitchh: vc.world has no param 'pitchh'" in proc.stderr
    assert "ghost.x: the grid names no node 'ghost'" in proc.stderr
    assert "loudness.lufs: loudness (audio.loudness_normalize) measures nothing" in proc.stderr
    assert not (tmp_path / "s").exists()
    assert json.loads(haysay("history", "--json", home=haysay_home).stdout) == []
    usage = haysay("sweep", "examples/sweep_pitch.json", "--grid", "convert.f0_shift", "--score", "q.OVRL",
                   home=haysay_home)
    assert usage.returncode == 2 and "node.param=v1,v2" in usage.stderr


def test_run_writes_a_metrics_output_as_json(haysay_home, tmp_path):
    doc = json.loads((ROOT / "examples/sweep_pitch.json").read_text())
    doc["outputs"]["quality"] = "q.metrics"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    proc = haysay("run", str(path), "-i", f"text={SAY}", "--out", str(tmp_path / "out"), home=haysay_home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert set(data["values"]) == {"sig", "bak", "ovrl", "p808"} and data["units"]["ovrl"] == "MOS"
    assert 1.0 <= data["values"]["ovrl"] <= 5.0 and '"ovrl"' in proc.stdout
