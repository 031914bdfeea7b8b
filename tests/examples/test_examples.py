"""The shipped example pipelines run end to end (engine API and CLI) and sound like what they promise."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from haysay.graph_engine import Engine, Settings
from haysay.graph_engine.pipeline import load_pipeline
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.tts.espeak import synthesize_espeak

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    home = tmp_path_factory.mktemp("haysay-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HAYSAY_HOME", str(home))
        for var in ("HAYSAY_ARTIFACTS", "HAYSAY_SCHEDULER"):
            mp.delenv(var, raising=False)
        eng = Engine(Settings.from_env())
        yield eng
        eng.close()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Espeak speech with 1 s of silence before and 0.5 s after, as a wav file."""
    speech = synthesize_espeak("This is a recording that we want to turn into another voice.")
    rate = speech.sample_rate
    samples = np.concatenate([np.zeros(rate), speech.mono(), np.zeros(rate // 2)])
    path = tmp_path_factory.mktemp("input") / "recording.wav"
    soundfile.write(path, samples, rate)
    return path, speech


def level_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples ** 2)) + 1e-12))


def median_f0(samples: np.ndarray, rate: int) -> float:
    # praat: harvest slips octaves on the low Piper voice
    return extract_f0(samples, rate, "praat", fmin=40.0, fmax=800.0).voiced_median()


def test_tts_to_voice(engine):
    result = engine.run(load_pipeline(EXAMPLES / "tts_to_voice.json"), inputs={"text": "Good morning. The weather is lovely today."})
    assert result.ok, result.error
    voice = result.outputs["voice"]
    x = voice.mono()
    assert voice.sample_rate == 22050 and 1.8 < voice.duration < 6.0
    assert level_db(x) > -35
    # Piper's joe voice sits near 90 Hz; the example raises it by 5 semitones
    assert 100 < median_f0(x, voice.sample_rate) < 160
    assert -30 < pyloudnorm.Meter(voice.sample_rate).integrated_loudness(x.astype(np.float64)) <= -17.5


def test_convert_file_trims_and_shifts(engine, recording):
    path, speech = recording
    result = engine.run(load_pipeline(EXAMPLES / "convert_file.json"), inputs={"audio": str(path)})
    assert result.ok, result.error
    out = result.outputs["converted"]
    x = out.mono()
    assert out.sample_rate == speech.sample_rate
    # 1.5 s of silence is trimmed (0.05 s padding each side stays); the speech itself keeps its length
    assert out.duration == pytest.approx(speech.duration, abs=0.35)
    assert level_db(x) > -35
    ratio = median_f0(x, out.sample_rate) / median_f0(speech.mono(), speech.sample_rate)
    assert ratio == pytest.approx(2 ** (7 / 12), rel=0.1)


def test_compare_engines_gives_two_matching_branches(engine):
    result = engine.run(load_pipeline(EXAMPLES / "compare_engines.json"))
    assert result.ok, result.error
    world, praat = result.outputs["world"], result.outputs["praat"]
    assert world.sample_rate == praat.sample_rate == 22050
    assert world.duration == pytest.approx(praat.duration, abs=0.05) and 1.5 < world.duration < 6.0
    f_world, f_praat = median_f0(world.mono(), 22050), median_f0(praat.mono(), 22050)
    assert min(level_db(world.mono()), level_db(praat.mono())) > -35
    assert f_world == pytest.approx(f_praat, rel=0.1)  # both lowered by 4 semitones from the same voice
    assert f_world < 90


def test_cli_runs_an_example_to_files(tmp_path, recording):
    path, speech = recording
    env = {**os.environ, "HAYSAY_HOME": str(tmp_path / "home")}
    env.pop("HAYSAY_ARTIFACTS", None)
    env.pop("HAYSAY_SCHEDULER", None)
    out_dir = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "haysay", "run", str(EXAMPLES / "convert_file.json"),
                           "--input", f"audio={path}", "--input", "pitch_shift=-5", "--out", str(out_dir), "-q"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    samples, rate = soundfile.read(out_dir / "converted.wav")
    assert rate == speech.sample_rate
    assert len(samples) / rate == pytest.approx(speech.duration, abs=0.35)
    assert level_db(samples) > -35
    ratio = median_f0(samples, rate) / median_f0(speech.mono(), speech.sample_rate)
    assert ratio == pytest.approx(2 ** (-5 / 12), rel=0.1)
