"""The CLI on hostile and oversized input: located errors and exit code 3, never a traceback;
warnings for inputs that run but are not what they claim."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def haysay(*args, home, env=None):
    env = {**os.environ, "HAYSAY_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "haysay", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_pathological_json_is_exit_3_with_a_located_error(haysay_home, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    proc = haysay("validate", str(deep), home=haysay_home)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "nests deeper than 64 levels (at line 1 column 65)" in proc.stderr
    digits = tmp_path / "digits.json"
    digits.write_text('{"format": "haysay.pipeline/1", "nodes": [{"id": "t", "type": "gen.tone", '
                      '"params": {"seed": ' + "7" * 4300 + "}}]}")
    proc = haysay("validate", str(digits), "--json", home=haysay_home)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    (e,) = json.loads(proc.stdout)
    assert e["code"] == "invalid_json" and "a number of 4300 characters at line 1" in e["message"]


def test_run_refuses_a_stage_over_the_worker_budget_and_warns_on_truncation(haysay_home, tmp_path):
    rate = 48000
    t = np.arange(20 * rate) / rate
    sf.write(str(tmp_path / "full.wav"), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate,
             subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes((tmp_path / "full.wav").read_bytes()[:44 + 2 * 12 * rate])
    doc = {"format": "haysay.pipeline/1",
           "nodes": [{"id": "l", "type": "audio.load", "params": {"path": str(cut)}},
                     {"id": "n", "type": "audio.loudness_normalize"}],
           "edges": [{"from": "l.audio", "to": "n.audio"}], "outputs": {"o": "n.audio"}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    refused = haysay("run", str(tmp_path / "p.json"), "--out", str(tmp_path / "o"), home=haysay_home,
                     env={"HAYSAY_WORKER_MEMORY_MB": "200"})
    assert refused.returncode == 3 and not (tmp_path / "o").exists()
    assert "n: audio.loudness_normalize holds its whole input in memory: it needs about 271 MB for audio 12 s x 1 ch @ 48000 Hz" in refused.stderr
    assert "but a worker has 200 MB" in refused.stderr
    ran = haysay("run", str(tmp_path / "p.json"), "--out", str(tmp_path / "o"), home=haysay_home)
    assert ran.returncode == 0, ran.stderr
    assert "warning: l: cut.wav is truncated: its header declares 20.00 s of audio, the file holds 12.00 s" \
        in ran.stderr
    assert sf.info(str(tmp_path / "o" / "o.wav")).duration == 12.0


def test_a_relative_save_path_lands_in_the_output_folder_not_the_working_folder(haysay_home, tmp_path):
    pipe = tmp_path / "save.json"
    pipe.write_text(json.dumps({
        "format": "haysay.pipeline/1",
        "nodes": [{"id": "tone", "type": "gen.tone", "params": {"duration": 0.25, "sample_rate": 16000}},
                  {"id": "keep", "type": "audio.save", "params": {"path": "stems/tone.wav"}}],
        "edges": [{"from": "tone.audio", "to": "keep.audio"}], "outputs": {"audio": "keep.audio"}}))
    out = tmp_path / "out"
    proc = haysay("run", str(pipe), "--out", str(out), "-q", home=haysay_home)
    assert proc.returncode == 0, proc.stderr
    written, _ = sf.read(str(out / "stems" / "tone.wav"))
    assert written.shape == (4000,) and np.abs(written).max() > 0.1
    assert not (ROOT / "stems").exists()  # the CLI runs in the repository root: nothing written there
    other = tmp_path / "elsewhere.wav"  # an absolute path is kept as given
    proc = haysay("run", str(pipe), "--out", str(out), "-q", "--set", f"keep.path={other}", home=haysay_home)
    assert proc.returncode == 0 and sf.info(str(other)).frames == 4000
