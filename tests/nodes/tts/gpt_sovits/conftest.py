"""Tiny random-weight GPT-SoVITS v2 files in the released layouts.

The key/shape lists in data/*_layout.json are the state dicts of upstream's own classes at the tiny sizes
below (GPT: AR Text2SemanticDecoder under the Lightning module's `model.` prefix; SoVITS: module.models
SynthesizerTrn v2, weight-norm g/v pairs included). Weights are a deterministic function of the key, so
upstream's reference outputs in data/parity.npz (see data/README.md) were computed from the same values.
The GPT file reproduces s1_train.py's `to_save_od` ({'weight': half state dict, 'config', 'info'}); the
SoVITS file reproduces process_ckpt.savee ({'weight': half, enc_q dropped, 'config', 'info'}) with the
config as a plain dict (upstream pickles utils.HParams; that form was checked against upstream's own file).
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"
EOS_GAIN = 3.0  # the EOS row of ar_predict_layer is scaled so greedy decoding ends within ~1-2 s of tokens

GPT_CONFIG = {"train": {"seed": 1234}, "data": {"max_sec": 54, "pad_val": 1024},
              "model": {"vocab_size": 1025, "phoneme_vocab_size": 732, "embedding_dim": 64, "hidden_dim": 64,
                        "head": 4, "linear_units": 256, "n_layer": 2, "dropout": 0, "EOS": 1024,
                        "random_bert": 0}, "inference": {"top_k": 15}}
SOVITS_CONFIG = {"train": {"segment_size": 20480},
                 "data": {"max_wav_value": 32768.0, "sampling_rate": 32000, "filter_length": 2048, "hop_length": 640,
                          "win_length": 2048, "n_mel_channels": 128, "mel_fmin": 0.0, "mel_fmax": None,
                          "n_speakers": 300},
                 "model": {"inter_channels": 192, "hidden_channels": 192, "filter_channels": 64, "n_heads": 2,
                           "n_layers": 2, "kernel_size": 3, "p_dropout": 0.1, "resblock": "1",
                           "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]],
                           "upsample_rates": [10, 8, 2, 2, 2], "upsample_initial_channel": 32,
                           "upsample_kernel_sizes": [16, 16, 8, 2, 2], "n_layers_q": 3, "use_spectral_norm": False,
                           "gin_channels": 512, "semantic_frame_rate": "25hz", "freeze_quantizer": True,
                           "version": "v2"}}


def weight_for(key: str, shape: list[int]) -> torch.Tensor:
    """A deterministic tensor for one state-dict entry, scaled so activations stay O(1)."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    r = torch.randn(shape, generator=g)
    last = key.rsplit(".", 1)[-1]
    if last in ("inited", "cluster_size", "alpha") or last == "embed_avg":
        return torch.ones(shape)
    if last == "embed":
        return r
    if last == "weight_g":
        return 1.0 + 0.1 * r.abs()
    if len(shape) <= 1:
        is_scale = last in ("gamma",) or (last == "weight" and ("norm" in key))
        return 1.0 + 0.1 * r if is_scale else 0.1 * r
    fan_in = int(np.prod(shape[1:])) if not key.startswith(("dec.ups",)) else int(shape[0] * shape[2])
    w = r / max(1.0, fan_in) ** 0.5
    if key == "model.ar_predict_layer.weight":
        w[GPT_CONFIG["model"]["EOS"]] *= EOS_GAIN
    return w


def state_from_layout(name: str) -> dict[str, torch.Tensor]:
    layout = json.loads((DATA / f"{name}_layout.json").read_text())
    return {k: weight_for(k, shape) for k, shape in layout.items()}


def write_gpt(path: Path, state: dict | None = None, config: dict | None = None) -> Path:
    state = state_from_layout("gpt") if state is None else state
    torch.save({"weight": {k: v.half() for k, v in state.items()}, "config": config or GPT_CONFIG,
                "info": "GPT-e1"}, path)
    return path


def write_sovits(path: Path, state: dict | None = None, config: dict | None = None, header: bytes = b"") -> Path:
    state = state_from_layout("sovits") if state is None else state
    torch.save({"weight": {k: v.half() for k, v in state.items() if "enc_q" not in k},
                "config": config or SOVITS_CONFIG, "info": "1epoch_1iteration"}, path)
    if header:  # process_ckpt.my_save2: the version bytes replace the zip's "PK"
        path.write_bytes(header + path.read_bytes()[2:])
    return path


@pytest.fixture(scope="session")
def gs_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt_sovits")
    return write_gpt(root / "tiny-e1.ckpt"), write_sovits(root / "tiny_e1_s1.pth")


def parity_inputs() -> tuple[torch.Tensor, np.ndarray]:
    """The fixed inputs of data/parity.npz: HuBERT-shaped features (1, 768, 150) and a 3 s 32 kHz reference."""
    ssl = torch.randn(1, 768, 150, generator=torch.Generator().manual_seed(7))
    t = np.arange(3 * 32000) / 32000
    tone = 0.4 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return ssl, (tone + 0.02 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2  # HuBERT's 320-sample stride, narrow


@pytest.fixture(scope="session")
def gs_hubert(tmp_path_factory):
    """A 768-wide, 2-layer HuBERT saved as a transformers HubertModel folder (chinese-hubert-base's form)."""
    from haysay.nodes.vc.content.checkpoint import save_transformers_folder
    from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig

    torch.manual_seed(5)
    enc = ContentEncoder(HubertConfig(embed_dim=768, num_layers=2, num_heads=12, ff_dim=64, conv_layers=TINY_CONV,
                                      pos_conv_kernel=8, pos_conv_groups=16, final_proj_dim=None)).eval()
    folder = tmp_path_factory.mktemp("hubert") / "chinese-hubert-base"
    save_transformers_folder(folder, enc)
    return folder


def voice(seconds: float = 3.5, f0: float = 150.0, rate: int = 16000, bright: float = 0.5) -> np.ndarray:
    """A vowel-like harmonic tone with a slow vibrato (the reference voice)."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    y = sum((bright ** k) * np.sin(k * phase) for k in range(1, 12))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def pickled_hparams(config: dict):
    """`config` as upstream's utils.HParams (nested), pickled under that name: how s2_train hands `hps` to
    process_ckpt.savee. The class lives in a throwaway `utils` module only while the file is written."""
    import types

    module = types.ModuleType("utils")

    class HParams:  # upstream's: attributes from kwargs, dicts nested as HParams
        def __init__(self, **kw):
            for k, v in kw.items():
                setattr(self, k, HParams(**v) if isinstance(v, dict) else v)

    HParams.__module__, HParams.__qualname__ = "utils", "HParams"
    module.HParams = HParams
    return module, HParams(**config)


def write_sovits_hparams(path: Path) -> Path:
    import sys

    module, hps = pickled_hparams(SOVITS_CONFIG)
    saved = sys.modules.get("utils")
    sys.modules["utils"] = module
    try:
        return write_sovits(path, config=hps)
    finally:
        if saved is None:
            del sys.modules["utils"]
        else:
            sys.modules["utils"] = saved


BERT_CHARS = "你好今天气很我们说中文的一不是"  # the rest of a text's characters tokenize to [UNK], one each


def write_bert(folder: Path, seed: int = 3) -> Path:
    """A tiny random BertForMaskedLM at chinese-roberta-wwm-ext-large's width (1024), three layers so the
    third-last hidden state is a layer's output, saved with transformers' save_pretrained (safetensors) and
    a BertTokenizer over a small character vocabulary."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"!?…,.-", *BERT_CHARS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=1024, num_hidden_layers=3,
                                       num_attention_heads=4, intermediate_size=64, max_position_embeddings=256))
    model.save_pretrained(folder)
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def gs_bert(tmp_path_factory):
    return write_bert(tmp_path_factory.mktemp("bert") / "chinese-roberta-wwm-ext-large")
