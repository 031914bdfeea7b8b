"""so-vits-svc 4.1 shallow diffusion: loading `diffusion/model_*.pt` + config.yaml and every sampler.

Measured against upstream 4.1-Stable itself (outside CI, its code is not in the repo): upstream's own
`Unit2Mel` (3 layers, 32 channels, 3 speakers, pitch aug, 128 mels) with random weights, saved by
`torch.save({"global_step", "model": state_dict})`, loaded by upstream's `load_model_vocoder` and by
`load_diffusion`; torch.randn/randn_like patched in both to zeros or to shape-keyed draws. relL2 of the
mel, haysay vs upstream, k_step 100/50/300 with speedup 10/10/25:
dpm-solver++ 4.3e-8..1.8e-7, dpm-solver 3.5e-8..1.1e-7, unipc 4.2e-8..1.3e-7, ddim 2.7e-8..8.1e-8,
pndm 3.7e-8..1.0e-7, plain DDPM (speedup 1, k_step 30) 3.3e-8; the default Svc.infer path (config's
dpm-solver++/10, k_step 100) 9.0e-8 on the mel and 3.4e-8 on the vocoded audio; only_diffusion
(no mel, 1000 steps / 100) 2.7e-7; a 1-speaker k_step_max=100 model with unipc 7.2e-8; `refine_audio`
vs upstream's extract -> diffusion -> vocoder block 3.4e-8. For scale:
changing the sampler (dpm-solver++ -> ddim) moves the mel by 1.6e-2, the speaker by 9e-3.
Per-frame speaker-mix weights are not compared: upstream's own diffusion spk_mix path fails
(`init_spkmix` reads a missing `hidden_size`; the per-frame sum has mismatched shapes).
Files here come from the writers in conftest.py, whose output upstream's loader accepts (strict keys).
"""
from __future__ import annotations

import os

import pytest
import torch

from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.diffusion import shallow_diffusion
from haysay.nodes.vc.sovits.diffusion_checkpoint import load_diffusion
from haysay.nodes.vc.sovits.diffusion_sampling import SAMPLERS

from .conftest import write_diffusion

FRAMES = 40


def _inputs(seed: int = 0, units: int = 24):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(FRAMES, dtype=torch.float32)
    mel = -6 + 2 * torch.sin(t / 7)[None, :, None] + torch.linspace(-2, 2, 128)[None, None]  # within [-12, 2]
    return (mel, torch.randn(1, FRAMES, units, generator=g), 220 * (1 + 0.1 * torch.sin(t / 5))[None],
            0.2 + 0.1 * torch.rand(1, FRAMES, generator=g))


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_diffusion(write_diffusion(tmp_path_factory.mktemp("diffusion")))


def test_loads_with_its_config(model):
    assert (model.method, model.speedup, model.sample_rate, model.block_size) == ("dpm-solver++", 10, 44100, 512)
    assert model.encoder == "vec768l12" and model.speakers == {"nyaru": 0, "twilight": 1}
    assert model.vocoder_type == "nsf-hifigan" and model.net.k_step_max == 1000
    assert model.net.config.mel_bins == 128 and model.net.aug_shift_embed is not None


def test_config_beside_the_model_is_the_default(tmp_path):
    path = write_diffusion(tmp_path / "diffusion")
    assert load_diffusion(path).net.config.units == 24


@pytest.mark.parametrize("method", SAMPLERS)
def test_every_sampler_refines_the_mel_deterministically(model, method):
    mel, units, f0, vol = _inputs()
    runs = [shallow_diffusion(model, mel, units, f0, vol, 1, 100, method, 10, torch.Generator().manual_seed(s))
            for s in (3, 3, 4)]
    assert runs[0].shape == mel.shape and torch.isfinite(runs[0]).all()
    assert torch.equal(runs[0], runs[1])
    assert 1e-4 < _rel(runs[0], runs[2]) and 0.01 < _rel(runs[0], mel) < 1.0


def test_k_step_zero_is_identity_and_more_steps_move_further(model):
    mel, units, f0, vol = _inputs()
    assert torch.equal(shallow_diffusion(model, mel, units, f0, vol, 0, 0), mel)
    moved = [_rel(shallow_diffusion(model, mel, units, f0, vol, 0, k, "ddim", 10, torch.Generator().manual_seed(1)), mel)
             for k in (20, 100, 400)]
    assert moved[0] < moved[1] < moved[2]


def _scheduled(model, k):
    ac = model.net.decoder.alphas_cumprod.double()
    return ac[0], ac[k - 1]


@pytest.mark.parametrize("method", ["dpm-solver++", "dpm-solver", "unipc", "ddim"])
def test_a_denoiser_that_sees_no_noise_gives_the_closed_form(tmp_path, method):
    """With the output conv zeroed (upstream's init) the predicted noise is 0, so the ODE keeps x/alpha fixed:
    the result is the diffused start scaled by alpha(end)/alpha(start) - checks schedule, solver and scaling."""
    dm = load_diffusion(write_diffusion(tmp_path / "d", zero_denoiser=True))
    mel, units, f0, vol = _inputs()
    k, speedup = 100, 10
    got = shallow_diffusion(dm, mel, units, f0, vol, 1, k, method, speedup, torch.Generator().manual_seed(9))
    noise = torch.randn((1, 1, 128, FRAMES), generator=torch.Generator().manual_seed(9)).double()
    ac0, ack = _scheduled(dm, k)
    x0 = ((mel.double() + 12) / 14 * 2 - 1).transpose(1, 2)[:, None]
    start = ack.sqrt() * x0 + (1 - ack).sqrt() * noise
    # DDIM begins at the top stride (step 90 for 100/10), one stride below where the mel was diffused to
    top = dm.net.decoder.alphas_cumprod.double()[((k - 1) // speedup) * speedup] if method == "ddim" else ack
    want = (start * ac0.sqrt() / top.sqrt()).squeeze(1).transpose(1, 2)
    want = (want + 1) / 2 * 14 - 12
    assert _rel(got.double(), want) < 2e-5


def test_speakers_and_mixes(model):
    mel, units, f0, vol = _inputs()
    run = lambda spk: shallow_diffusion(model, mel, units, f0, vol, spk, 100, generator=torch.Generator().manual_seed(0))
    a, b = run(0), run(1)
    assert _rel(a, b) > 1e-3
    assert _rel(run(torch.tensor([1.0, 0.0])), a) < 1e-6
    half = run(torch.tensor([0.5, 0.5]))
    assert _rel(half, a) > 1e-4 and _rel(half, b) > 1e-4
    assert _rel(run(torch.tensor([[0.5, 0.5]]).expand(FRAMES, 2)), half) < 1e-6  # per-frame weights
    switch = torch.zeros(FRAMES, 2)
    switch[:20, 0], switch[20:, 1] = 1.0, 1.0
    assert _rel(run(switch)[:, :20], a[:, :20]) < 0.2 * _rel(b[:, :20], a[:, :20])


def test_only_diffusion_from_noise_and_shallow_only_models(tmp_path, model):
    mel, units, f0, vol = _inputs()
    out = shallow_diffusion(model, None, units, f0, vol, 0, 100, "dpm-solver++", 100, torch.Generator().manual_seed(0))
    assert out.shape == mel.shape and torch.isfinite(out).all()
    shallow = load_diffusion(write_diffusion(tmp_path / "s", k_step_max=100, n_spk=1))
    with pytest.raises(ValueError, match="shallow diffusion only"):
        shallow_diffusion(shallow, None, units, f0, vol)
    with pytest.raises(ValueError, match="k_step 101 is beyond the 100"):
        shallow_diffusion(shallow, mel, units, f0, vol, 0, 101)
    assert shallow_diffusion(shallow, mel, units, f0, vol, 0, 100).shape == mel.shape


def test_bad_arguments_are_named(model):
    mel, units, f0, vol = _inputs()
    with pytest.raises(ValueError, match="unknown diffusion sampler 'euler'"):
        shallow_diffusion(model, mel, units, f0, vol, 0, 100, "euler")
    with pytest.raises(ValueError, match="at least 2 solver steps"):
        shallow_diffusion(model, mel, units, f0, vol, 0, 15, "dpm-solver++", 10)
    with pytest.raises(ValueError, match="speaker id 2 is outside this diffusion model's 2 speakers"):
        shallow_diffusion(model, mel, units, f0, vol, 2, 100)
    with pytest.raises(ValueError, match="40 frames but the units 39"):
        shallow_diffusion(model, mel, units[:, :39], f0[:, :39], vol[:, :39], 0, 100)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_hostile_or_wrong_files_are_refused(tmp_path, monkeypatch):
    path = write_diffusion(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    torch.save({"global_step": 1, "model": {"x": _Evil()}}, tmp_path / "d" / "evil.pt")
    with pytest.raises(CheckpointError, match="refers to (posix|nt).system"):
        load_diffusion(tmp_path / "d" / "evil.pt", path.parent / "config.yaml")
    assert not (tmp_path / "pwned.txt").exists()
    (tmp_path / "d" / "tagged.yaml").write_text("data: !!python/object/apply:os.system ['echo pwned > pwned.txt']\n"
                                                "model: {}\n")
    with pytest.raises(CheckpointError, match="not a readable YAML config"):
        load_diffusion(path, tmp_path / "d" / "tagged.yaml")
    assert not (tmp_path / "pwned.txt").exists()
    torch.save({"generator": {}}, tmp_path / "d" / "voc.pt")
    with pytest.raises(CheckpointError, match="no `model` state dict"):
        load_diffusion(tmp_path / "d" / "voc.pt", path.parent / "config.yaml")
    (tmp_path / "d" / "small.yaml").write_text((path.parent / "config.yaml").read_text().replace("n_chans: 16", "n_chans: 8"))
    with pytest.raises(CheckpointError, match="has shape .* needs"):
        load_diffusion(path, tmp_path / "d" / "small.yaml")
    with pytest.raises(CheckpointError, match="diffusion config does not exist"):
        load_diffusion(path, tmp_path / "nowhere.yaml")


def test_refine_audio_runs_the_whole_block(tmp_path, model):
    from haysay.nodes.vc.sovits.diffusion import refine_audio
    from haysay.nodes.vc.sovits.diffusion_checkpoint import load_nsf_hifigan

    from .conftest import write_nsf_hifigan

    vocoder = load_nsf_hifigan(write_nsf_hifigan(tmp_path / "nsf"))
    hop = vocoder.hop_size
    t = torch.arange(FRAMES * hop) / 44100
    audio = (0.4 * torch.sin(2 * torch.pi * 220 * t))[None]
    _, units, f0, vol = _inputs()
    out = refine_audio(model, vocoder, audio, 44100, units, f0, vol, 1, 100, generator=torch.Generator().manual_seed(0))
    assert out.shape == audio.shape and torch.isfinite(out).all()
    assert torch.equal(refine_audio(model, vocoder, audio, 44100, units, f0, vol, 1, 0,
                                    generator=torch.Generator().manual_seed(0)),
                       vocoder.infer(vocoder.extract_mel(audio, 44100), f0, torch.Generator().manual_seed(0)))


def test_half_precision_inputs_and_a_config_without_unit_size(tmp_path, model):
    mel, units, f0, vol = _inputs()
    full = shallow_diffusion(model, mel, units, f0, vol, 1, 100, generator=torch.Generator().manual_seed(0))
    half = shallow_diffusion(model, mel.half(), units.half(), f0.half(), vol.half(), 1, 100,
                             generator=torch.Generator().manual_seed(0))
    assert half.dtype == torch.float32 and _rel(half, full) < 1e-2
    path = write_diffusion(tmp_path / "d")
    text = "".join(line for line in (path.parent / "config.yaml").read_text().splitlines(keepends=True)
                   if "encoder_out_channels" not in line)
    (path.parent / "config.yaml").write_text(text)
    with pytest.raises(CheckpointError, match="the config lacks encoder_out_channels"):
        load_diffusion(path)
