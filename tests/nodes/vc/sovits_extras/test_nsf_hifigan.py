"""The standalone NSF-HiFiGAN vocoder (pretrain/nsf_hifigan) that shallow diffusion and the enhancer use.

Measured against upstream 4.1-Stable itself (outside CI): upstream's `vdecoder.nsf_hifigan` Generator
(upsample 4-4-2-2, 64 channels, 128 mels, 44.1 kHz) with random weights saved as {"generator": state}
+ config.json, run through upstream's `diffusion.vocoder.Vocoder` and through `load_nsf_hifigan`, with
torch.rand/randn patched to zeros or shape-keyed draws in both. relL2 haysay vs upstream: mel of a
44.1 kHz tone and of a 16 kHz tone resampled first both 0 (bit-identical); vocoded audio 3.4e-8 with
either noise. The writer in conftest.py produces exactly the
key set and shapes upstream's Generator saves.
"""
from __future__ import annotations

import json
import os

import librosa
import numpy as np
import pytest
import torch

from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.diffusion_checkpoint import load_nsf_hifigan
from haysay.nodes.vc.vits.nsf_hifigan import LOG10_E, log_mel, vocoder_sine_source

from .conftest import NSF_CONFIG

SR = 44100


def _tone(freq: float, seconds: float = 0.5, rate: int = SR) -> torch.Tensor:
    t = np.arange(int(seconds * rate)) / rate
    return torch.from_numpy((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))[None]


@pytest.fixture(scope="module")
def vocoder(nsf_folder):
    return load_nsf_hifigan(nsf_folder)


def test_loads_from_folder_or_model_file(nsf_folder, vocoder):
    again = load_nsf_hifigan(nsf_folder / "model")
    assert (vocoder.sample_rate, vocoder.hop_size) == (SR, 64)
    for a, b in zip(vocoder.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_mel_frames_and_where_a_tone_lands(vocoder):
    audio = _tone(1000.0)
    mel = vocoder.extract_mel(audio, SR)
    assert mel.shape == (1, audio.shape[1] // 64, 128)
    centres = librosa.mel_frequencies(130, fmin=40, fmax=16000)[1:-1]
    assert abs(int(mel[0].mean(0).argmax()) - int(np.abs(centres - 1000).argmin())) <= 1
    assert float(mel.min()) >= np.log(1e-5) - 1e-4  # clipped floor
    # a 16 kHz input is resampled first: same length in seconds, same peak
    mel16 = vocoder.extract_mel(_tone(1000.0, rate=16000), 16000)
    assert abs(mel16.shape[1] - mel.shape[1]) <= 1 and int(mel16[0].mean(0).argmax()) == int(mel[0].mean(0).argmax())


def test_keyshift_moves_the_analysis_up(vocoder):
    audio = _tone(1000.0)
    plain, shifted = log_mel(audio, vocoder.cfg), log_mel(audio, vocoder.cfg, keyshift=12)
    assert plain.shape == shifted.shape
    assert int(shifted[0].mean(1).argmax()) > int(plain[0].mean(1).argmax())  # longer window, higher bin


def test_infer_length_determinism_and_log10_variant(nsf_folder, vocoder):
    mel = vocoder.extract_mel(_tone(220.0), SR)
    f0 = torch.full((1, mel.shape[1] + 3), 220.0)  # longer f0 is cut to the mel, as upstream does
    a = vocoder.infer(mel, f0, torch.Generator().manual_seed(1))
    b = vocoder.infer(mel, f0, torch.Generator().manual_seed(1))
    c = vocoder.infer(mel, f0, torch.Generator().manual_seed(2))
    assert a.shape == (1, mel.shape[1] * 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.abs().max()) <= 1.0 and float(a.std()) > 1e-3
    log10 = load_nsf_hifigan(nsf_folder, vocoder_type="nsf-hifigan-log10")
    d = log10.infer(mel / LOG10_E, f0, torch.Generator().manual_seed(1))
    assert float((d - a).abs().max()) < 1e-4


def test_sine_source_pitch_and_unvoiced_noise():
    f0 = torch.full((1, 200), 441.0)
    f0[:, 100:] = 0.0
    src = vocoder_sine_source(f0, 64, SR, generator=torch.Generator().manual_seed(0))
    assert src.shape == (1, 200 * 64, 9)
    voiced = src[0, :100 * 64].numpy()
    for h in (0, 1, 4):
        spec = np.abs(np.fft.rfft(voiced[:, h]))
        assert abs(spec.argmax() * SR / voiced.shape[0] - 441.0 * (h + 1)) < 5
    assert abs(float(src[0, 100 * 64:, 0].std()) - 0.1 / 3) < 0.003  # unvoiced: noise at sine_amp / 3


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_missing_or_hostile_files(tmp_path, monkeypatch, nsf_folder):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").write_bytes((nsf_folder / "model").read_bytes())
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_nsf_hifigan(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"sampling_rate": 44100}))
    with pytest.raises(CheckpointError, match="lacks num_mels"):
        load_nsf_hifigan(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(NSF_CONFIG))
    torch.save({"generator": {"conv_pre.weight": _Evil()}}, tmp_path / "model")
    with pytest.raises(CheckpointError, match="refers to (posix|nt).system"):
        load_nsf_hifigan(tmp_path)
    assert not (tmp_path / "pwned.txt").exists()
    torch.save({"model": {}}, tmp_path / "model")
    with pytest.raises(CheckpointError, match="no `generator` state dict"):
        load_nsf_hifigan(tmp_path)
    with pytest.raises(CheckpointError, match="vocoder type 'wavenet' is unknown"):
        load_nsf_hifigan(nsf_folder, vocoder_type="wavenet")
    cfg = dict(NSF_CONFIG, upsample_initial_channel=16)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model").write_bytes((nsf_folder / "model").read_bytes())
    with pytest.raises(CheckpointError, match="has shape"):
        load_nsf_hifigan(tmp_path)
