"""Loading a content encoder from the files users have.

* fairseq pickles: `hubert_base.pt` (RVC) or ContentVec `checkpoint_best_legacy_500.pt`
  (so-vits) — a dict with `model` (state dict) and `cfg` (omegaconf) or `args`
  (argparse.Namespace); read through safe_load's restricted weights-only loader.
* a transformers folder: `config.json` + `pytorch_model.bin` or `model.safetensors`.

Either is mapped key by key onto torchaudio's wav2vec 2.0 modules.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from haysay.nodes.vc.content.hubert import BASE_CONV, ContentEncoder, HubertConfig
from haysay.nodes.vc.safe_load import CheckpointError, fold_weight_norm, inert_to_dict, load_into, safe_torch_load

# fairseq name -> torchaudio name (prefix "model." = inside ContentEncoder.model). The feature
# extractor, projection and feed-forward names are shared by HuBERT/ContentVec and WavLM.
FAIRSEQ_SHARED = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)$", r"model.feature_extractor.conv_layers.\1.conv.\2"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.(?:1\.)?(weight|bias)$",
     r"model.feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"^layer_norm\.(weight|bias)$", r"model.encoder.feature_projection.layer_norm.\1"),
    (r"^post_extract_proj\.(weight|bias)$", r"model.encoder.feature_projection.projection.\1"),
    (r"^encoder\.pos_conv\.0\.(weight|bias)$", r"model.encoder.transformer.pos_conv_embed.conv.\1"),
    (r"^encoder\.layer_norm\.(weight|bias)$", r"model.encoder.transformer.layer_norm.\1"),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.layer_norm.\2"),
    (r"^encoder\.layers\.(\d+)\.fc1\.(weight|bias)$", r"model.encoder.transformer.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.fc2\.(weight|bias)$", r"model.encoder.transformer.layers.\1.feed_forward.output_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)$", r"model.encoder.transformer.layers.\1.final_layer_norm.\2"),
]
_FAIRSEQ = FAIRSEQ_SHARED + [
    (r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)$",
     r"model.encoder.transformer.layers.\1.attention.\2_proj.\3"),
    (r"^final_proj\.(weight|bias)$", r"final_proj.\1"),
]
_FAIRSEQ_IGNORED = ("mask_emb", "label_embs_concat", "label_embs")

_TRANSFORMERS = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.(conv|layer_norm)\.(weight|bias)$",
     r"model.feature_extractor.conv_layers.\1.\2.\3"),
    (r"^feature_projection\.(layer_norm|projection)\.(weight|bias)$", r"model.encoder.feature_projection.\1.\2"),
    (r"^encoder\.pos_conv_embed\.conv\.(weight|bias)$", r"model.encoder.transformer.pos_conv_embed.conv.\1"),
    (r"^encoder\.layer_norm\.(weight|bias)$", r"model.encoder.transformer.layer_norm.\1"),
    (r"^encoder\.layers\.(\d+)\.(.+)$", r"model.encoder.transformer.layers.\1.\2"),
    (r"^final_proj\.(weight|bias)$", r"final_proj.\1"),
]
_TRANSFORMERS_IGNORED = ("masked_spec_embed", "lm_head", "projector", "classifier")


def rename_by_rules(key: str, rules: list[tuple[str, str]]) -> str | None:
    """The key under the first (pattern, replacement) rule that matches it; None when none does."""
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return None


def _rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]], ignored: tuple[str, ...],
            path: Path) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in fold_weight_norm(state).items():
        if key.startswith(ignored):
            continue
        new = rename_by_rules(key, rules)
        if new is None:
            raise CheckpointError(path, f"unexpected weight {key}: not a HuBERT/ContentVec encoder")
        out[new] = value
    return out


def _conv_layers_from_spec(spec: Any) -> tuple[tuple[int, int, int], ...] | None:
    """Parse fairseq's conv_feature_layers string, e.g. "[(512,10,5)] + [(512,3,2)] * 4", without eval."""
    if not isinstance(spec, str):
        return None
    layers: list[tuple[int, int, int]] = []
    for term in spec.split("+"):
        m = re.fullmatch(r"\s*\[\s*\((\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)\s*\](?:\s*\*\s*(\d+))?\s*", term)
        if not m:
            return None
        layers += [(int(m[1]), int(m[2]), int(m[3]))] * int(m[4] or 1)
    return tuple(layers)


def _config_from_weights(state: dict[str, torch.Tensor], hints: dict[str, Any], path: Path) -> HubertConfig:
    def need(key: str) -> torch.Tensor:
        if key not in state:
            raise CheckpointError(path, f"missing weight {key}")
        return state[key]

    proj = need("model.encoder.feature_projection.projection.weight")
    n_layers = len({k.split(".")[4] for k in state if k.startswith("model.encoder.transformer.layers.")})
    if n_layers == 0:
        raise CheckpointError(path, "no transformer layers found")
    pos = need("model.encoder.transformer.pos_conv_embed.conv.weight")
    n_conv = len({k.split(".")[3] for k in state if k.startswith("model.feature_extractor.conv_layers.")})
    strides = hints.get("strides") or [c[2] for c in BASE_CONV]
    kernels = [int(need(f"model.feature_extractor.conv_layers.{i}.conv.weight").shape[2]) for i in range(n_conv)]
    chans = [int(state[f"model.feature_extractor.conv_layers.{i}.conv.weight"].shape[0]) for i in range(n_conv)]
    if len(strides) != n_conv:
        raise CheckpointError(path, f"{n_conv} feature-extractor conv layers but the config lists {len(strides)}")
    mode = hints.get("extractor_mode") or ("layer_norm" if "model.feature_extractor.conv_layers.1.layer_norm.weight"
                                           in state else "group_norm")
    embed = int(proj.shape[0])
    heads = int(hints.get("num_heads") or (12 if embed % 64 == 0 else 1))
    if embed % heads:
        raise CheckpointError(path, f"embedding size {embed} is not divisible by {heads} attention heads")
    fp = state.get("final_proj.weight")
    return HubertConfig(
        embed_dim=embed, num_layers=n_layers, num_heads=heads,
        ff_dim=int(need("model.encoder.transformer.layers.0.feed_forward.intermediate_dense.weight").shape[0]),
        conv_layers=tuple(zip(chans, kernels, strides)),
        conv_bias="model.feature_extractor.conv_layers.0.conv.bias" in state,
        extractor_mode=mode, layer_norm_first=bool(hints.get("layer_norm_first", False)),
        pos_conv_kernel=int(pos.shape[2]), pos_conv_groups=int(embed // pos.shape[1]),
        final_proj_dim=int(fp.shape[0]) if fp is not None else None)


def _build(state: dict[str, torch.Tensor], hints: dict[str, Any], path: Path) -> ContentEncoder:
    cfg = _config_from_weights(state, hints, path)
    encoder = ContentEncoder(cfg)
    load_into(encoder, state, path)
    return encoder.eval()


def _fairseq(obj: Any, path: Path) -> ContentEncoder:
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        raise CheckpointError(path, "expected a fairseq checkpoint (a dict with a 'model' state dict)")
    cfg = inert_to_dict(obj.get("cfg")) or {}
    model_cfg = (cfg.get("model") if isinstance(cfg, dict) else None) or inert_to_dict(obj.get("args")) or {}
    if not isinstance(model_cfg, dict):
        model_cfg = {}
    conv = _conv_layers_from_spec(model_cfg.get("conv_feature_layers"))
    mode = str(model_cfg.get("extractor_mode") or "default")
    hints = {"strides": [c[2] for c in conv] if conv else None,
             "num_heads": model_cfg.get("encoder_attention_heads"),
             "layer_norm_first": model_cfg.get("layer_norm_first", False),
             "extractor_mode": {"default": "group_norm", "layer_norm": "layer_norm"}.get(mode)}
    state = {k: v for k, v in obj["model"].items() if isinstance(v, torch.Tensor)}
    return _build(_rename(state, _FAIRSEQ, _FAIRSEQ_IGNORED, path), hints, path)


_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
              "BF16": None, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file (JSON header + raw little-endian data: nothing to unpickle)."""
    raw = path.read_bytes()
    try:
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
    except Exception as exc:
        raise CheckpointError(path, f"not a safetensors file ({exc})") from None
    base, out = 8 + n, {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        if base + end > len(raw):
            raise CheckpointError(path, f"tensor {name} runs past the end of the file (truncated?)")
        chunk = raw[base + start:base + end]
        if meta["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(chunk), dtype=torch.bfloat16).float()
        elif meta["dtype"] in _ST_DTYPES:
            t = torch.from_numpy(np.frombuffer(chunk, dtype=_ST_DTYPES[meta["dtype"]]).copy())
        else:
            raise CheckpointError(path, f"tensor {name}: unsupported dtype {meta['dtype']}")
        out[name] = t.reshape(meta["shape"])
    return out


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().cpu().float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    Path(path).write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def _transformers(folder: Path) -> ContentEncoder:
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(folder, "transformers folder without config.json") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(cfg_path, f"not valid JSON ({exc})") from None
    if (folder / "model.safetensors").is_file():
        weights_path = folder / "model.safetensors"
        state = read_safetensors(weights_path)
    elif (folder / "pytorch_model.bin").is_file():
        weights_path = folder / "pytorch_model.bin"
        state = safe_torch_load(weights_path, "content encoder")
    else:
        raise CheckpointError(folder, "no model.safetensors or pytorch_model.bin in the folder")
    if not isinstance(state, dict):
        raise CheckpointError(weights_path, "expected a state dict")
    state = {re.sub(r"^hubert\.", "", k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    hints = {"strides": cfg.get("conv_stride"), "num_heads": cfg.get("num_attention_heads"),
             "layer_norm_first": bool(cfg.get("do_stable_layer_norm", False)),
             "extractor_mode": {"group": "group_norm", "layer": "layer_norm"}.get(cfg.get("feat_extract_norm"))}
    return _build(_rename(state, _TRANSFORMERS, _TRANSFORMERS_IGNORED, weights_path), hints, weights_path)


def read_content_encoder(path: str | Path) -> ContentEncoder:
    """A HuBERT/ContentVec encoder from a fairseq `.pt`, or a transformers folder (or a file inside one)."""
    path = Path(path)
    if path.is_dir():
        return _transformers(path)
    if path.name in ("pytorch_model.bin", "model.safetensors", "config.json"):
        return _transformers(path.parent)
    return _fairseq(safe_torch_load(path, "content encoder"), path)


def fairseq_state_dict(encoder: ContentEncoder) -> dict[str, torch.Tensor]:
    """The encoder's weights under fairseq's names, the pos conv as weight_g/weight_v (as fairseq stores it)."""
    out = {}
    for key, value in encoder.state_dict().items():
        k = key
        k = re.sub(r"^model\.feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0.", k)
        k = re.sub(r"^model\.feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.2.", k)
        k = k.replace("model.encoder.feature_projection.layer_norm.", "layer_norm.")
        k = k.replace("model.encoder.feature_projection.projection.", "post_extract_proj.")
        k = k.replace("model.encoder.transformer.pos_conv_embed.conv.", "encoder.pos_conv.0.")
        k = k.replace("model.encoder.transformer.layer_norm.", "encoder.layer_norm.")
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2.", k)
        k = re.sub(r"^model\.encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm.", k)
        if k == "encoder.pos_conv.0.weight":
            g = value.norm(dim=(0, 1), keepdim=True)
            out["encoder.pos_conv.0.weight_g"], out["encoder.pos_conv.0.weight_v"] = g, value.clone()
            continue
        out[k] = value.clone()
    out["mask_emb"] = torch.zeros(encoder.cfg.embed_dim)
    return out


def fairseq_model_config(encoder: ContentEncoder) -> dict[str, Any]:
    """The fairseq `cfg.model` entries the loader reads."""
    cfg = encoder.cfg
    terms, prev, count = [], None, 0
    for layer in cfg.conv_layers + (None,):
        if layer == prev:
            count += 1
            continue
        if prev is not None:
            terms.append(f"[{tuple(prev)}]" + (f" * {count}" if count > 1 else ""))
        prev, count = layer, 1
    return {"_name": "hubert", "extractor_mode": "default" if cfg.extractor_mode == "group_norm" else "layer_norm",
            "encoder_layers": cfg.num_layers, "encoder_embed_dim": cfg.embed_dim,
            "encoder_ffn_embed_dim": cfg.ff_dim, "encoder_attention_heads": cfg.num_heads,
            "conv_feature_layers": " + ".join(terms), "conv_pos": cfg.pos_conv_kernel,
            "conv_pos_groups": cfg.pos_conv_groups, "layer_norm_first": cfg.layer_norm_first,
            "final_dim": cfg.final_proj_dim or 0, "conv_bias": cfg.conv_bias}


def save_fairseq_checkpoint(path: str | Path, encoder: ContentEncoder) -> Path:
    """Write `encoder` as a fairseq-style checkpoint with a plain-dict cfg (benchmarks and tests)."""
    torch.save({"args": None, "cfg": {"model": fairseq_model_config(encoder), "task": {"sample_rate": 16000}},
                "model": fairseq_state_dict(encoder)}, path)
    return Path(path)


def save_transformers_folder(folder: str | Path, encoder: ContentEncoder, safetensors: bool = True) -> Path:
    """Write `encoder` as a transformers HubertModel folder (config.json + weights)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = encoder.cfg
    state = {}
    for key, value in encoder.state_dict().items():
        k = key.replace("model.encoder.feature_projection.", "feature_projection.")
        k = k.replace("model.encoder.transformer.", "encoder.").replace("model.feature_extractor.", "feature_extractor.")
        if k == "encoder.pos_conv_embed.conv.weight":
            state["encoder.pos_conv_embed.conv.weight_g"] = value.norm(dim=(0, 1), keepdim=True)
            state["encoder.pos_conv_embed.conv.weight_v"] = value.clone()
            continue
        state[k] = value.clone()
    config = {"architectures": ["HubertModel"], "model_type": "hubert", "hidden_size": cfg.embed_dim,
              "num_hidden_layers": cfg.num_layers, "num_attention_heads": cfg.num_heads,
              "intermediate_size": cfg.ff_dim, "conv_dim": [c[0] for c in cfg.conv_layers],
              "conv_kernel": [c[1] for c in cfg.conv_layers], "conv_stride": [c[2] for c in cfg.conv_layers],
              "conv_bias": cfg.conv_bias, "feat_extract_norm": "group" if cfg.extractor_mode == "group_norm" else "layer",
              "do_stable_layer_norm": cfg.layer_norm_first, "num_conv_pos_embeddings": cfg.pos_conv_kernel,
              "num_conv_pos_embedding_groups": cfg.pos_conv_groups, "classifier_proj_size": cfg.final_proj_dim or 256}
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    if safetensors:
        write_safetensors(folder / "model.safetensors", state)
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder
