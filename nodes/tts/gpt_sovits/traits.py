"""Hay Say's precomputed GPT-SoVITS traits: `<Name>_precomp.safetensors` beside a character's .ckpt/.pth.

The file is what hydrusbeta/GPT-SoVITS's pony_precomputer writes (add_to_safetensors_dict + safetensors'
save_file): per trait (an emotion such as "Neutral") and entry index, `<Trait>.<index>.phones1` (the
reference transcript's phoneme ids, 1-D int64), `.prompt` (its semantic tokens, (1, T) int64), `.ge` (the
SoVITS reference encoder's timbre vector, (1, gin_channels, 1) float32) and, only for languages whose
transcripts carry BERT features, `.bert1` ((1024, len(phones1)) float32). The file holds plain tensors
(no pickle); shapes and dtypes are checked from its header before any tensor is read.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haysay.graph_engine.models.checkpoint_limits import CheckpointError

PARTS = ("phones1", "prompt", "ge", "bert1")
REQUIRED = ("phones1", "prompt", "ge")
BERT_DIM = 1024
INTS = {"I64", "I32", "I16", "U8", "I8", "U16", "U32", "U64"}
FLOATS = {"F32", "F16", "BF16", "F64"}


@dataclass(frozen=True)
class Header:
    """One file's layout: trait -> index -> part -> (dtype, shape)."""
    path: Path
    entries: dict[str, dict[int, dict[str, tuple[str, tuple[int, ...]]]]]

    def counts(self) -> dict[str, int]:
        return {trait: len(ix) for trait, ix in sorted(self.entries.items())}

    def listing(self) -> str:
        return ", ".join(f"{t} ({n})" for t, n in self.counts().items())


def read_header(path: Path) -> Header:
    """The traits a Hay Say precomputed file holds, from its header; CheckpointError naming the key or file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path.name, "does not exist")
    entries: dict[str, dict[int, dict[str, tuple[str, tuple[int, ...]]]]] = {}
    try:
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                trait, _, rest = key.rpartition(".")
                trait, _, index = trait.rpartition(".")
                if not trait or rest not in PARTS or not index.isdigit():
                    raise CheckpointError(path.name, f"key {key!r} is not Hay Say's <Trait>.<index>.<part> "
                                          f"(part one of {', '.join(PARTS)})")
                part = f.get_slice(key)
                entries.setdefault(trait, {}).setdefault(int(index), {})[rest] = \
                    (part.get_dtype(), tuple(part.get_shape()))
    except SafetensorError as exc:
        raise CheckpointError(path.name, f"not a readable .safetensors file ({exc})") from None
    except OSError as exc:
        raise CheckpointError(path.name, str(exc)) from None
    if not entries:
        raise CheckpointError(path.name, "holds no precomputed traits")
    return Header(path, entries)


def choose_index(header: Header, trait: str, index: int | None, seed: int) -> int:
    """The entry to speak with: `index`, or (None) one of the trait's entries picked by `seed`. Hay Say's
    inference_cli picks with an unseeded random.randint; here the same draw is seeded, so a run repeats."""
    if trait not in header.entries:
        raise KeyError(f"no trait {trait!r} in {header.path.name}; it has: {header.listing()}")
    indices = sorted(header.entries[trait])
    if index is None:
        return indices[random.Random(seed).randint(0, len(indices) - 1)]
    if index not in header.entries[trait]:
        raise IndexError(f"trait {trait!r} has no entry {index} in {header.path.name}; it has "
                         f"{', '.join(map(str, indices))}")
    return index


def check_entry(header: Header, trait: str, index: int, needs_bert: bool, gin_channels: int | None = None) -> None:
    """Shapes and dtypes of one entry (from the header); CheckpointError naming the key."""
    parts = header.entries[trait][index]
    prefix = f"{trait}.{index}."
    for name in REQUIRED:
        if name not in parts:
            raise CheckpointError(header.path.name, f"{prefix}{name} is missing")
    if needs_bert and "bert1" not in parts:
        raise CheckpointError(header.path.name, f"{prefix}bert1 is missing; the reference language needs the "
                              "transcript's BERT features (Hay Say stores them only for zh/ja/ko/yue references)")
    dtype, shape = parts["phones1"]
    if dtype not in INTS or len(shape) != 1 or shape[0] < 1:
        raise CheckpointError(header.path.name, f"{prefix}phones1 is {dtype} {list(shape)}; expected 1-D "
                              "integer phoneme ids")
    dtype, shape = parts["prompt"]
    if dtype not in INTS or len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
        raise CheckpointError(header.path.name, f"{prefix}prompt is {dtype} {list(shape)}; expected (1, T) "
                              "integer semantic tokens")
    dtype, shape = parts["ge"]
    if dtype not in FLOATS or len(shape) != 3 or shape[0] != 1 or shape[2] != 1 or \
            (gin_channels is not None and shape[1] != gin_channels):
        want = gin_channels if gin_channels is not None else "C"
        raise CheckpointError(header.path.name, f"{prefix}ge is {dtype} {list(shape)}; expected (1, {want}, 1) "
                              "floats (the SoVITS model's reference-encoder width)")
    if "bert1" in parts:
        dtype, shape = parts["bert1"]
        if dtype not in FLOATS or shape != (BERT_DIM, parts["phones1"][1][0]):
            raise CheckpointError(header.path.name, f"{prefix}bert1 is {dtype} {list(shape)}; expected "
                                  f"({BERT_DIM}, {parts['phones1'][1][0]}) floats, one column per phoneme")


@dataclass(frozen=True)
class Trait:
    """One entry as get_tts_wav takes it (tensors: torch is imported only when an entry is read)."""
    phones1: list[int]
    prompt: Any  # (1, T) int64
    ge: Any  # (1, C, 1) float32
    bert1: Any  # (1024, len(phones1)) float32, or None


def read_trait(header: Header, trait: str, index: int) -> Trait:
    """One (checked) entry's tensors, as get_tts_wav takes them."""
    import torch
    from safetensors import safe_open

    prefix = f"{trait}.{index}."
    parts = header.entries[trait][index]
    with safe_open(str(header.path), framework="pt") as f:
        phones1 = f.get_tensor(prefix + "phones1").long().tolist()
        prompt = f.get_tensor(prefix + "prompt").long()
        ge = f.get_tensor(prefix + "ge").to(torch.float32)
        bert1 = f.get_tensor(prefix + "bert1").to(torch.float32) if "bert1" in parts else None
    return Trait(phones1, prompt, ge, bert1)
