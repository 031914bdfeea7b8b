"""examples/styletts2_to_rvc.json: validate names the missing models; with a StyleTTS 2 model and an RVC
model (with its HuBERT) installed, the cross-architecture chain runs from the pipeline file."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from haysay.graph_engine import Engine, Settings, load_pipeline
from haysay.graph_engine.audiofile import write_audio

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "styletts2_to_rvc.json"


def _vc_helpers():
    """The adapter suite's tiny RVC / HuBERT writers (upstream layouts), loaded by path."""
    path = ROOT / "tests" / "nodes" / "vc" / "adapters" / "conftest.py"
    spec = importlib.util.spec_from_file_location("haysay_test_vc_helpers_st2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validate_names_the_missing_models(haysay_home, voices, tmp_path):
    ref = tmp_path / "ref.wav"
    write_audio(ref, voices["low"], "wav")
    proc = subprocess.run([sys.executable, "-c", "import sys; from haysay.cli import main; sys.exit(main(sys.argv[1:]))", "validate", str(EXAMPLE), "-i", f"reference={ref}",
                           "-i", "voice_model=alto"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr  # the problems go to stderr
    assert "speak.model: 'libritts' is not a file, and no model named 'libritts' is installed" in out
    assert "convert.model: 'alto' is not a file, and no model named 'alto' is installed for rvc" in out


def test_the_chain_runs_once_its_models_are_installed(haysay_home, libritts_model, voices, tmp_path):
    from haysay.graph_engine.models import ModelStore

    vc = _vc_helpers()
    store = ModelStore.from_env()
    store.install(str(libritts_model.parent.parent), name="libritts")
    torch.manual_seed(3)
    encoder = vc.ContentEncoder(vc.HubertConfig(
        embed_dim=768, num_layers=12, num_heads=12, ff_dim=32, conv_layers=vc.TINY_CONV, pos_conv_kernel=8,
        pos_conv_groups=16, final_proj_dim=256)).eval()
    store.install(str(vc.save_fairseq_pickle(tmp_path / "hubert_base.pt", encoder)), name="hubert",
                  architecture="content_encoder")
    store.install(str(vc.save_rvc_checkpoint(tmp_path / "alto.pth", vc.tiny_rvc("v2", True), "v2")), name="alto")
    ref = tmp_path / "ref.wav"
    write_audio(ref, voices["low"], "wav")

    doc = load_pipeline(EXAMPLE)
    doc.node("convert").params["f0_method"] = "pm"  # rmvpe needs its own weights installed
    engine = Engine(Settings.from_env())
    result = engine.run(doc, inputs={"reference": str(ref), "voice_model": "alto", "text": "A short test."})
    assert result.ok, result.error
    speech, voice = result.outputs["speech"], result.outputs["voice"]
    assert speech.sample_rate == 24000 and voice.sample_rate == 40000  # StyleTTS 2's rate, then the RVC model's
    assert abs(voice.duration - speech.duration) < 0.05
    level = 20 * np.log10(np.sqrt(np.mean(voice.mono().astype(np.float64) ** 2)) + 1e-12)
    assert level > -30  # loudness-normalized to -18 LUFS: clearly not silent
