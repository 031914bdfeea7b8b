"""RVC specifics: checkpoint layout, shape mismatches, retrieval, coarse pitch, rms mixing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.nodes.vc.pitch import coarse_pitch
from haysay.nodes.vc.retrieval import build_feature_index, read_feature_index, retrieve
from haysay.nodes.vc.rvc.checkpoint import WEIGHT_NORMED, read_rvc_checkpoint
from haysay.nodes.vc.rvc.pipeline import change_rms
from haysay.nodes.vc.safe_load import CheckpointError


def test_export_layout_matches_the_webui(rvc_files):
    raw = torch.load(rvc_files[("v2", True)], weights_only=True)
    assert set(raw) == {"weight", "config", "info", "sr", "f0", "version"}
    assert raw["sr"] == "40k" and raw["version"] == "v2" and raw["f0"] == 1 and len(raw["config"]) == 18
    assert raw["weight"]["enc_p.emb_phone.weight"].dtype == torch.float16
    assert raw["weight"]["enc_p.emb_phone.weight"].shape[1] == 768
    assert "dec.ups.0.weight_g" in raw["weight"] and "flow.flows.0.enc.in_layers.0.weight_v" in raw["weight"]
    assert "enc_p.emb_pitch.weight" not in torch.load(rvc_files[("v1", False)], weights_only=True)["weight"]
    assert WEIGHT_NORMED.match("dec.resblocks.3.convs2.1.weight")
    ck = read_rvc_checkpoint(rvc_files[("v1", True)])
    assert (ck.version, ck.f0, ck.sample_rate, ck.n_speakers) == ("v1", True, 40000, 2)


def test_shape_mismatch_names_the_weight(rvc_files, tmp_path):
    raw = torch.load(rvc_files[("v2", True)], weights_only=True)
    raw["config"][4] = 48  # filter_channels the weights were not trained with
    path = tmp_path / "mismatch.pth"
    torch.save(raw, path)
    from haysay.nodes.vc.rvc.checkpoint import load_rvc_model
    with pytest.raises(CheckpointError, match=r"mismatch\.pth: weight enc_p\.encoder\.ffn_layers\.0\.conv_1\.weight "
                                              r"has shape \(32, 16, 3\).*\(48, 16, 3\)"):
        load_rvc_model(path)


def test_version_and_feature_width_must_agree(rvc_files, tmp_path):
    raw = torch.load(rvc_files[("v2", True)], weights_only=True)
    raw["version"] = "v1"
    path = tmp_path / "confused.pth"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="v1 expects 256-dim"):
        read_rvc_checkpoint(path)


def test_coarse_pitch_matches_the_mel_quantisation():
    ids = coarse_pitch(np.array([0.0, 50.0, 1100.0, 3000.0, 220.0]))
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    want_220 = (mel(220) - mel(50)) * 254 / (mel(1100) - mel(50)) + 1
    assert list(ids[:4]) == [1, 1, 255, 255]
    assert ids[4] == round(want_220)


def test_retrieval_pulls_features_to_their_neighbours(tmp_path):
    rng = np.random.default_rng(0)
    stored = rng.standard_normal((400, 16)).astype(np.float32)
    index = read_feature_index(build_feature_index(stored, tmp_path / "added_IVF4_Flat.index", n_lists=4))
    assert index.vectors.shape == (400, 16)
    query = stored[:5] + 0.001 * rng.standard_normal((5, 16)).astype(np.float32)
    index.index.nprobe = 4
    full = retrieve(query, index, 1.0)
    assert np.abs(full - stored[:5]).max() < 0.01  # dominated by the nearly exact neighbour
    half = retrieve(query, index, 0.5)
    assert np.allclose(half, 0.5 * full + 0.5 * query, atol=1e-5)
    with pytest.raises(CheckpointError, match="16-dim features but the model uses 768"):
        retrieve(np.zeros((2, 768), np.float32), index, 0.75)


def test_index_rate_changes_what_the_synthesizer_hears(rvc_files, encoder_files, speech, tmp_path, monkeypatch):
    from haysay.nodes.vc.content.checkpoint import read_content_encoder
    from haysay.nodes.vc.rvc.models import RVCSynthesizer

    enc = read_content_encoder(encoder_files["fairseq"])
    wav = torch.tensor(speech[1], dtype=torch.float32)[None]
    feats = enc.features(wav, 12, False)[0].numpy()
    far = feats[::-1] * 3.0 + 1.0  # an index of far-away features: retrieval must pull toward them
    index_path = build_feature_index(far, tmp_path / "v2.index", n_lists=2)
    heard = []
    original = RVCSynthesizer.infer

    def spy(self, phone, *args, **kwargs):
        heard.append(phone.detach().clone())
        return original(self, phone, *args, **kwargs)

    monkeypatch.setattr(RVCSynthesizer, "infer", spy)
    spec = default_registry()["vc.rvc"]
    base = {"model": str(rvc_files[("v2", True)]), "content_encoder": str(encoder_files["fairseq"]),
            "index": str(index_path), "protect": 0.5}
    for rate in (0.0, 1.0):
        spec.call({**base, "index_rate": rate}, audio=speech[0])
    plain, retrieved = heard[0][0].numpy(), heard[1][0].numpy()
    assert plain.shape == retrieved.shape and plain.shape[1] == 768
    # with rate 1 every frame is a weighted mean of stored vectors: close to the far set, not the input
    assert np.abs(retrieved.mean() - far.mean()) < 0.1 * np.abs(far.mean())
    assert np.abs(plain.mean() - feats.mean()) < 0.1


def test_rms_mix_follows_the_source_envelope():
    rate = 16000
    t = np.arange(rate * 2) / rate
    source = np.where(t < 1, 0.5, 0.05) * np.sin(2 * np.pi * 200 * t)
    target = 0.2 * np.sin(2 * np.pi * 300 * t)
    mixed = change_rms(source, rate, target.astype(np.float32), rate, 0.0)
    loud, quiet = np.sqrt(np.mean(mixed[4000:8000] ** 2)), np.sqrt(np.mean(mixed[-8000:-4000] ** 2))
    assert loud / quiet > 4  # the target took the source's 10x level drop
    same = change_rms(source, rate, target.astype(np.float32), rate, 1.0)
    assert np.allclose(same, target, atol=1e-4)


def test_missing_model_and_index_name_the_field(speech, encoder_files, rvc_files, haysay_home):
    spec = default_registry()["vc.rvc"]
    with pytest.raises(ValueError, match="model: 'no-such-voice' is not a file"):
        spec.call({"model": "no-such-voice", "content_encoder": str(encoder_files["fairseq"])}, audio=speech[0])
    with pytest.raises(ValueError, match="index: file not found"):
        spec.call({"model": str(rvc_files[("v2", True)]), "content_encoder": str(encoder_files["fairseq"]),
                   "index": "/nowhere/x.index"}, audio=speech[0])


def test_params_schema_has_upstream_defaults():
    schema = default_registry()["vc.rvc"].describe()["params_schema"]["properties"]
    assert schema["index_rate"]["default"] == 0.75 and schema["protect"]["default"] == 0.33
    assert schema["rms_mix_rate"]["default"] == 0.25 and schema["pitch_shift"]["unit"] == "semitones"
