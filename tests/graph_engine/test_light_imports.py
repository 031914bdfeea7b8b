"""The light path: registering node types, validating, describing and answering from the cache import
none of the heavy libraries (they load where a node first runs); local runs need no Dask scheduler.

Each check runs in a fresh interpreter and reads its `sys.modules` at the end, so a heavy import
anywhere on the path (a node module's top level, the CLI, the engine) is caught, whoever adds it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
# what validating or serving a cached result never needs: seconds of import between them
HEAVY = ("torch", "torchaudio", "scipy", "pyloudnorm", "pyworld", "parselmouth", "piper", "onnxruntime",
         "torchcrepe", "torchfcpe", "librosa", "sklearn", "faiss", "pedalboard", "dask", "distributed", "httpx",
         "matplotlib", "nicegui")
# ... and what describing a pipeline never needs either: the artifact store's array library
DESCRIBE_HEAVY = HEAVY + ("zarr",)
PROBE = """
import json, sys
from haysay.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:  # --help
    rc = exc.code or 0
heavy = %r
print("@@" + json.dumps({"rc": rc, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def cli_modules(*args: str, home: Path, heavy=HEAVY) -> tuple[int, list[str], str]:
    """Run `haysay ARGS` in a fresh interpreter: (exit code, heavy modules it imported, stdout)."""
    env = {**os.environ, "HAYSAY_HOME": str(home)}
    env.pop("HAYSAY_SCHEDULER", None)
    proc = subprocess.run([sys.executable, "-c", PROBE % (heavy,), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    assert line is not None, proc.stdout + proc.stderr
    got = json.loads(line[2:])
    return got["rc"], got["loaded"], proc.stdout + proc.stderr


def test_registry_and_schema_import_no_heavy_library(haysay_home):
    code = ("import json, sys\nfrom haysay.graph_engine import default_registry, pipeline_schema\n"
            "reg = default_registry()\n[s.describe() for s in reg]\npipeline_schema()\n"
            f"print(json.dumps([len(reg), sorted(m for m in {DESCRIBE_HEAVY!r} if m in sys.modules)]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    count, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert count >= 30  # the built-ins did register (voice adapters, TTS, analysis included)
    assert loaded == [], f"registering node types imported {loaded}"


@pytest.mark.parametrize("args", [["validate", "examples/tts_to_voice.json"], ["validate", "examples/hello.json"],
                                  ["nodes"], ["nodes", "vc.rvc"], ["schema"], ["history"], ["--help"]])
def test_describing_commands_stay_light(args, haysay_home):
    rc, loaded, out = cli_modules(*args, home=haysay_home, heavy=DESCRIBE_HEAVY)
    assert rc == 0, out
    assert loaded == [], f"`haysay {' '.join(args)}` imported {loaded}"


def test_a_local_run_needs_no_scheduler_and_a_cached_one_no_model_library(haysay_home, tmp_path):
    """hello.json computes without `distributed` (inline run); a pitch track by CREPE (torch) computes
    once, and the cached re-run answers from the store and history without importing torch."""
    rc, loaded, out = cli_modules("run", "examples/hello.json", "--out", str(tmp_path / "a"), "-q", home=haysay_home)
    assert rc == 0 and "4 computed" in out, out
    assert "distributed" not in loaded and "torch" not in loaded, loaded
    assert sf.info(str(tmp_path / "a" / "low.wav")).samplerate == 22050

    doc = {"format": "haysay.pipeline/1", "name": "track",
           "nodes": [{"id": "tone", "type": "gen.tone", "params": {"frequency": 220.0, "duration": 0.5}},
                     {"id": "f0", "type": "analysis.pitch", "params": {"method": "crepe", "crepe_model": "tiny"}}],
           "edges": [{"from": "tone.audio", "to": "f0.audio"}], "outputs": {"f0": "f0.f0", "tone": "tone.audio"}}
    path = tmp_path / "track.json"
    path.write_text(json.dumps(doc))
    rc, loaded, out = cli_modules("run", str(path), "--out", str(tmp_path / "b"), "-q", home=haysay_home)
    assert rc == 0 and "2 computed" in out, out
    assert "torch" in loaded  # the probe sees the model library when a stage does load it
    first = (tmp_path / "b" / "f0.txt").read_text()

    rc, loaded, out = cli_modules("run", str(path), "--out", str(tmp_path / "c"), "-q", home=haysay_home)
    assert rc == 0 and "0 computed, 2 cached" in out, out
    assert loaded == [], f"a fully cached run imported {loaded}"
    assert (tmp_path / "c" / "f0.txt").read_text() == first
    tone, rate = sf.read(tmp_path / "c" / "tone.wav")
    assert rate == 48000 and abs(np.sqrt(np.mean(tone ** 2)) * np.sqrt(2) - 10 ** (-12 / 20)) < 0.01
