"""so-vits-svc specifics: config versions, speakers, k-means clusters, F0 prediction, volume."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.checkpoint import read_kmeans, read_sovits_config
from haysay.nodes.vc.sovits.models import SovitsSynthesizer
from haysay.nodes.vc.sovits.pipeline import expand_frames, nearest_centers, volume


def test_config_versions_and_encoders(sovits_files):
    v41 = read_sovits_config(sovits_files["4.1"].parent / "config.json")
    v40 = read_sovits_config(sovits_files["4.0"].parent / "config.json")
    assert (v41.version, v41.speech_encoder, v41.encoder_layer) == ("4.1", "vec768l12", (12, False, 768))
    assert (v40.version, v40.speech_encoder, v40.encoder_layer) == ("4.0", "vec256l9", (9, True, 256))
    assert v41.config.vol_embedding and not v40.config.vol_embedding
    assert v41.speakers["twilight"] == 1 and v41.hop_length == 512
    raw = torch.load(sovits_files["4.1"], weights_only=True)
    assert {"model", "iteration", "optimizer"} <= set(raw) and "dec.conv_pre.weight_g" in raw["model"]


def test_unsupported_options_are_named(sovits_files, tmp_path):
    cfg = json.loads((sovits_files["4.1"].parent / "config.json").read_text())
    cfg["model"]["use_depthwise_conv"] = True
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="use_depthwise_conv"):
        read_sovits_config(tmp_path / "config.json")
    cfg["model"]["use_depthwise_conv"] = False
    cfg["model"]["speech_encoder"] = "dphubert"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="speech_encoder 'dphubert' is not supported"):
        read_sovits_config(tmp_path / "config.json")


def _spy(monkeypatch):
    calls = []
    original = SovitsSynthesizer.infer

    def spy(self, c, f0, uv, sid, *args, **kwargs):
        out = original(self, c, f0, uv, sid, *args, **kwargs)
        calls.append({"c": c.clone(), "sid": sid, "f0": out[1].clone()})
        return out

    monkeypatch.setattr(SovitsSynthesizer, "infer", spy)
    return calls


def _call(files, encoder_files, speech, **params):
    spec = default_registry()["vc.sovits"]
    return spec.call({"model": str(files["4.1"]), "content_encoder": str(encoder_files["fairseq"]), **params},
                     audio=speech[0])["audio"]


def test_speaker_by_name_and_unknown_speaker(sovits_files, encoder_files, speech, monkeypatch):
    calls = _spy(monkeypatch)
    _call(sovits_files, encoder_files, speech, speaker="Rarity")
    assert calls[-1]["sid"] == 2
    with pytest.raises(ValueError, match="speaker: 'applejack' is not in this model; it has nyaru, twilight, rarity"):
        _call(sovits_files, encoder_files, speech, speaker="applejack")


def test_cluster_ratio_pulls_features_onto_the_centres(sovits_files, encoder_files, speech, monkeypatch):
    centers = read_kmeans(sovits_files["kmeans"])  # numpy arrays inside: the restricted loader admits them
    assert set(centers) == {"nyaru", "twilight", "rarity"} and centers["twilight"].shape == (10, 768)
    calls = _spy(monkeypatch)
    for ratio in (0.0, 1.0):
        _call(sovits_files, encoder_files, speech, speaker="twilight", cluster_model=str(sovits_files["kmeans"]),
              cluster_ratio=ratio)
    plain, clustered = calls[0]["c"][0].T.cpu().numpy(), calls[1]["c"][0].T.cpu().numpy()
    rows = {tuple(np.round(r, 4)) for r in clustered}
    assert rows <= {tuple(np.round(r, 4)) for r in centers["twilight"]}  # every frame is now a centre
    assert not np.allclose(plain, clustered)


def test_auto_predict_f0_replaces_the_tracked_pitch(sovits_files, encoder_files, speech, monkeypatch):
    calls = _spy(monkeypatch)
    _call(sovits_files, encoder_files, speech)
    _call(sovits_files, encoder_files, speech, auto_predict_f0=True)
    tracked, predicted = calls[0]["f0"].cpu().numpy(), calls[1]["f0"].cpu().numpy()
    assert tracked.shape == predicted.shape
    assert np.median(np.abs(predicted - tracked) / tracked) > 0.05


def test_rvc_file_given_to_sovits(rvc_files, encoder_files, speech, tmp_path, sovits_files):
    import shutil
    target = tmp_path / "G_1.pth"
    shutil.copy(rvc_files[("v2", True)], target)
    shutil.copy(sovits_files["4.1"].parent / "config.json", tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="this is an RVC model"):
        _call({"4.1": target}, encoder_files, speech)


def test_volume_and_frame_expansion():
    hop = 512
    wav = np.concatenate([0.5 * np.ones(hop * 4), 0.1 * np.ones(hop * 4)])
    vol = volume(wav, hop)
    assert vol.shape == (8,) and vol[1] == pytest.approx(0.5) and vol[-2] == pytest.approx(0.1)
    c = torch.arange(5.0)[None]
    assert expand_frames(c, 10)[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    centers = np.array([[0.0, 0.0], [10.0, 10.0]], np.float32)
    assert nearest_centers(np.array([[1.0, 2.0], [9.0, 8.0]], np.float32), centers).tolist() == [[0, 0], [10, 10]]
