"""Reading GPT-SoVITS weights: the GPT `.ckpt` (s1_train.py: {'weight', 'config', 'info'}, keys under
`model.`) and the SoVITS `.pth` (process_ckpt.savee: {'weight', 'config': hparams, 'info'}), through the
restricted loader. SoVITS files from process_ckpt.my_save2 carry a two-byte version header in place of the
zip's "PK"; only v2 ("PK", or header b"01") is read, other versions are refused by name."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from haysay.nodes.tts.gpt_sovits.models import SoVITSConfig, SynthesizerTrn
from haysay.nodes.tts.gpt_sovits.t2s import T2SConfig, Text2SemanticDecoder
from haysay.nodes.vc.safe_load import CheckpointError, build_checked, inert_to_dict, safe_torch_load

# process_ckpt.head2version: the header bytes of SoVITS files that are not plain torch zips
HEADERS = {b"00": "v1", b"01": "v2", b"02": "v3", b"03": "v3 LoRA", b"04": "v4 LoRA", b"05": "v2Pro",
           b"06": "v2ProPlus"}
V2_SYMBOLS = 732  # v1 models embed 322 symbols


def _load(path: Path, what: str) -> Any:
    """safe_torch_load, restoring the zip magic of a headed file in a private temporary copy."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, f"{what} file does not exist")
    with path.open("rb") as f:
        head = f.read(2)
    if head == b"PK":
        return safe_torch_load(path, what)
    if head not in HEADERS:
        raise CheckpointError(path, f"not a GPT-SoVITS {what} (neither a torch zip nor a versioned SoVITS file)")
    if HEADERS[head] != "v2":
        raise CheckpointError(path, f"a GPT-SoVITS {HEADERS[head]} model; this node reads v2 SoVITS weights only")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(b"PK" + path.read_bytes()[2:])
        return safe_torch_load(copy, what)


def _sections(obj: Any, path: Path, what: str) -> tuple[dict, dict]:
    if not isinstance(obj, dict) or not isinstance(obj.get("weight"), dict) or "config" not in obj:
        raise CheckpointError(path, f"not a GPT-SoVITS {what}: expected a dict with 'weight' and 'config'")
    config = inert_to_dict(obj["config"])
    if not isinstance(config, dict):
        raise CheckpointError(path, f"the {what}'s config is a {type(config).__name__}, not a mapping")
    return obj["weight"], config


def _ints(value: Any, path: Path, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CheckpointError(path, f"config {key} must be a positive integer, not {value!r}")
    return value


def read_gpt(path: str | Path) -> Text2SemanticDecoder:
    """The text-to-semantic decoder of a GPT `.ckpt`, weights checked by name and shape."""
    path = Path(path)
    weight, config = _sections(_load(path, "GPT weights"), path, "GPT weights (.ckpt)")
    model = config.get("model") or {}
    try:
        cfg = T2SConfig(**{k: _ints(model[k], path, k) for k in ("embedding_dim", "hidden_dim", "head", "n_layer",
                                                                   "vocab_size", "phoneme_vocab_size", "EOS")},
                        max_sec=_ints((config.get("data") or {}).get("max_sec", 54), path, "data.max_sec"))
    except KeyError as exc:
        raise CheckpointError(path, f"GPT config lacks model.{exc.args[0]}") from None
    if cfg.EOS != cfg.vocab_size - 1 or cfg.hidden_dim % cfg.head:
        raise CheckpointError(path, "GPT config is inconsistent (EOS must be vocab_size - 1, heads must divide "
                                    "hidden_dim)")
    state = {k[len("model."):]: v for k, v in weight.items() if k.startswith("model.")}
    if not state:
        raise CheckpointError(path, "no model.* weights: not a GPT-SoVITS GPT checkpoint")
    return build_checked(lambda: Text2SemanticDecoder(cfg), state, path).eval()


def sovits_config(config: dict, state: dict, path: Path) -> SoVITSConfig:
    model, data = config.get("model") or {}, config.get("data") or {}
    emb = state.get("enc_p.text_embedding.weight")
    if emb is None:
        raise CheckpointError(path, "no enc_p.text_embedding weights: a v3/v4 SoVITS model or not a SoVITS file; "
                                    "this node reads v2 weights only")
    if emb.shape[0] != V2_SYMBOLS:
        raise CheckpointError(path, f"the text embedding has {emb.shape[0]} symbols: a v1 model (322) is not "
                                    f"supported, v2 has {V2_SYMBOLS}")
    if "sv_emb.weight" in state:
        raise CheckpointError(path, "a v2Pro/v2ProPlus model (speaker-verification embedding); only v2 is read")
    try:
        ints = {k: _ints(model[k], path, k) for k in ("inter_channels", "hidden_channels", "filter_channels",
                                                     "n_heads", "n_layers", "kernel_size", "upsample_initial_channel",
                                                     "gin_channels")}
        lists = {k: tuple(int(v) for v in model[k]) for k in ("resblock_kernel_sizes", "upsample_rates",
                                                              "upsample_kernel_sizes")}
        dil = tuple(tuple(int(v) for v in d) for d in model["resblock_dilation_sizes"])
        rates = {k: _ints(data[k], path, k) for k in ("sampling_rate", "filter_length", "hop_length", "win_length")}
    except KeyError as exc:
        raise CheckpointError(path, f"SoVITS config lacks {exc.args[0]}") from None
    except (TypeError, ValueError):
        raise CheckpointError(path, "SoVITS config has non-integer layer sizes") from None
    if (ints["hidden_channels"], ints["inter_channels"], ints["gin_channels"]) != (192, 192, 512):
        raise CheckpointError(path, "GPT-SoVITS fixes hidden/inter channels at 192 and gin_channels at 512 "
                                    "(its MRTE is built that way); this config differs")
    if rates["filter_length"] // 2 + 1 < 704:
        raise CheckpointError(path, "filter_length must give at least 704 spectrogram bins (v2 reference encoder)")
    return SoVITSConfig(**ints, **lists, resblock_dilation_sizes=dil, resblock=str(model.get("resblock", "1")),
                        n_symbols=V2_SYMBOLS, **rates)


def read_sovits(path: str | Path) -> SynthesizerTrn:
    """The v2 SoVITS synthesiser of a `.pth` (the posterior encoder `enc_q`, training-only, is ignored)."""
    path = Path(path)
    weight, config = _sections(_load(path, "SoVITS weights"), path, "SoVITS weights (.pth)")
    cfg = sovits_config(config, weight, path)
    return build_checked(lambda: SynthesizerTrn(cfg), weight, path, ignore_prefixes=("enc_q.",)).eval()
