"""Tiny TalkNet characters written as upstream writes them.

Each `.nemo` reproduces NeMo's ModelPT.save_to layout (`_make_nemo_file_from_folder`: a gzipped tar of
"." holding model_config.yaml, saved by OmegaConf with resolve=True, and model_weights.ckpt, torch.save of
the state dict with NeMo's key names, the spectrogram model's preprocessor buffers included). The
vocoder is a jik876/hifi-gan `g_*` checkpoint as its train.py saves it ({'generator': state_dict} with
weight-norm g/v pairs), with a config.json beside it as hifi-gan's training folder has.
"""
from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path

import torch
import yaml

from haysay.nodes.tts.talknet.models import KINDS, Vocab, check_encoder
from haysay.nodes.tts.talknet.vocoder import HifiConfig, _generator
from haysay.nodes.vc.safe_load import split_weight_norm

VOCAB = {"notation": "phonemes", "punct": True, "spaces": True, "stresses": False, "add_blank_at": "last"}
TINY_HIFI = HifiConfig(upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8), upsample_initial_channel=32,
                       resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3, 5),))
FRAMES_PER_TOKEN = 6  # the designed duration model's rounded output for every token


def jasper(filters=(16, 32), kernel=5):
    blocks = [{"filters": filters[0], "repeat": 1, "kernel": [3], "stride": [1], "dilation": [1], "dropout": 0.1,
               "residual": True, "separable": True},
              {"filters": filters[0], "repeat": 2, "kernel": [kernel], "stride": [1], "dilation": [1],
               "dropout": 0.1, "residual": True, "separable": True, "se": True, "se_reduction_ratio": 8},
              {"filters": filters[1], "repeat": 1, "kernel": [1], "stride": [1], "dilation": [1], "dropout": 0.1,
               "residual": True}]
    return {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 16, "activation": "relu",
            "conv_mask": True, "jasper": blocks}


def config(kind: str, blocks=None) -> dict:
    cfg = {"d_char": 16, "dropout": 0.1, "separable": True, "model": blocks or jasper(),
           "train_ds": {"dataset": {"_target_": "nemo.collections.asr.data.audio_to_text.AudioToCharWithDursF0Dataset",
                                    "blanking": True, "vocab": dict(VOCAB)}}}
    if kind == "spect":
        cfg["n_mels"] = 80
        cfg["preprocessor"] = {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                               "features": 80, "n_fft": 1024, "n_window_stride": 256}
    if kind == "pitch":
        cfg["f0_mean"], cfg["f0_std"] = 178.7767791748047, 33.51659393310547
    return cfg


def write_nemo(path: Path, cfg: dict, state: dict, members: dict[str, bytes] | None = None) -> Path:
    """A .nemo as _make_nemo_file_from_folder writes it (tar "w:gz", arcname ".")."""
    buf = io.BytesIO()
    torch.save(state, buf)
    files = {"./model_config.yaml": yaml.safe_dump(cfg).encode(), "./model_weights.ckpt": buf.getvalue()}
    files.update(members or {})
    with tarfile.open(path, "w:gz") as tar:
        root = tarfile.TarInfo(".")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def network(kind: str, cfg: dict, seed: int, designed: bool) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = KINDS[kind](cfg, Vocab(**VOCAB), check_encoder(cfg, kind)).eval()
    for m in net.modules():  # non-trivial batch-norm statistics, as trained models have
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    if designed:
        with torch.no_grad():
            if kind == "durs":  # every token lasts FRAMES_PER_TOKEN frames: exp(b) - 1 = 6
                net.proj.weight.zero_()
                net.proj.bias.fill_(math.log(FRAMES_PER_TOKEN + 1))
            if kind == "pitch":  # voiced everywhere, f0 near the mean
                net.sil_proj.weight.zero_()
                net.sil_proj.bias.fill_(-10.0)
                net.body_proj.weight.mul_(0.1)
    return net


def state_of(kind: str, net: torch.nn.Module) -> dict:
    state = dict(net.state_dict())
    if kind == "spect":  # NeMo's FilterbankFeatures buffers, which the spectrogram model's state dict carries
        state["preprocessor.featurizer.window"] = torch.hann_window(1024)
        state["preprocessor.featurizer.fb"] = torch.rand(1, 80, 513)
    return state


def hifigan_checkpoint(h: HifiConfig, seed: int) -> dict:
    torch.manual_seed(seed)
    gen = _generator(h)
    state = {}
    for key, value in gen.state_dict().items():
        if key.endswith(".weight") and value.dim() == 3:  # every conv is weight-normed upstream
            g, v = split_weight_norm(value, 0)
            state[key[:-6] + "weight_g"], state[key[:-6] + "weight_v"] = g, v
        else:
            state[key] = value
    return {"generator": state, "steps": 0, "epoch": 0}


def write_character(folder: Path, designed: bool = True, seed: int = 0, hifi: HifiConfig = TINY_HIFI) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (kind, name) in enumerate((("spect", "TalkNetSpect.nemo"), ("durs", "TalkNetDurs.nemo"),
                                      ("pitch", "TalkNetPitch.nemo"))):
        cfg = config(kind)
        write_nemo(folder / name, cfg, state_of(kind, network(kind, cfg, seed + i, designed)))
    torch.save(hifigan_checkpoint(hifi, seed + 7), folder / "hifiganmodel")
    (folder / "config.json").write_text(json.dumps({**hifi.__dict__, "num_gpus": 0}))
    return folder


# the `character` fixture is in tests/nodes/tts/conftest.py, shared with the TTS conformance suite
