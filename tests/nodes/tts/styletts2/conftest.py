"""Tiny StyleTTS 2 model folders in the layout upstream writes.

The checkpoint is what yl4579/StyleTTS2 train_second.py's save code writes:
`torch.save({'net': {key: model[key].state_dict() for key in model}, 'optimizer': optimizer.state_dict(),
'iters', 'val_loss', 'epoch'}, 'epoch_2nd_%05d.pth')`, with every module wrapped in its MyDataParallel
(keys prefixed `module.`) when `data_parallel`; the released name is epochs_2nd_*.pth. Its layers carry
upstream's parametrisations: torch's weight_norm (weight_g, weight_v) on the text encoder's, predictor's
and decoder's convs (not F0_proj, N_proj, noise_convs), spectral_norm (weight_orig, weight_u, weight_v)
on the style encoders' Conv2d. data/upstream_layout_libritts.json lists the keys and shapes of a file
upstream's own build_model + that save code wrote for the same config (see data/README.md); the
layout test checks these fixtures against it. The training-only modules (text_aligner, pitch_extractor,
discriminators) are stood in by one small tensor each: inference never reads them.
Weights are random (seeded), the duration head biased to about 2.4 frames per token to keep audio short.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

DATA = Path(__file__).parent / "data"
_PLAIN_CONVS = ("F0_proj", "N_proj", "noise_convs")


def tiny_config(multispeaker: bool, decoder: str) -> dict:
    """Upstream's Configs/config_libritts.yml (hifigan) or config.yml (istftnet), narrowed where the code
    lets a config narrow it (hidden_dim and the decoder front stay at upstream's fixed 512/1024)."""
    dec = {"type": decoder, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]],
           "upsample_initial_channel": 512}
    if decoder == "hifigan":
        dec.update(upsample_rates=[10, 5, 3, 2], upsample_kernel_sizes=[20, 10, 6, 4])
    else:
        dec.update(upsample_rates=[10, 6], upsample_kernel_sizes=[20, 12], gen_istft_n_fft=20, gen_istft_hop_size=5)
    return {"PLBERT_dir": "Utils/PLBERT/", "ASR_path": "Utils/ASR/epoch_00080.pth", "F0_path": "Utils/JDC/bst.t7",
            "model_params": {
                "multispeaker": multispeaker, "dim_in": 16, "hidden_dim": 512, "max_conv_dim": 512, "n_layer": 1,
                "n_mels": 80, "n_token": 178, "max_dur": 50, "style_dim": 128, "dropout": 0.2, "decoder": dec,
                "diffusion": {"embedding_mask_proba": 0.1,
                              "transformer": {"num_layers": 1, "num_heads": 2, "head_features": 16, "multiplier": 2},
                              "dist": {"sigma_data": 0.19, "estimate_sigma_data": True, "mean": -3.0, "std": 1.0}}}}


PLBERT = {"model_params": {"vocab_size": 178, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128,
                           "max_position_embeddings": 512, "num_hidden_layers": 2, "dropout": 0.1}}


def upstream_layout(name: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`module`'s plain weights re-expressed with upstream's weight/spectral norms (see module docstring)."""
    from haysay.nodes.vc.safe_load import split_weight_norm

    state = dict(module.state_dict())
    for path, layer in module.named_modules():
        key = f"{path}.weight" if path else "weight"
        if name in ("style_encoder", "predictor_encoder") and isinstance(layer, torch.nn.Conv2d):
            w = state.pop(key)
            v = torch.nn.functional.normalize(torch.randn(w[0].numel()), dim=0)
            u = torch.nn.functional.normalize(w.reshape(w.shape[0], -1) @ v, dim=0)
            # eval mode uses weight_orig / (u . W v) with the stored u, v (power iteration runs in training)
            state[f"{path}.weight_orig"], state[f"{path}.weight_u"], state[f"{path}.weight_v"] = w, u, v
        elif name in ("text_encoder", "predictor", "decoder") and isinstance(layer, (torch.nn.Conv1d,
                                                                                     torch.nn.ConvTranspose1d)) \
                and not any(p in path for p in _PLAIN_CONVS):
            g, v = split_weight_norm(state.pop(key), dim=0)
            state[f"{path}.weight_g"], state[f"{path}.weight_v"] = g, v
    if name == "diffusion":  # AudioDiffusionConditional registers its transformer twice
        state = {**{f"unet.{k}": v for k, v in state.items()}, **{f"diffusion.net.{k}": v for k, v in state.items()}}
    return state


def write_model(folder: Path, multispeaker: bool = True, decoder: str = "hifigan", data_parallel: bool = True,
                seed: int = 0) -> Path:
    """A released-layout folder: Models/<name>/{epochs_2nd_00001.pth, config.yml} + Utils/PLBERT/config.yml."""
    from haysay.nodes.tts.styletts2.checkpoint import factories, find_files, read_config

    model_dir = folder / "Models" / "Tiny"
    model_dir.mkdir(parents=True)
    (folder / "Utils" / "PLBERT").mkdir(parents=True)
    (model_dir / "config.yml").write_text(yaml.safe_dump(tiny_config(multispeaker, decoder)))
    (folder / "Utils" / "PLBERT" / "config.yml").write_text(yaml.safe_dump(PLBERT))
    torch.save({}, model_dir / "epochs_2nd_00001.pth")  # placeholder so find_files sees the folder
    cfg = read_config(find_files(model_dir))
    torch.manual_seed(seed)
    net = {}
    for name, factory in factories(cfg).items():
        module = factory()
        with torch.no_grad():
            for p in module.parameters():
                p.add_(torch.randn_like(p) * 0.02)
            if name == "predictor":
                module.duration_proj.linear_layer.bias.fill_(-3.0)
        net[name] = upstream_layout(name, module)
    for name in ("text_aligner", "pitch_extractor", "mpd", "msd", "wd"):
        net[name] = {"stand_in.weight": torch.zeros(2)}
    if data_parallel:
        net = {name: {f"module.{k}": v for k, v in state.items()} for name, state in net.items()}
    optimizer = [(name, {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]}) for name in net]
    torch.save({"net": net, "optimizer": optimizer, "iters": 10, "val_loss": 0.5, "epoch": 1},
               model_dir / "epochs_2nd_00001.pth")
    return model_dir


def espeak_clip(text: str, voice: str, pitch: int, rate: int = 24000):
    """Real speech (espeak-ng) as Audio at `rate`."""
    import soxr

    from haysay.graph_engine.values import Audio
    from haysay.nodes.tts.espeak import synthesize_espeak

    a = synthesize_espeak(text, voice, pitch=pitch)
    y = soxr.resample(a.mono().astype(np.float64), a.sample_rate, rate, quality="HQ").astype(np.float32)
    return Audio.from_mono(y, rate)


# the fixtures (libritts_model, ljspeech_model, voices) are in tests/nodes/tts/conftest.py, shared with the
# TTS conformance suite
