"""RMVPE: upstream-compatible state dict, loader errors, log-mel front end, decoder, and the f0 path
end to end on espeak speech (random weights, with the output head set to a known pitch)."""
from __future__ import annotations

import shutil

from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from haysay.graph_engine.models import ModelStore, detect
from haysay.nodes.analysis.f0 import extract_f0
from haysay.nodes.analysis.rmvpe import (CENTS_OFFSET, HOP_LENGTH, N_BINS, bin_cents, cents_to_hz, decode_salience,
                                         load_rmvpe, log_mel, rmvpe_e2e0, rmvpe_f0, salience)
from haysay.nodes.vc.pitch import rmvpe_checkpoint, track_f0
from haysay.nodes.vc.safe_load import CheckpointError

KNOWN_BIN = 180  # the pitch the crafted output head always reports


def known_hz(b: float = KNOWN_BIN) -> float:
    return 10.0 * 2.0 ** ((20.0 * b + 1997.3794084376191) / 1200.0)


def crafted_e2e0():
    """Random-weight E2E0 whose output layer ignores its input and peaks at KNOWN_BIN, so the pitch
    that comes out of the whole network and decoder is known (random weights carry no pitch)."""
    torch.manual_seed(0)
    model = rmvpe_e2e0()
    with torch.no_grad():
        model.fc[1].weight.zero_()
        model.fc[1].bias.fill_(-8.0)
        model.fc[1].bias[KNOWN_BIN] = 8.0
    return model


def cheap_state(model_state: dict, drop=(), reshape: dict | None = None) -> dict:
    """A state dict of stride-0 tensors (one stored element each): the right keys and shapes in a tiny file."""
    out = {}
    for k, v in model_state.items():
        if k in drop:
            continue
        shape = (reshape or {}).get(k, v.shape)
        out[k] = torch.zeros((), dtype=v.dtype).expand(shape)
    return out


@pytest.fixture(scope="module")
def rmvpe_file(tmp_path_factory) -> Path:
    """rmvpe.pt as upstream ships it: a bare fp16 state dict."""
    path = tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in crafted_e2e0().state_dict().items()}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def model(rmvpe_file):
    return load_rmvpe(rmvpe_file)


@pytest.fixture(scope="module")
def speech16k():
    from haysay.nodes.tts.espeak import synthesize_espeak

    audio = synthesize_espeak("Hello there, this is a quick pitch test.")
    return soxr.resample(audio.mono().astype(np.float64), audio.sample_rate, 16000)


def test_state_dict_keys_and_shapes_are_upstreams():
    state = rmvpe_e2e0().state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    # spot checks against upstream's E2E(4, 1, (2, 2)): module paths and widths
    assert shapes["unet.encoder.bn.weight"] == (1,)
    assert shapes["unet.encoder.layers.0.conv.0.conv.0.weight"] == (16, 1, 3, 3)
    assert shapes["unet.encoder.layers.0.conv.0.shortcut.weight"] == (16, 1, 1, 1)
    assert shapes["unet.encoder.layers.4.conv.3.conv.4.running_var"] == (256,)
    assert shapes["unet.intermediate.layers.0.conv.0.shortcut.weight"] == (512, 256, 1, 1)
    assert shapes["unet.intermediate.layers.3.conv.3.conv.3.weight"] == (512, 512, 3, 3)
    assert shapes["unet.decoder.layers.0.conv1.0.weight"] == (512, 256, 3, 3)  # ConvTranspose2d: (in, out, ...)
    assert shapes["unet.decoder.layers.4.conv2.0.conv.0.weight"] == (16, 32, 3, 3)
    assert shapes["cnn.weight"] == (3, 16, 3, 3)
    assert shapes["fc.0.gru.weight_ih_l0"] == (768, 384) and "fc.0.gru.weight_hh_l0_reverse" in shapes
    assert shapes["fc.1.weight"] == (360, 512)
    # no shortcut where the width does not change, as upstream
    assert "unet.encoder.layers.0.conv.1.shortcut.weight" not in shapes
    # counted by hand: encoder 4 + 5*(4*10) + 5*2 shortcuts, intermediate 16*10 + 2, decoder 5*(5 + 4*10 + 2),
    # cnn 2, GRU 8, linear 2
    assert len([k for k in shapes if not k.endswith("num_batches_tracked")]) == 623
    # by hand from the layer widths; as fp16 that is the 181 MB of upstream's rmvpe.pt
    assert sum(v.numel() for v in state.values() if v.is_floating_point()) == 90_472_799


def test_loader_round_trips_an_fp16_state_dict(rmvpe_file, model):
    saved = torch.load(rmvpe_file, weights_only=True)
    loaded = model.state_dict()
    assert set(saved) == set(loaded)
    for key in ("cnn.weight", "fc.0.gru.weight_hh_l0", "unet.decoder.layers.2.conv2.1.conv.3.weight"):
        assert loaded[key].dtype == torch.float32
        assert torch.equal(loaded[key], saved[key].float())
    assert not model.training


def test_salience_frame_rate_and_pitch_from_the_network(model, speech16k):
    sal = salience(model, speech16k)
    assert sal.shape == (speech16k.size // HOP_LENGTH + 1, N_BINS)  # 100 frames/s
    assert np.all((sal >= 0) & (sal <= 1))
    assert np.all(np.argmax(sal, axis=1) == KNOWN_BIN)
    hz, conf = rmvpe_f0(model, speech16k)
    assert hz.shape == conf.shape == (sal.shape[0],)
    assert np.allclose(hz, known_hz(), rtol=1e-3)  # 253.6 Hz, whatever the input
    assert np.all(conf > 0.99)


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(1)
    return rmvpe_e2e0()


def test_random_network_gives_hz_in_range(random_model, speech16k):
    clip = speech16k[:16000]
    hz, conf = rmvpe_f0(random_model, clip)
    assert hz.size == 101
    voiced = hz[hz > 0]
    assert voiced.size > 0
    assert voiced.min() >= known_hz(0) * 0.999 and voiced.max() <= known_hz(N_BINS - 1) * 1.001
    assert np.all(conf[hz > 0] > 0.03)


def test_long_input_runs_in_chunks_on_the_same_grid(random_model, speech16k, monkeypatch):
    import haysay.nodes.analysis.rmvpe as rmvpe

    clip = speech16k[:24000]
    whole = salience(random_model, clip)
    monkeypatch.setattr(rmvpe, "_CHUNK_CONTEXT", 32)
    chunked = salience(random_model, clip, chunk_frames=64)
    assert chunked.shape == whole.shape == (151, N_BINS)
    # with context each side the joins do not show (a one-frame slip would differ by ~5e-3 on average)
    assert np.abs(chunked - whole).max() < 1e-3
    assert np.abs(chunked - whole).mean() < 1e-5


def test_cents_mapping_is_upstreams():
    assert CENTS_OFFSET == pytest.approx(1200 * np.log2(31.7 / 10), abs=1e-9)
    assert cents_to_hz(bin_cents(0)) == pytest.approx(31.7)
    assert cents_to_hz(bin_cents(359)) == pytest.approx(31.7 * 2 ** (359 * 20 / 1200))


def test_decoder_finds_a_known_bin_and_weights_its_neighbours():
    sal = np.full((4, N_BINS), 0.001)
    sal[0, 100] = 0.9                               # lone peak: exactly bin 100
    sal[1, 200], sal[1, 201] = 0.8, 0.4             # weighted toward 201
    sal[2, 50] = 0.02                               # below the 0.03 threshold: unvoiced
    sal[3, 0], sal[3, 1] = 0.5, 0.5                 # at the bottom edge: padding counts zero
    hz, conf = decode_salience(sal)
    lone = (0.9 * bin_cents(100) + 0.001 * sum(bin_cents(b) for b in (96, 97, 98, 99, 101, 102, 103, 104))) / 0.908
    assert hz[0] == pytest.approx(cents_to_hz(lone), rel=1e-9)
    assert hz[0] == pytest.approx(known_hz(100), rel=1e-4)
    pair = np.array([196, 197, 198, 199, 200, 201, 202, 203, 204])
    w = np.where(pair == 200, 0.8, np.where(pair == 201, 0.4, 0.001))
    assert hz[1] == pytest.approx(cents_to_hz((w * bin_cents(pair)).sum() / w.sum()), rel=1e-9)
    assert known_hz(200) < hz[1] < known_hz(201)
    assert hz[2] == 0.0 and conf[2] == pytest.approx(0.02)
    edge = np.array([0, 1, 2, 3, 4])
    w = np.where(edge < 2, 0.5, 0.001)
    assert hz[3] == pytest.approx(cents_to_hz((w * bin_cents(edge)).sum() / w.sum()), rel=1e-9)
    # a lower threshold voices the weak frame at its own bin
    assert decode_salience(sal, threshold=0.01)[0][2] == pytest.approx(known_hz(50), rel=1e-3)
    with pytest.raises(ValueError, match=r"salience: expected \(frames, 360\)"):
        decode_salience(np.zeros((3, 128)))


def test_log_mel_matches_upstreams_front_end():
    librosa = pytest.importorskip("librosa")
    rate = 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    mel = log_mel(torch.tensor(x, dtype=torch.float32)[None])[0].numpy()
    assert mel.shape == (128, rate // HOP_LENGTH + 1)
    # upstream: magnitude STFT (centred, reflect, periodic Hann 1024, hop 160), librosa htk mel 30..8000 Hz
    spec = np.abs(librosa.stft(x, n_fft=1024, hop_length=160, win_length=1024, window="hann", center=True,
                               pad_mode="reflect"))
    basis = librosa.filters.mel(sr=rate, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True)
    want = np.log(np.clip(basis @ spec, 1e-5, None))
    # float32 vs float64: equal to 0.1 %, apart from leakage near the 1e-5 floor where float32 rounding shows
    assert np.allclose(np.exp(mel), np.exp(want), rtol=1e-3, atol=1e-4)
    assert np.abs(mel - want)[want > -8].max() < 1e-3
    # the 440 Hz tone lands in the mel band whose centre is nearest 440 Hz
    centres = librosa.mel_frequencies(n_mels=130, fmin=30, fmax=8000, htk=True)[1:-1]
    assert np.argmax(mel[:, 50]) == np.argmin(np.abs(centres - 440))


def test_missing_keys_name_the_file_and_keys(tmp_path):
    path = tmp_path / "rmvpe.pt"
    torch.save(cheap_state(rmvpe_e2e0().state_dict(), drop=("fc.1.bias", "cnn.weight")), path)
    with pytest.raises(CheckpointError, match=r"rmvpe\.pt: not an RMVPE \(E2E0\) state dict: 2 missing keys "
                                              r"\(cnn\.weight, fc\.1\.bias\)"):
        load_rmvpe(path)


def test_wrong_shape_names_the_tensor(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(cheap_state(rmvpe_e2e0().state_dict(), reshape={"cnn.weight": (3, 8, 3, 3)}), path)
    with pytest.raises(CheckpointError, match=r"other\.pt: .*1 wrong shapes \(cnn\.weight is \(3, 8, 3, 3\), "
                                              r"expected \(3, 16, 3, 3\)\)"):
        load_rmvpe(path)


def test_other_files_are_refused_clearly(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"garbage\.pt: not a readable torch checkpoint"):
        load_rmvpe(garbage)
    listing = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listing)
    with pytest.raises(CheckpointError, match=r"list\.pt: not an RMVPE checkpoint: expected a state dict"):
        load_rmvpe(listing)
    with pytest.raises(CheckpointError, match="nowhere.pt: RMVPE checkpoint not found"):
        load_rmvpe(tmp_path / "nowhere.pt")


def test_state_dict_without_batch_counters_loads(tmp_path):
    path = tmp_path / "old.pt"
    state = rmvpe_e2e0().state_dict()
    torch.save(cheap_state(state, drop=[k for k in state if k.endswith("num_batches_tracked")]), path)
    loaded = load_rmvpe(path)
    assert float(loaded.state_dict()["cnn.weight"].abs().sum()) == 0.0


def test_model_manager_detects_and_installs_rmvpe(rmvpe_file, tmp_path, haysay_home):
    folder = tmp_path / "drop"
    folder.mkdir()
    # the real layout, not cheap_state's broadcast views: detection refuses views far larger than the file
    shutil.copy(rmvpe_file, folder / "rmvpe.pt")
    found = detect(folder)
    assert found.architecture == "rmvpe" and found.roles == {"rmvpe.pt": "weights"}
    (folder / "rmvpe.pt").rename(folder / "pitch.pth")  # a .pth is opened rather than peeked at: same answer
    assert detect(folder).architecture == "rmvpe"
    store = ModelStore.from_env()
    installed = store.install(str(rmvpe_file), name="rmvpe")
    assert installed.architecture == "rmvpe"
    assert installed.file("weights").stat().st_size == rmvpe_file.stat().st_size
    assert rmvpe_checkpoint() == installed.file("weights")


def test_extract_f0_rmvpe_on_any_hop(rmvpe_file, speech16k):
    hop = 512 / 44100  # so-vits's grid, not RMVPE's own 10 ms
    track = extract_f0(speech16k, 16000, "rmvpe", hop_seconds=hop, checkpoint=rmvpe_file)
    assert track.times.size == int(speech16k.size / 16000 / hop) + 1
    assert np.allclose(track.hz, known_hz(), rtol=1e-3)
    with pytest.raises(ValueError, match="checkpoint: method 'rmvpe' needs the path of an rmvpe.pt"):
        extract_f0(speech16k, 16000, "rmvpe")


def test_track_f0_finds_the_checkpoint_or_says_how_to_install(rmvpe_file, speech16k, haysay_home, monkeypatch):
    monkeypatch.delenv("HAYSAY_RMVPE", raising=False)
    with pytest.raises(ValueError, match=r"f0_method: 'rmvpe' needs RVC's rmvpe\.pt.*haysay models install"):
        track_f0(speech16k, 16000, "rmvpe", 0.01, 50)
    monkeypatch.setenv("HAYSAY_RMVPE", str(rmvpe_file.parent / "missing.pt"))
    with pytest.raises(ValueError, match="HAYSAY_RMVPE names .*missing.pt, which is not a file"):
        track_f0(speech16k, 16000, "rmvpe", 0.01, 50)
    monkeypatch.setenv("HAYSAY_RMVPE", str(rmvpe_file))
    hz = track_f0(speech16k, 16000, "rmvpe", 0.01, 50)
    assert hz.shape == (50,) and np.allclose(hz, known_hz(), rtol=1e-3)


def test_pitch_node_offers_rmvpe_once_installed(rmvpe_file, monkeypatch, haysay_home):
    from haysay.graph_engine.contract import default_registry
    from haysay.nodes.tts.espeak import synthesize_espeak

    spec = default_registry()["analysis.pitch"]
    speech = synthesize_espeak("A short phrase to track.")
    monkeypatch.delenv("HAYSAY_RMVPE", raising=False)
    with pytest.raises(ValueError, match=r"^method: 'rmvpe' needs RVC's rmvpe.pt"):
        spec.call({"method": "rmvpe"}, audio=speech)
    monkeypatch.setenv("HAYSAY_RMVPE", str(rmvpe_file))
    f0 = spec.call({"method": "rmvpe"}, audio=speech)["f0"]
    voiced = f0.hz[f0.hz > 0]
    assert voiced.size > 10 and np.allclose(voiced, known_hz(), rtol=1e-3)
