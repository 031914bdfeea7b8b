"""vc.sovits5 against whisper-vits-svc's own output and on real speech.

data/sovits5.0.pth is written by upstream's svc_export.save_model and data/upstream_out.npz by upstream's
svc_inference.svc_infer on fixed features (data/README.md). The training checkpoint is written here in the
layout of upstream's vits_extend/train.py torch.save (model_g of the whole SynthesizerTrn, model_d, optim_g,
optim_d, step, epoch, hp_str).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.values import AudioShape
from haysay.nodes.vc.safe_load import CheckpointError, safe_torch_load
from haysay.nodes.vc.sovits5.checkpoint import build_sovits5_model, read_sovits5_checkpoint, read_sovits5_config
from haysay.nodes.vc.sovits5.pipeline import synthesize

from .conftest import DATA, measured_f0

PTH, YAML = DATA / "sovits5.0.pth", DATA / "small.yaml"


def _model(weights=PTH, config=YAML):
    return build_sovits5_model(read_sovits5_checkpoint(weights, config))


def _synth(model, f, seed=5, **change):
    f = {**f, **change}
    torch.manual_seed(seed)
    return synthesize(model, f["ppg"], f["vec"], f["pit"], f["spk"])


def test_exported_pth_matches_upstream_svc_infer(features):
    up = np.load(DATA / "upstream_out.npz")["out"]
    y = _synth(_model(), features)
    assert y.shape == up.shape == (150 * 320 - 1,)
    assert np.abs(y - up).max() < 1e-4  # measured 1.1e-6: the sine phase is summed in float64 here
    assert np.corrcoef(y, up)[0, 1] > 0.99999
    assert np.sqrt(np.mean(y ** 2)) > 0.01


def test_training_checkpoint_and_plain_state_dict_load_alike(features, tmp_path):
    state = safe_torch_load(PTH)["model_g"]
    train = {**state, "emb_g.weight": torch.randn(16, 16), "emb_g.bias": torch.zeros(16),
             "speaker_classifier.classifier.1.weight_v": torch.randn(16, 16, 1),
             "enc_q.pre.weight": torch.randn(16, 513, 1)}
    torch.save({"model_g": train, "model_d": {"x": torch.zeros(1)}, "optim_g": {}, "optim_d": {}, "step": 10,
                "epoch": 1, "hp_str": YAML.read_text()}, tmp_path / "sovits5.0_0001.pt")
    torch.save(state, tmp_path / "plain.pth")
    ref = _synth(_model(), features)
    for name in ("sovits5.0_0001.pt", "plain.pth"):
        assert np.array_equal(_synth(_model(tmp_path / name), features), ref)


def test_speaker_embedding_and_pitch_move_the_output(features):
    model = _model()
    ref = _synth(model, features)
    other = _synth(model, features, spk=np.random.default_rng(9).standard_normal(16).astype(np.float32))
    assert np.sqrt(np.mean((other - ref) ** 2)) > 0.2 * np.sqrt(np.mean(ref ** 2))
    # the NSF excitation carries the pitch: a steady 150 Hz vs 300 Hz track, measured on the output
    flat = {**features, "pit": np.full(150, 150.0, np.float32)}
    low = _synth(model, flat)
    high = _synth(model, flat, pit=np.full(150, 300.0, np.float32))
    f_low, f_high = measured_f0(low, 32000), measured_f0(high, 32000)
    assert f_low > 0 and 1.8 < f_high / f_low < 2.2, (f_low, f_high)


def test_missing_weights_and_config_fields_are_named(tmp_path):
    state = safe_torch_load(PTH)["model_g"]
    del state["flow.flows.2.snac.weight"]
    torch.save({"model_g": state}, tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match=r"missing weights flow\.flows\.2\.snac\.weight"):
        _model(tmp_path / "cut.pth")
    text = YAML.read_text().replace("ppg_dim: 32", "ppg_dim: 64")
    (tmp_path / "wide.yaml").write_text(text)
    with pytest.raises(CheckpointError, match=r"enc_p\.pre\.weight has shape .*needs"):
        _model(PTH, tmp_path / "wide.yaml")
    (tmp_path / "cut.yaml").write_text(YAML.read_text().replace("  spk_dim: 16\n", ""))
    with pytest.raises(CheckpointError, match=r"config 'vits\.spk_dim' is missing"):
        read_sovits5_config(tmp_path / "cut.yaml")
    torch.save({"model_g": {"dec.conv_pre.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a so-vits-svc 5.0 checkpoint"):
        _model(tmp_path / "other.pth")


@pytest.fixture()
def model_dir(tmp_path):
    shutil.copy(PTH, tmp_path / "sovits5.0.pth")
    shutil.copy(YAML, tmp_path / "config.yaml")
    return tmp_path


def _run(params, audio, ctx=None):
    return default_registry()["vc.sovits5"].call(params, ctx=ctx or NodeContext(), audio=audio)["audio"]


def test_node_converts_speech_at_32k(model_dir, encoders, speakers, speech):
    params = {"model": str(model_dir / "sovits5.0.pth"), "speaker": str(speakers[0]),
              "whisper_encoder": str(encoders["whisper"]), "hubert_encoder": str(encoders["hubert"])}
    ctx = NodeContext()
    out = _run(params, speech, ctx)
    assert out.sample_rate == 32000
    seconds = speech.frames / speech.sample_rate
    assert abs(out.frames / 32000 - seconds) < 0.03, (out.frames, seconds)
    y = out.mono()
    assert np.sqrt(np.mean(y ** 2)) > 0.01
    assert ctx.info["sovits5"]["sample_rate"] == 32000
    spec = default_registry()["vc.sovits5"]
    shape = spec.output_shape(spec.params(**params), {"audio": AudioShape(speech.frames, 1, speech.sample_rate)})
    assert (shape.frames, shape.sample_rate) == (out.frames, 32000)
    assert np.array_equal(_run(params, speech).mono(), y)  # seeded: reproducible
    # the crepe track driving the decoder follows the input's own pitch, and --shift 12 doubles it (that the
    # decoder's output follows its track is measured in test_speaker_embedding_and_pitch_move_the_output;
    # this random-weight model's output is dominated by its 100 Hz frame rate)
    f_in = measured_f0(speech.mono(), speech.sample_rate)
    tracked = ctx.info["sovits5"]["median_f0_hz"]
    assert abs(tracked / f_in - 1) < 0.1, (tracked, f_in)
    ctx12 = NodeContext()
    up = _run({**params, "shift": 12}, speech, ctx12).mono()
    assert abs(ctx12.info["sovits5"]["median_f0_hz"] / tracked - 2) < 0.02
    assert np.sqrt(np.mean((up - y) ** 2)) > 0.1 * np.sqrt(np.mean(y ** 2))
    ctx_pm = NodeContext()
    _run({**params, "f0_method": "pm"}, speech, ctx_pm)  # haysay's Praat tracker instead of upstream's crepe
    assert abs(ctx_pm.info["sovits5"]["median_f0_hz"] / f_in - 1) < 0.1
    other = _run({**params, "speaker": str(speakers[1])}, speech).mono()
    assert np.sqrt(np.mean((other - y) ** 2)) > 0.1 * np.sqrt(np.mean(y ** 2))


def test_node_refuses_missing_encoders_and_speaker_by_field(model_dir, encoders, speakers, speech):
    from haysay.nodes.vc.resolve import ModelRefError

    base = {"model": str(model_dir / "sovits5.0.pth"), "speaker": str(speakers[0]),
            "hubert_encoder": str(encoders["hubert"])}
    with pytest.raises(ModelRefError) as exc:
        _run(base, speech)  # no Whisper encoder installed in this test's HAYSAY_HOME
    assert exc.value.field == "whisper_encoder" and "no content encoder is installed" in str(exc.value)
    with pytest.raises(ModelRefError) as exc:
        _run({**base, "whisper_encoder": str(encoders["hubert"])}, speech)
    assert exc.value.field == "whisper_encoder" and "HuBERT-Soft" in str(exc.value)
    assert str(encoders["hubert"].parent) not in str(exc.value)
    with pytest.raises(ModelRefError) as exc:
        _run({**base, "whisper_encoder": str(encoders["whisper"]), "speaker": ""}, speech)
    assert exc.value.field == "speaker"
    bad = model_dir / "bad.spk.npy"
    np.save(bad, np.zeros(8, np.float32))
    with pytest.raises(ModelRefError, match="16 float values") as exc:
        _run({**base, "whisper_encoder": str(encoders["whisper"]), "speaker": str(bad)}, speech)
    assert exc.value.field == "speaker"


def test_whisper_ppg_matches_upstream_pred_ppg():
    """Upstream drops the encoder's last quarter of blocks, runs 15 s pieces unpadded and dithers the mel."""
    from haysay.nodes.vc.content.speech_encoders import read_speech_encoder
    from haysay.nodes.vc.sovits5.pipeline import whisper_ppg

    ref = np.load(DATA / "whisper_ppg.npz")
    encoder = read_speech_encoder(DATA / "whisper_tiny.pt", "whisper-ppg-large")
    torch.manual_seed(3)
    ppg = whisper_ppg(encoder, ref["wav16k"])
    assert ppg.shape == ref["ppg"].shape == (len(ref["wav16k"]) // 320, 32)
    assert np.abs(ppg - ref["ppg"]).max() < 5e-3  # measured 6.9e-4
    assert np.corrcoef(ppg.ravel(), ref["ppg"].ravel())[0, 1] > 0.99999
    full = encoder.features(torch.from_numpy(ref["wav16k"])[None])[0].numpy()  # so-vits 4.1's whole encoder
    assert np.abs(full - ref["ppg"]).max() > 0.1
