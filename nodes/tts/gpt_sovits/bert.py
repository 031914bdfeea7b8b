"""chinese-roberta-wwm-ext-large, the BERT whose features GPT-SoVITS adds to Chinese phonemes, read from a
user-installed transformers folder without network access: weights from model.safetensors, or from
pytorch_model.bin through the restricted (weights-only) loader; the network is transformers'
BertForMaskedLM built from the folder's config, as upstream's AutoModelForMaskedLM."""
from __future__ import annotations

import json
from pathlib import Path

from haysay.nodes.vc.safe_load import CheckpointError

WIDTH = 1024  # the t2s model's bert_proj input: chinese-roberta-wwm-ext-large's hidden size


def _state(folder: Path) -> dict:
    from haysay.nodes.vc.content.checkpoint import read_safetensors
    from haysay.nodes.vc.safe_load import safe_torch_load

    if (folder / "model.safetensors").is_file():
        return read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        state = safe_torch_load(folder / "pytorch_model.bin", "BERT model")
        if not isinstance(state, dict):
            raise CheckpointError(folder / "pytorch_model.bin", "expected a state dict")
        return state
    raise CheckpointError(folder, "no model.safetensors or pytorch_model.bin in the folder")


def read_bert(folder: str | Path):
    """(tokenizer, BertForMaskedLM in eval mode) from a transformers folder; CheckpointError naming what is
    wrong otherwise."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(folder, "expected a transformers folder (config.json, vocab and weights)")
    try:
        config = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise CheckpointError(folder, "transformers folder without config.json") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(folder / "config.json", f"not valid JSON ({exc})") from None
    if config.get("model_type", "bert") != "bert" or config.get("hidden_size") != WIDTH:
        raise CheckpointError(folder, f"expected a {WIDTH}-wide BERT (chinese-roberta-wwm-ext-large); config.json "
                                      f"says {config.get('model_type')!r}, {config.get('hidden_size')} wide")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(folder, f"cannot read the tokenizer ({str(exc).splitlines()[0]})") from None
    model = BertForMaskedLM(BertConfig.from_dict(config))
    state = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
             for k, v in _state(folder).items() if isinstance(v, torch.Tensor)}
    try:
        missing, _ = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that disagree with config.json
        raise CheckpointError(folder, f"weights do not fit config.json ({str(exc).splitlines()[-1].strip()})") \
            from None
    missing = [k for k in missing if k.startswith("bert.")]  # the masked-LM head is not used
    if missing:
        raise CheckpointError(folder, f"the weights lack {len(missing)} BERT entries (first: {missing[0]})")
    return tokenizer, model.eval()
