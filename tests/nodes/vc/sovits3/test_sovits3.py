"""vc.sovits on so-vits-svc 3.0 models (branches Mera-SVC-32k / Mera-SVC-48k): detection, loading,
both rates, output length and signal, transpose, and refused configs."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models.detect import detect
from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_sovits_config, save_sovits_files
from haysay.nodes.vc.sovits.models_v3 import SovitsV3Synthesizer, coarse_v3

from .conftest import measured_f0


def _convert(weights, soft_file, tone, **params):
    spec = default_registry()["vc.sovits"]
    return spec.call({"model": str(weights), "content_encoder": str(soft_file), "f0_method": "pm",
                      "speaker": "paimon", **params}, audio=tone)["audio"]


@pytest.mark.parametrize("rate", [32000, 48000])
def test_detected_as_3_0_with_hubert_soft(v3_files, rate):
    found = detect(v3_files[rate].parent)
    assert (found.architecture, found.version) == ("sovits", "3.0")
    assert found.info["speech_encoder"] == "hubertsoft" and found.info["sample_rate"] == rate
    info = read_sovits_config(v3_files[rate].parent / "config.json")
    assert (info.version, info.hop_length, info.speech_encoder, info.config.sampling_rate) == \
        ("3.0", 320, "hubertsoft", rate)
    assert info.speakers == {"nen": 0, "paimon": 1, "yunhao": 2}


def test_4_0_config_is_still_4_0(v3_files, tmp_path):
    """4.0's template has the same keys as 3.0's; its 512-sample hop at 44.1 kHz tells them apart."""
    raw = json.loads((v3_files[32000].parent / "config.json").read_text())
    raw["data"].update(sampling_rate=44100, hop_length=512)
    raw["model"].update(upsample_rates=[8, 8, 2, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4, 4])
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert read_sovits_config(tmp_path / "config.json").version == "4.0"


@pytest.mark.parametrize("rate", [32000, 48000])
def test_loads_and_converts_at_the_models_rate(v3_files, soft_file, tone, rate):
    model = build_sovits_model(v3_files[rate], read_sovits_config(v3_files[rate].parent / "config.json"))
    assert isinstance(model, SovitsV3Synthesizer) and model.dec.upp == 320
    out = _convert(v3_files[rate], soft_file, tone)
    assert out.sample_rate == rate
    assert out.frames / rate == pytest.approx(tone.frames / tone.sample_rate, abs=0.03)
    x = out.mono()
    assert np.sqrt(np.mean(x ** 2)) > 1e-3  # not silent
    # the transparent decoder passes the NSF source through: its pitch is the tracked 200 Hz
    assert abs(1200 * math.log2(measured_f0(x, rate) / 200.0)) < 50


def test_transpose_moves_the_measured_pitch(v3_files, soft_file, tone):
    base = measured_f0(_convert(v3_files[32000], soft_file, tone).mono(), 32000)
    for semitones in (7, -5):
        got = measured_f0(_convert(v3_files[32000], soft_file, tone, transpose=semitones).mono(), 32000)
        assert abs(1200 * math.log2(got / base) - 100 * semitones) < 50


def test_coarse_pitch_clamps_high_f0_as_3_0_does():
    ids = coarse_v3(torch.tensor([[0.0, 50.0, 1100.0, 1500.0]]))
    assert ids.tolist() == [[1, 1, 255, 255]]


def _broken(v3_files, tmp_path, edit):
    folder = tmp_path / "m"
    shutil.copytree(v3_files[32000].parent, folder)
    raw = json.loads((folder / "config.json").read_text())
    edit(raw)
    (folder / "config.json").write_text(json.dumps(raw))
    return folder


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["model"].pop("filter_channels"), "model.filter_channels"),
    (lambda r: r["model"].pop("n_speakers"), "model.n_speakers"),
    (lambda r: r["data"].pop("sampling_rate"), "data.sampling_rate"),
    (lambda r: r["train"].pop("segment_size"), "train.segment_size"),
    (lambda r: r["data"].update(sampling_rate=44100), "data.sampling_rate"),
    (lambda r: r["model"].update(ssl_dim=768), "model.ssl_dim"),
    (lambda r: r["model"].update(gin_channels=128), "model.gin_channels"),
    (lambda r: r["model"].update(n_heads=5), "model.n_heads"),
    (lambda r: r["model"].update(hidden_channels="wide"), "model.hidden_channels"),
])
def test_bad_config_is_refused_naming_the_field(v3_files, tmp_path, edit, field):
    folder = _broken(v3_files, tmp_path, edit)
    with pytest.raises(CheckpointError, match=field.replace(".", r"\.")):
        read_sovits_config(folder / "config.json")


def test_node_reports_the_config_field(v3_files, soft_file, tone, tmp_path):
    folder = _broken(v3_files, tmp_path, lambda r: r["model"].pop("filter_channels"))
    with pytest.raises(CheckpointError, match=r"model\.filter_channels"):
        _convert(folder / v3_files[32000].name, soft_file, tone)


def test_3_0_weights_under_a_4_0_config_are_refused(v3_files, tmp_path):
    def as_4_0(raw):
        raw["data"].update(sampling_rate=44100, hop_length=512)
        raw["model"].update(upsample_rates=[8, 8, 2, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4, 4])

    folder = _broken(v3_files, tmp_path, as_4_0)
    info = read_sovits_config(folder / "config.json")
    with pytest.raises(CheckpointError, match=r"describes a so-vits-svc 4\.0 model but the weights are 3\.0"):
        build_sovits_model(folder / v3_files[32000].name, info)



def test_noise_scale_defaults_to_the_versions_upstream_value(v3_files, soft_file, tone, monkeypatch):
    """3.0's SynthesizerTrn.infer never passes a noise scale: its TextEncoder's 1.0 is what upstream runs
    (4.x's inference_main.py passes 0.4). The fixture's decoder passes the NSF source through, so the
    scale that reaches the network is read where it enters."""
    seen = []
    infer = SovitsV3Synthesizer.infer

    def spy(self, c, f0, uv, sid, noise_scale, *rest):
        seen.append(noise_scale)
        return infer(self, c, f0, uv, sid, noise_scale, *rest)

    monkeypatch.setattr(SovitsV3Synthesizer, "infer", spy)
    _convert(v3_files[32000], soft_file, tone)
    n = len(seen)
    _convert(v3_files[32000], soft_file, tone, noise_scale=0.25)
    assert n > 0 and set(seen[:n]) == {1.0} and set(seen[n:]) == {0.25}
