"""Tiny models in the real upstream file formats, and real speech, for the adapter conformance suite."""
from __future__ import annotations

import argparse
import enum
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from haysay.nodes.vc.content.checkpoint import fairseq_model_config, fairseq_state_dict, save_transformers_folder
from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.content.soft import SoftHubert, encoder_state_to_soft
from haysay.nodes.vc.rvc.checkpoint import save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import RVCConfig, rvc_synthesizer

TINY_CONV = ((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2
# RVC's positional config with tiny widths; upsampling 10*10*2*2 = 400 samples per 10 ms frame at 40 kHz.
TINY_RVC = [1025, 32, 16, 16, 32, 2, 2, 3, 0, "1", [3, 5], [[1, 3], [1, 3]], [10, 10, 2, 2], 32, [16, 16, 4, 4],
            2, 8, 40000]


def make_source_transparent(dec: torch.nn.Module) -> None:
    """Set an NSF decoder's weights so its output is the (rectified) sine source itself.

    Random weights bury the source's period under the network's own; with these the
    output's measurable pitch is the f0 the pipeline drove the decoder with.
    """
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        dec.m_source.l_linear.weight[0, 0] = 1.0
        dec.noise_convs[-1].weight.fill_(1.0)
        channels = dec.conv_post.weight.shape[1]
        dec.conv_post.weight[0, :, 3] = 1.0 / channels


@pytest.fixture(scope="session")
def speech():
    """About 3 s of espeak-ng speech (22.05 kHz Audio) and the same at 16 kHz."""
    from haysay.nodes.tts.espeak import synthesize_espeak

    audio = synthesize_espeak("Hello there, this is a quick test of voice conversion.")
    return audio, soxr.resample(audio.mono().astype(np.float64), audio.sample_rate, 16000)


@pytest.fixture(scope="session")
def tiny_encoder() -> ContentEncoder:
    torch.manual_seed(1)
    return ContentEncoder(HubertConfig(embed_dim=32, num_layers=12, num_heads=4, ff_dim=64, conv_layers=TINY_CONV,
                                       pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()


def _fake_module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        value.__module__, value.__qualname__ = name, key
        setattr(mod, key, value)
    return mod


def save_fairseq_pickle(path: Path, encoder: ContentEncoder) -> Path:
    """Write the encoder as fairseq does: cfg as omegaconf DictConfig nodes, an enum, a task Dictionary,
    and argparse.Namespace args. The classes are look-alikes registered under the real module names
    for the duration of the save, so the pickle names exactly what a real checkpoint names."""

    class DictConfig:
        def __init__(self, content):
            self.__dict__["_metadata"] = Metadata(ref_type=typing_any, object_type=dict)
            self.__dict__["_content"] = {k: (v if isinstance(v, DictConfig) else AnyNode(v)) for k, v in content.items()}
            self.__dict__["_parent"] = None

        def __getstate__(self):
            return dict(self.__dict__)

    class AnyNode:
        def __init__(self, value):
            self._val, self._metadata, self._parent = value, Metadata(ref_type=typing_any, object_type=None), None

    class Metadata:
        def __init__(self, **kw):
            self.__dict__.update(kw, optional=True, key=None, flags={}, resolver_cache={})

    class Dictionary:
        def __init__(self):
            self.symbols, self.count, self.indices = ["<s>", "<pad>"], [1, 1], {"<s>": 0, "<pad>": 1}

    ExtractorMode = enum.Enum("ExtractorMode", {"default": "default", "layer_norm": "layer_norm"})
    import typing
    typing_any = typing.Any
    modules = {
        "omegaconf": _fake_module("omegaconf"),
        "omegaconf.dictconfig": _fake_module("omegaconf.dictconfig", DictConfig=DictConfig),
        "omegaconf.nodes": _fake_module("omegaconf.nodes", AnyNode=AnyNode),
        "omegaconf.base": _fake_module("omegaconf.base", Metadata=Metadata),
        "fairseq": _fake_module("fairseq"),
        "fairseq.data.dictionary": _fake_module("fairseq.data.dictionary", Dictionary=Dictionary),
        "fairseq.models.wav2vec.wav2vec2": _fake_module("fairseq.models.wav2vec.wav2vec2", ExtractorMode=ExtractorMode),
    }
    saved = {k: sys.modules.get(k) for k in modules}
    sys.modules.update(modules)
    try:
        model_cfg = fairseq_model_config(encoder)
        model_cfg["extractor_mode"] = ExtractorMode(model_cfg["extractor_mode"])
        cfg = DictConfig({"model": DictConfig(model_cfg), "task": DictConfig({"sample_rate": 16000})})
        args = argparse.Namespace(arch="hubert", encoder_layers=encoder.cfg.num_layers)
        torch.save({"args": args, "cfg": cfg, "model": fairseq_state_dict(encoder),
                    "task_state": {"dictionaries": [Dictionary()]}, "optimizer_history": []}, path)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return path


@pytest.fixture(scope="session")
def encoder_files(tiny_encoder, tmp_path_factory) -> dict[str, Path]:
    """Content encoders as fairseq pickles (with omegaconf/fairseq objects) and as transformers folders.

    "fairseq" is HuBERT-base shaped where the adapters look (12 layers, 768-dim output, final_proj to
    256) but narrow inside (tiny conv stack and feed-forward) so it runs fast; the others are tiny."""
    root = tmp_path_factory.mktemp("encoders")
    torch.manual_seed(3)
    wide = ContentEncoder(HubertConfig(embed_dim=768, num_layers=12, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                       pos_conv_kernel=8, pos_conv_groups=16, final_proj_dim=256)).eval()
    return {"fairseq": save_fairseq_pickle(root / "hubert_base.pt", wide),
            "tiny_fairseq": save_fairseq_pickle(root / "tiny_hubert.pt", tiny_encoder),
            "transformers": save_transformers_folder(root / "hf", tiny_encoder),
            "transformers_bin": save_transformers_folder(root / "hf_bin", tiny_encoder, safetensors=False)}


def tiny_rvc(version: str, f0: bool, transparent: bool = True):
    torch.manual_seed(2)
    model = rvc_synthesizer(RVCConfig.from_list(TINY_RVC), version, f0).eval()
    if f0 and transparent:
        make_source_transparent(model.dec)
    return model


@pytest.fixture(scope="session")
def rvc_files(tmp_path_factory) -> dict[tuple[str, bool], Path]:
    """RVC exports for v1/v2 with and without f0, as the WebUI writes them (fp16, positional config)."""
    root = tmp_path_factory.mktemp("rvc")
    return {(v, f0): save_rvc_checkpoint(root / f"tiny_{v}_{'f0' if f0 else 'nof0'}.pth", tiny_rvc(v, f0), v)
            for v in ("v1", "v2") for f0 in (True, False)}


def measured_f0(samples: np.ndarray, rate: int) -> float:
    """Median Praat pitch of the voiced frames (0 if none)."""
    import parselmouth

    hz = parselmouth.Sound(samples.astype(np.float64), rate).to_pitch_ac(
        pitch_floor=50, pitch_ceiling=1100).selected_array["frequency"]
    return float(np.median(hz[hz > 0])) if (hz > 0).any() else 0.0


def tiny_sovits(version: str, ssl_dim: int | None = None):
    """A tiny so-vits model; `ssl_dim` defaults to the version's usual ContentVec width (768 / 256)."""
    from haysay.nodes.vc.sovits.models import SovitsConfig, SovitsSynthesizer

    torch.manual_seed(4)
    v41 = version == "4.1"
    cfg = SovitsConfig(inter_channels=16, hidden_channels=16, filter_channels=32, n_heads=2, n_layers=2,
                       kernel_size=3, resblock_kernel_sizes=(3, 5), resblock_dilation_sizes=((1, 3), (1, 3)),
                       upsample_rates=(8, 8, 2, 2, 2), upsample_initial_channel=64,
                       upsample_kernel_sizes=(16, 16, 4, 4, 4), gin_channels=8,
                       ssl_dim=ssl_dim or (768 if v41 else 256),
                       n_speakers=3, sampling_rate=44100, vol_embedding=v41,
                       speakers={"nyaru": 0, "twilight": 1, "rarity": 2})
    model = SovitsSynthesizer(cfg).eval()
    make_source_transparent(model.dec)
    return model


@pytest.fixture(scope="session")
def sovits_files(tmp_path_factory) -> dict[str, Path]:
    """so-vits-svc 4.1 (vec768l12, volume embedding) and 4.0 (vec256l9) training outputs, plus a kmeans file."""
    from haysay.nodes.vc.sovits.checkpoint import save_sovits_files

    root = tmp_path_factory.mktemp("sovits")
    out = {}
    for version, encoder in (("4.1", "vec768l12"), ("4.0", "vec256l9")):
        weights, _ = save_sovits_files(root / version, tiny_sovits(version), version, encoder)
        out[version] = weights
    rng = np.random.default_rng(5)
    kmeans = {spk: {"n_features_in_": 768, "_n_threads": 2,
                    "cluster_centers_": rng.standard_normal((10, 768)).astype(np.float32)}
              for spk in ("nyaru", "twilight", "rarity")}
    torch.save(kmeans, root / "4.1" / "kmeans_10000.pt")
    out["kmeans"] = root / "4.1" / "kmeans_10000.pt"
    return out


V3_SPEAKERS = {"nen": 0, "paimon": 1, "yunhao": 2}


def tiny_v3(rate: int):
    """3.0's decoder and 192/256 widths are fixed upstream; the prior encoder and flow are narrow here."""
    from haysay.nodes.vc.sovits.config import SovitsConfig
    from haysay.nodes.vc.sovits.models_v3 import SovitsV3Synthesizer

    torch.manual_seed(7)
    cfg = SovitsConfig(inter_channels=192, hidden_channels=32, filter_channels=48, n_heads=2, gin_channels=256,
                       ssl_dim=256, n_speakers=3, sampling_rate=rate, use_automatic_f0_prediction=False,
                       speakers=dict(V3_SPEAKERS))
    model = SovitsV3Synthesizer(cfg).eval()
    make_source_transparent(model.dec)
    return model


@pytest.fixture(scope="session")
def v3_files(tmp_path_factory) -> dict[int, Path]:
    """so-vits-svc 3.0 folders (32k and 48k): G_*.pth as upstream 3.0's `utils.save_checkpoint` writes it
    ({"model": state dict with weight-norm g/v pairs, "iteration", "optimizer", "learning_rate"}) and the
    config.json its `preprocess_flist_config.py` writes, via haysay's `save_sovits_files(..., version="3.0")`."""
    from haysay.nodes.vc.sovits.checkpoint import save_sovits_files

    root = tmp_path_factory.mktemp("sovits3")
    return {rate: save_sovits_files(root / str(rate), tiny_v3(rate), version="3.0")[0] for rate in (32000, 48000)}


@pytest.fixture(scope="session")
def soft_file(tmp_path_factory):
    """bshall/hubert v0.1's layout (hubert-soft-0d54a1f4.pt): a bare DDP state dict."""
    torch.manual_seed(11)
    soft = SoftHubert(HubertConfig(embed_dim=48, num_layers=2, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                   pos_conv_kernel=16, pos_conv_groups=4, final_proj_dim=256)).eval()
    state = encoder_state_to_soft(soft)
    state["label_embedding.weight"] = torch.randn(100, 256)
    path = tmp_path_factory.mktemp("soft") / "hubert-soft-0d54a1f4.pt"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    return path


@pytest.fixture(scope="session")
def openvoice_files(tmp_path_factory) -> dict[str, Path]:
    """OpenVoice v2's converter folder (checkpoint.pth + config.json) and a stored target embedding, as
    upstream's ToneColorConverter save and extract_se(se_save_path=...) wrote them (tests/fixtures/openvoice)."""
    import shutil

    fix = Path(__file__).resolve().parents[3] / "fixtures" / "openvoice"
    folder = tmp_path_factory.mktemp("openvoice_v2")
    for name in ("checkpoint.pth", "config.json"):
        shutil.copy(fix / "converter" / name, folder / name)
    return {"v2": folder / "checkpoint.pth", "target": fix / "reference_se.pth"}
