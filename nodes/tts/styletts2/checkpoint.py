"""Reading released StyleTTS 2 models: `epochs_2nd_*.pth` + `config.yml`, and PL-BERT's config.yml.

Upstream's train_second.py saves `{'net': {module: state_dict}, 'optimizer', 'iters', 'val_loss',
'epoch'}` (state dicts prefixed `module.` when trained with DataParallel); the inference notebooks build
the networks from config.yml's `model_params`, PL-BERT (an ALBERT) from `<PLBERT_dir>/config.yml`, and
load each module from `net`. The ASR aligner and JDC pitch extractor the config also names are training
losses only: inference never runs them, so they are not read. PL-BERT's own step_*.t7 is not read either:
the 2nd-stage checkpoint holds the fine-tuned `bert` itself. Every file goes through safe_load.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from haysay.graph_engine.models.checkpoint_limits import read_yaml_config
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, safe_torch_load

# what inference uses of `net`; the rest (text_aligner, pitch_extractor, mpd, msd, wd) is training only
INFERENCE_MODULES = ("bert", "bert_encoder", "predictor", "decoder", "text_encoder", "predictor_encoder",
                     "style_encoder", "diffusion")
_BERT_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")  # older transformers saved them


# Utils/PLBERT/config.yml's model_params as upstream releases it (yl4579/StyleTTS2, the PL-BERT every released
# and fine-tuned model carries). A model installed without the repo (Hay Say's catalogue installs a character
# as its .pth and config.yml only, the repo's Utils/PLBERT/ staying with Hay Say's code) is read with these.
RELEASED_PLBERT = {"vocab_size": 178, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
                   "max_position_embeddings": 512, "num_hidden_layers": 12}


@dataclass(frozen=True)
class StyleTTS2Files:
    weights: Path
    config: Path
    plbert_config: Path | None  # None: no PL-BERT config.yml is installed; upstream's released one is used


@dataclass(frozen=True)
class StyleTTS2Config:
    hidden_dim: int
    style_dim: int
    dim_in: int
    n_layer: int
    n_token: int
    max_dur: int
    multispeaker: bool
    decoder: dict
    transformer: dict
    sigma_data: float
    bert: dict  # AlbertConfig arguments (PL-BERT config.yml model_params)


def find_files(path: Path) -> StyleTTS2Files:
    """The checkpoint, config.yml and PL-BERT config of a model folder (or of a checkpoint's folder).
    PL-BERT's config is looked for where config.yml's PLBERT_dir points, from the folder and from its two
    parents (a released repo keeps Models/LibriTTS/ beside Utils/PLBERT/)."""
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        weights = path
    else:
        found = sorted(folder.glob("epoch*_2nd_*.pth")) or sorted(folder.glob("*.pth"))
        if not found:
            raise CheckpointError(folder, "no epochs_2nd_*.pth (a StyleTTS 2 model folder holds the 2nd-stage "
                                          "checkpoint and its config.yml)")
        weights = found[-1]  # the latest epoch
    config = next((p for p in (folder / "config.yml", folder / "config.yaml") if p.is_file()), folder / "config.yml")
    obj = _yaml(config, "config.yml not found beside the checkpoint (upstream's Models/<name>/config.yml)")
    rel = str(obj.get("PLBERT_dir") or "Utils/PLBERT/")
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        rel = "Utils/PLBERT/"  # the trainer's own machine path: look in the released layout instead
    candidates = [base / rel / "config.yml" for base in (folder, folder.parent, folder.parent.parent)]
    candidates.append(folder / "plbert" / "config.yml")
    return StyleTTS2Files(weights, config, next((p for p in candidates if p.is_file()), None))


def _yaml(path: Path, missing: str) -> dict:
    try:
        import yaml  # noqa: F401 - read_yaml_config's parser: its absence is named here
    except ModuleNotFoundError:
        raise CheckpointError(path, "reading StyleTTS 2's YAML configs needs PyYAML: pip install pyyaml") from None

    return read_yaml_config(path, missing)


def _int(path: Path, section: dict, key: str, lo: int, hi: int, where: str = "model_params") -> int:
    v = section.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CheckpointError(path, f"config '{where}.{key}' must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _int_list(path: Path, section: dict, key: str, depth: int = 1) -> list:
    v = section.get(key)
    ok = isinstance(v, list) and v and all(
        (isinstance(x, int) and not isinstance(x, bool) and 0 < x < 4096) if depth == 1 else
        (isinstance(x, list) and x and all(isinstance(y, int) and 0 < y < 4096 for y in x)) for x in v)
    if not ok:
        raise CheckpointError(path, f"config 'model_params.decoder.{key}' must be a non-empty list of positive "
                                    f"integers{' lists' if depth == 2 else ''}, got {v!r}")
    return v


def read_config(files: StyleTTS2Files) -> StyleTTS2Config:
    """Parse and check config.yml's model_params and PL-BERT's model_params."""
    path = files.config
    obj = _yaml(path, "config.yml not found")
    mp = obj.get("model_params")
    if not isinstance(mp, dict) or not isinstance(mp.get("decoder"), dict) or not isinstance(mp.get("diffusion"), dict):
        raise CheckpointError(path, "expected model_params with decoder and diffusion sections: not a StyleTTS 2 "
                                    "config")
    dec, diff = mp["decoder"], mp["diffusion"]
    kind = dec.get("type")
    if kind not in ("istftnet", "hifigan"):
        raise CheckpointError(path, f"config 'model_params.decoder.type' must be istftnet or hifigan, got {kind!r}")
    decoder = {k: _int_list(path, dec, k) for k in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes")}
    decoder["resblock_dilation_sizes"] = _int_list(path, dec, "resblock_dilation_sizes", 2)
    decoder["upsample_initial_channel"] = _int(path, dec, "upsample_initial_channel", 2, 4096, "model_params.decoder")
    decoder["kind"] = kind
    if kind == "istftnet":
        decoder["gen_istft_n_fft"] = _int(path, dec, "gen_istft_n_fft", 4, 4096, "model_params.decoder")
        decoder["gen_istft_hop_size"] = _int(path, dec, "gen_istft_hop_size", 1, 4096, "model_params.decoder")
    if len(decoder["upsample_rates"]) != len(decoder["upsample_kernel_sizes"]) or \
            len(decoder["resblock_kernel_sizes"]) != len(decoder["resblock_dilation_sizes"]):
        raise CheckpointError(path, "config decoder lists differ in length (upsample_rates/upsample_kernel_sizes or "
                                    "resblock_kernel_sizes/resblock_dilation_sizes)")
    tr = diff.get("transformer")
    if not isinstance(tr, dict):
        raise CheckpointError(path, "config 'model_params.diffusion.transformer' is missing")
    transformer = {k: _int(path, tr, k, 1, 4096, "model_params.diffusion.transformer")
                   for k in ("num_layers", "num_heads", "head_features", "multiplier")}
    sigma = (diff.get("dist") or {}).get("sigma_data") if isinstance(diff.get("dist"), dict) else None
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not 0 < sigma < 100:
        raise CheckpointError(path, f"config 'model_params.diffusion.dist.sigma_data' must be a positive number, "
                                    f"got {sigma!r}")
    if files.plbert_config is None:
        bert = dict(RELEASED_PLBERT)
    else:
        bert_obj = _yaml(files.plbert_config, "PL-BERT config.yml not found")
        bp = bert_obj.get("model_params")
        if not isinstance(bp, dict):
            raise CheckpointError(files.plbert_config, "expected model_params: not a PL-BERT config")
        bert = {k: _int(files.plbert_config, bp, k, 1, 1 << 16) for k in RELEASED_PLBERT}
    if bert["hidden_size"] % bert["num_attention_heads"]:
        raise CheckpointError(files.plbert_config, "model_params.hidden_size is not a multiple of num_attention_heads")
    return StyleTTS2Config(
        hidden_dim=_int(path, mp, "hidden_dim", 2, 8192), style_dim=_int(path, mp, "style_dim", 1, 4096),
        dim_in=_int(path, mp, "dim_in", 1, 4096), n_layer=_int(path, mp, "n_layer", 1, 64),
        n_token=_int(path, mp, "n_token", 1, 1 << 16), max_dur=_int(path, mp, "max_dur", 1, 4096),
        multispeaker=bool(mp.get("multispeaker", False)), decoder=decoder, transformer=transformer,
        sigma_data=float(sigma), bert=bert)


def fold_spectral_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace spectral-norm triples (weight_orig, weight_u, weight_v) by the weight they stand for in
    eval mode: weight_orig / (u . W v), W the weight flattened to (out, -1) (torch's SpectralNorm, dim 0)."""
    out = dict(state)
    for key in [k for k in state if k.endswith(".weight_orig")]:
        prefix = key[: -len("_orig")]
        u, v = state.get(prefix + "_u"), state.get(prefix + "_v")
        if u is None or v is None:
            continue  # left for the key check to report
        w = state[key].float()
        sigma = torch.dot(u.float(), w.reshape(w.shape[0], -1) @ v.float())
        for suffix in ("_orig", "_u", "_v"):
            del out[prefix + suffix]
        out[prefix] = w / sigma
    return out


def _module_state(path: Path, net: dict, name: str) -> dict[str, torch.Tensor]:
    state = net.get(name)
    if not isinstance(state, dict):
        raise CheckpointError(path, f"net has no {name!r} state dict (it holds {', '.join(sorted(map(str, net)))})")
    state = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):  # saved from a DataParallel-wrapped module
        state = {k[len("module."):]: v for k, v in state.items()}
    if name == "diffusion":  # AudioDiffusionConditional holds the transformer twice (unet, diffusion.net)
        state = {k[len("unet."):]: v for k, v in state.items() if k.startswith("unet.")}
    return fold_spectral_norm(state)


class StyleTTS2(nn.Module):
    """The inference networks of one model, with its config."""

    def __init__(self, cfg: StyleTTS2Config, modules: dict[str, nn.Module]):
        super().__init__()
        self.cfg = cfg
        for name, module in modules.items():
            self.add_module(name, module)


def factories(cfg: StyleTTS2Config) -> dict[str, Any]:
    """A constructor per inference module, sized by the config (upstream build_model)."""
    from haysay.nodes.tts.styletts2.decoder import Decoder
    from haysay.nodes.tts.styletts2.diffusion import StyleTransformer
    from haysay.nodes.tts.styletts2.models import ProsodyPredictor, StyleEncoder, TextEncoder

    dec = dict(cfg.decoder)
    kind = dec.pop("kind")
    hidden = cfg.bert["hidden_size"]
    return {
        "bert": lambda: _albert(cfg.bert),
        "bert_encoder": lambda: nn.Linear(hidden, cfg.hidden_dim),
        "predictor": lambda: ProsodyPredictor(cfg.style_dim, cfg.hidden_dim, cfg.n_layer, cfg.max_dur),
        "decoder": lambda: Decoder(cfg.hidden_dim, cfg.style_dim, kind, **dec),
        "text_encoder": lambda: TextEncoder(cfg.hidden_dim, 5, cfg.n_layer, cfg.n_token),
        "predictor_encoder": lambda: StyleEncoder(cfg.dim_in, cfg.style_dim, cfg.hidden_dim),
        "style_encoder": lambda: StyleEncoder(cfg.dim_in, cfg.style_dim, cfg.hidden_dim),
        "diffusion": lambda: StyleTransformer(channels=cfg.style_dim * 2, context_embedding_features=hidden,
                                              context_features=cfg.style_dim * 2 if cfg.multispeaker else None,
                                              **cfg.transformer),
    }


def _albert(bert: dict) -> nn.Module:
    try:
        from transformers import AlbertConfig, AlbertModel
    except ModuleNotFoundError:
        raise CheckpointError("PL-BERT", "StyleTTS 2's PL-BERT is a transformers ALBERT: pip install "
                                         "'transformers>=4.57,<5'") from None
    return AlbertModel(AlbertConfig(**bert, attn_implementation="eager"))


def load_model(files: StyleTTS2Files, device: str = "cpu") -> StyleTTS2:
    """Every inference network of the model, weights loaded (float32, eval). A config that does not fit the
    weights is refused, naming the weight, before anything is allocated."""
    cfg = read_config(files)
    obj = safe_torch_load(files.weights, "StyleTTS 2 checkpoint")
    if not isinstance(obj, dict) or not isinstance(obj.get("net"), dict):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(map(str, obj))[:6]}"
        raise CheckpointError(files.weights, f"expected a dict with a 'net' dict of module state dicts (got {got}): "
                                             "not a StyleTTS 2 2nd-stage checkpoint (epochs_2nd_*.pth)")
    net = obj["net"]
    modules = {}
    for name, factory in factories(cfg).items():
        ignore = _BERT_BUFFERS if name == "bert" else ()
        try:
            modules[name] = build_checked(factory, _module_state(files.weights, net, name), files.weights,
                                          ignore_prefixes=ignore)
        except CheckpointError as exc:
            if exc.path == "PL-BERT":
                raise
            hint = ("; no PL-BERT config.yml is installed, so upstream's released PL-BERT sizes were assumed: put "
                    "the model's Utils/PLBERT/config.yml beside its config.yml"
                    if name == "bert" and files.plbert_config is None else "")
            raise CheckpointError(files.weights, f"net[{name!r}]: {exc.problem}{hint}") from None
    return StyleTTS2(cfg, modules).eval().to(device)
