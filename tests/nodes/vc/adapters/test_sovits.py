"""so-vits-svc specifics: config versions, speakers and speaker mixes, k-means clusters, F0 prediction,
volume, content-frame stretching, slicing, params."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import default_registry
from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.checkpoint import read_kmeans, read_sovits_config
from haysay.nodes.vc.sovits.envelope import frame_rms, hop_volume
from haysay.nodes.vc.sovits.models import SovitsSynthesizer
from haysay.nodes.vc.sovits.node import SovitsParams, sovits_options
from haysay.nodes.vc.sovits.pipeline import (FrontEnd, SovitsOptions, infer_piece, nearest_centers, repeat_expand,
                                             speaker_weights)
from haysay.nodes.vc.sovits.slicer import Slicing, convert_sliced, pad_center, pcm16_as_written, slice_silence
from haysay.nodes.vc.sovits.speaker_mix import frames_for_call, mix_track


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
    per_run = len(calls) // 2
    plain, clustered = calls[0]["c"][0].T.cpu().numpy(), calls[per_run]["c"][0].T.cpu().numpy()
    rows = {tuple(np.round(r, 4)) for r in clustered}
    assert rows <= {tuple(np.round(r, 4)) for r in centers["twilight"]}  # every frame is now a centre
    assert not np.allclose(plain, clustered)


def test_auto_predict_f0_replaces_the_tracked_pitch(sovits_files, encoder_files, speech, monkeypatch):
    calls = _spy(monkeypatch)
    _call(sovits_files, encoder_files, speech)
    _call(sovits_files, encoder_files, speech, auto_predict_f0=True)
    tracked, predicted = calls[0]["f0"].cpu().numpy(), calls[len(calls) // 2]["f0"].cpu().numpy()
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
    wav = torch.from_numpy(np.concatenate([0.5 * np.ones(hop * 4), 0.1 * np.ones(hop * 4)]).astype(np.float32))
    vol = hop_volume(wav, hop)
    assert vol.shape == (8,) and float(vol[1]) == pytest.approx(0.5) and float(vol[-2]) == pytest.approx(0.1)
    c = torch.arange(5.0)[None]
    assert repeat_expand(c, 10, "left")[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert repeat_expand(c, 10, "nearest")[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # shrinking: upstream's "left" advances one content frame per output frame, "nearest" skips
    assert repeat_expand(c[:, :4], 2, "left")[0].tolist() == [0, 1]
    assert repeat_expand(c[:, :4], 2, "nearest")[0].tolist() == [0, 2]
    centers = np.array([[0.0, 0.0], [10.0, 10.0]], np.float32)
    assert nearest_centers(np.array([[1.0, 2.0], [9.0, 8.0]], np.float32), centers).tolist() == [[0, 0], [10, 10]]


def test_unit_interpolate_mode_is_read_and_checked(sovits_files, tmp_path):
    cfg = json.loads((sovits_files["4.1"].parent / "config.json").read_text())
    assert read_sovits_config(sovits_files["4.1"].parent / "config.json").unit_interpolate_mode == "nearest"
    assert read_sovits_config(sovits_files["4.0"].parent / "config.json").unit_interpolate_mode == "left"
    cfg["data"]["unit_interpolate_mode"] = "cubic"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unit_interpolate_mode 'cubic'"):
        read_sovits_config(tmp_path / "config.json")


def test_speaker_mix_weights(sovits_files):
    info = read_sovits_config(sovits_files["4.1"].parent / "config.json")
    w = speaker_weights(info, {"nyaru": 1.0, "Rarity": 3.0})
    assert w.tolist()[:3] == [0.25, 0.0, 0.75] and float(w.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="speaker_mix: 'pinkie' is not in this model"):
        speaker_weights(info, {"pinkie": 1.0})
    with pytest.raises(ValueError, match="speaker_mix: the weights sum to 0"):
        speaker_weights(info, {"nyaru": 0.0})


def test_speaker_mix_track_ramps_and_normalises():
    w = mix_track({0: [(0.0, 0.5, 1.0, 0.0), (0.5, 1.0, 0.0, 0.0)], 1: [(0.0, 1.0, 1.0, 1.0)]}, 3, 10)
    assert w.shape == (3, 10) and torch.allclose(w.sum(0), torch.ones(10))
    assert w[0, 0] == pytest.approx(0.5) and w[0, 5:].abs().sum() == 0 and w[2].abs().sum() == 0
    assert w[0, :5].tolist() == sorted(w[0, :5].tolist(), reverse=True)  # the ramp down
    assert torch.allclose(mix_track({}, 2, 4), torch.full((2, 4), 0.5))  # nothing weighted: shared equally
    assert frames_for_call(w, 8, 4).shape == (4, 3) and torch.equal(frames_for_call(w, 8, 4)[3], w[:, -1])
    with pytest.raises(ValueError, match="must start where the previous one ended"):
        mix_track({0: [(0.0, 0.4, 1, 1), (0.5, 1.0, 1, 1)]}, 2, 10)
    with pytest.raises(ValueError, match="empty or reversed"):
        mix_track({0: [(0.6, 0.4, 1, 1)]}, 2, 10)


def test_f0_filter_names_the_field(sovits_files, encoder_files):
    from haysay.nodes.vc.content.speech_encoders import read_speech_encoder
    from haysay.nodes.vc.sovits.checkpoint import build_sovits_model

    info = read_sovits_config(sovits_files["4.1"].parent / "config.json")
    model = build_sovits_model(sovits_files["4.1"], info)
    encoder = read_speech_encoder(encoder_files["fairseq"], info.speech_encoder)
    wav = np.zeros(44100, np.float32)
    unvoiced = FrontEnd(f0=lambda w: (np.zeros(w.size // 512), np.zeros(w.size // 512)))
    with pytest.raises(ValueError, match="^f0_filter: no voiced frame"):
        infer_piece(wav, model, info, encoder, SovitsOptions(f0_filter=True), 0, front_end=unvoiced)
    audio, _ = infer_piece(wav, model, info, encoder, SovitsOptions(), 0, front_end=unvoiced)
    assert audio.shape == (44032,)


def test_frame_rms_is_librosas():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(2).standard_normal(44100).astype(np.float32) * np.linspace(0, 1, 44100, dtype=np.float32)
    for frame, hop in ((3528, 882), (44100, 22050)):
        ref = librosa.feature.rms(y=x, frame_length=frame, hop_length=hop)[0]
        assert frame_rms(x, frame, hop) == pytest.approx(ref, rel=1e-5)


def test_slicer_cuts_long_silences_only():
    sr = 16000
    rng = np.random.default_rng(4)
    tone = lambda s: (0.3 * np.sin(np.arange(int(s * sr)) * 0.05) + 0.01 * rng.standard_normal(int(s * sr)))  # noqa: E731
    wav = np.concatenate([tone(6.0), np.zeros(sr), tone(6.0), np.zeros(sr // 10), tone(1.0)]).astype(np.float32)
    chunks = slice_silence(wav, sr, -40)
    assert [c.silent for c in chunks] == [False, True, False]  # the 0.1 s pause is too short to cut
    # a pause under max_sil_kept (5 s) is kept whole on both sides: cut at one point inside it
    assert 6.0 * sr < chunks[1].start == chunks[1].end < 7.0 * sr and chunks[-1].end == wav.size
    assert slice_silence(wav[:2 * sr], sr) == [(0, 2 * sr, False)]


def test_sliced_assembly_with_forced_clips_and_crossfade_is_seamless():
    sr = 8000
    x = (0.5 * np.sin(np.arange(5 * sr) * 0.01)).astype(np.float32)
    calls = []

    def identity(padded):
        calls.append(padded.size)
        return padded

    for slicing in (Slicing(), Slicing(clip_seconds=1.0, crossfade_seconds=0.2),
                    Slicing(clip_seconds=1.3, crossfade_seconds=0.25, crossfade_retain=1.0)):
        calls.clear()
        out, chunks = convert_sliced(x, sr, sr, slicing, identity)
        assert out.shape == x.shape and np.abs(out - pcm16_as_written(x)).max() < 1e-6
        assert all(n == min(5 * sr, int(slicing.clip_seconds * sr) + int(slicing.crossfade_seconds * sr) * (i > 0))
                   + 2 * int(0.5 * sr) for i, n in enumerate(calls[:-1]))
    assert len(calls) == 4
    half, chunks = convert_sliced(x, sr, sr // 2, Slicing(pad_seconds=0.25), lambda p: p[::2])
    assert half.shape == (x.size // 2,)


def test_pcm16_and_centring_helpers():
    import io

    import soundfile as sf

    x = np.random.default_rng(3).uniform(-1.1, 1.1, 5000)
    buf = io.BytesIO()
    sf.write(buf, x, 44100, format="WAV")
    buf.seek(0)
    assert np.array_equal(pcm16_as_written(x), sf.read(buf, dtype="float32")[0])
    assert pad_center(np.ones(3), 6).tolist() == [0, 1, 1, 1, 0, 0]
    assert pad_center(np.ones(4), 3).shape == (4,)


def test_every_option_is_a_param():
    """The result's cache key is built from the params: every option reaching the conversion is one."""
    params = SovitsParams(model="m", speaker="a", speaker_mix={"a": 1.0}, speaker_mix_track={"a": [[0, 1, 1, 1]]},
                          transpose=2, f0_method="harvest",
                          cr_threshold=0.1, f0_filter=True, noise_scale=0.5, auto_predict_f0=True, cluster_ratio=0.5,
                          loudness_envelope_adjustment=0.5, slice_db=-30, pad_seconds=0.2, clip_seconds=3,
                          crossfade_seconds=0.5, crossfade_retain=0.5, resampler="soxr", seed=1)
    opts, default = sovits_options(params), SovitsOptions()
    for name in vars(default):
        if name != "slicing":
            assert getattr(opts, name) != getattr(default, name), name
    for name in vars(Slicing()):
        assert getattr(opts.slicing, name) != getattr(default.slicing, name), name
    defaults = sovits_options(SovitsParams(model="m"))
    assert (defaults.slicing, defaults.noise_scale, defaults.cr_threshold, defaults.seed) == (Slicing(), None, 0.05, 52468)
    assert defaults.loudness_envelope_adjustment == 1.0 and defaults.resampler == "torchaudio"
