"""Self-written fixtures in upstream so-vits-svc 4.1's file layouts, with small random weights.

The layouts were checked against files written by upstream's own classes and save calls (see the module
docstrings of the tests): a diffusion `model_*.pt` is {"global_step", "model": Unit2Mel state dict} with
`config.yaml` beside it (upstream's template with smaller numbers); the NSF-HiFiGAN `model` is
{"generator": state dict, convs weight-normed as weight_g/weight_v} with `config.json` beside it; the
feature index is pickle.dump({speaker id: faiss index}).
"""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from haysay.nodes.vc.safe_load import split_weight_norm
from haysay.nodes.vc.sovits.diffusion import DiffusionConfig, Unit2Mel
from haysay.nodes.vc.vits.nsf_hifigan import NsfHifiGanConfig, nsf_hifigan_generator

# the convs upstream's NSF-HiFiGAN wraps in weight_norm (noise_convs and the source's linear are plain)
_WEIGHT_NORMED = re.compile(r"^(conv_pre|conv_post|ups\.\d+|resblocks\.\d+\.convs[12]\.\d+)\.weight$")

NSF_CONFIG = {  # openvpi's config.json fields, smaller network; hop = prod(upsample_rates)
    "resblock": "1", "num_gpus": 0, "batch_size": 16, "learning_rate": 0.0002, "adam_b1": 0.8, "adam_b2": 0.99,
    "lr_decay": 0.999, "seed": 1234, "upsample_rates": [4, 4, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4],
    "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 7], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "discriminator_periods": [3, 5, 7, 11, 17], "segment_size": 16384, "num_mels": 128, "num_freq": 1025,
    "n_fft": 2048, "hop_size": 64, "win_size": 2048, "sampling_rate": 44100, "fmin": 40, "fmax": 16000,
    "fmax_for_loss": None, "num_workers": 4,
}

DIFFUSION_CONFIG = {  # upstream's configs_template/diffusion_template.yaml, smaller model
    "data": {"sampling_rate": 44100, "block_size": 512, "duration": 2, "encoder": "vec768l12", "cnhubertsoft_gate": 10,
             "encoder_sample_rate": 16000, "encoder_hop_size": 320, "encoder_out_channels": 24,
             "training_files": "filelists/train.txt", "validation_files": "filelists/val.txt",
             "extensions": ["wav"], "unit_interpolate_mode": "nearest"},
    "model": {"type": "Diffusion", "n_layers": 2, "n_chans": 16, "n_hidden": 12, "use_pitch_aug": True,
              "timesteps": 1000, "k_step_max": 0, "n_spk": 2},
    "device": "cuda",
    "vocoder": {"type": "nsf-hifigan", "ckpt": "pretrain/nsf_hifigan/model"},
    "infer": {"speedup": 10, "method": "dpm-solver++"},
    "env": {"expdir": "logs/44k/diffusion", "gpu_id": 0},
    "train": {"num_workers": 4, "amp_dtype": "fp32", "batch_size": 48, "lr": 0.0001},
    "spk": {"nyaru": 0, "twilight": 1},
}


def write_nsf_hifigan(folder: Path, seed: int = 0, config: dict | None = None) -> Path:
    """pretrain/nsf_hifigan/{model, config.json} with random weights; returns the folder."""
    config = config or NSF_CONFIG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    torch.manual_seed(seed)
    gen = nsf_hifigan_generator(NsfHifiGanConfig.from_dict(config))
    state = {}
    with torch.no_grad():
        for key, value in gen.state_dict().items():
            value = torch.randn_like(value) * (0.15 if value.dim() > 1 else 0.05)
            if _WEIGHT_NORMED.match(key):
                g, v = split_weight_norm(value)
                state[key[:-len("weight")] + "weight_g"], state[key[:-len("weight")] + "weight_v"] = g, v
            else:
                state[key] = value
    torch.save({"generator": state}, folder / "model")
    return folder


def write_diffusion(folder: Path, seed: int = 0, zero_denoiser: bool = False, **model) -> Path:
    """diffusion/{model_100.pt, config.yaml}; `zero_denoiser` zeroes the output conv (upstream's own init),
    so the network predicts no noise at all. Returns the checkpoint path."""
    import yaml

    cfg = json.loads(json.dumps(DIFFUSION_CONFIG))
    cfg["model"].update(model)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    m = cfg["model"]
    torch.manual_seed(seed)
    net = Unit2Mel(DiffusionConfig(cfg["data"]["encoder_out_channels"], m["n_spk"], m["use_pitch_aug"], 128,
                                   m["n_layers"], m["n_chans"], m["n_hidden"], m["timesteps"], m["k_step_max"]))
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn_like(p) * (0.2 if p.dim() > 1 else 0.05))
            if zero_denoiser and name.startswith("decoder.denoise_fn.output_projection"):
                p.zero_()
    path = folder / "model_100.pt"
    torch.save({"global_step": 100, "model": net.state_dict()}, path)
    return path


def write_feature_index(path: Path, features: dict[int, np.ndarray]) -> Path:
    """feature_and_index.pkl as upstream's train_index.py writes it (IVF-flat per speaker, nprobe 1)."""
    import faiss

    result = {}
    for spk, x in features.items():
        n_ivf = max(1, min(int(16 * np.sqrt(x.shape[0])), x.shape[0] // 39))
        index = faiss.index_factory(x.shape[1], f"IVF{n_ivf},Flat")
        faiss.extract_index_ivf(index).nprobe = 1
        index.train(x)
        index.add(x)
        result[spk] = index
    with open(path, "wb") as fh:
        pickle.dump(result, fh)
    return path


@pytest.fixture(scope="module")
def nsf_folder(tmp_path_factory) -> Path:
    return write_nsf_hifigan(tmp_path_factory.mktemp("pretrain") / "nsf_hifigan")
