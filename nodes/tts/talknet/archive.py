"""Reading TalkNet's files without NeMo: the `.nemo` archives and the HiFi-GAN `g_*` checkpoints.

A `.nemo` file is what NeMo's ModelPT.save_to writes (`_make_nemo_file_from_folder`): a gzipped tar
holding `./model_config.yaml` (the model's resolved config) and `./model_weights.ckpt` (torch.save of
the model's state dict). Nothing is extracted by name: the tar is walked, only those two regular
members are read, with size caps, and the weights go through the weights-only loader.
"""
from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haysay.graph_engine.models.checkpoint_limits import MAX_CONFIG_BYTES, CheckpointError

CONFIG_NAME, WEIGHTS_NAME = "model_config.yaml", "model_weights.ckpt"
MAX_WEIGHTS_BYTES = 4 << 30   # a full TalkNet spectrogram model is ~60 MB
MAX_MEMBERS = 64              # NeMo writes two files (and "." itself)


@dataclass(frozen=True)
class NemoArchive:
    path: Path
    config: dict[str, Any]
    state: dict[str, Any]


def _member_name(member: tarfile.TarInfo, path: Path) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "\\" in name:
        raise CheckpointError(path, f"archive member {member.name!r} points outside the archive; refusing it")
    return name


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int, path: Path, out) -> None:
    if member.size > limit:
        raise CheckpointError(path, f"{member.name} declares {member.size} bytes, over the {limit}-byte limit")
    stream = tar.extractfile(member)
    if stream is None:
        raise CheckpointError(path, f"{member.name} cannot be read")
    done = 0
    while chunk := stream.read(1 << 20):
        done += len(chunk)
        if done > limit:
            raise CheckpointError(path, f"{member.name} is larger than the {limit}-byte limit")
        out.write(chunk)


def parse_config(text: str, path: Path) -> dict[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CheckpointError(path, f"{CONFIG_NAME} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(path, f"{CONFIG_NAME} is not a mapping")
    return cfg


def read_nemo(path: str | Path) -> NemoArchive:
    """The config and state dict of a `.nemo` archive; CheckpointError naming the file for anything
    else (not a tar, links or paths leaving the archive, missing members, oversized members)."""
    from haysay.nodes.vc.safe_load import safe_torch_load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "the .nemo file does not exist")
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise CheckpointError(path, f"not a .nemo archive (a tar as NeMo's save_to writes): {exc}") from None
    with tar, tempfile.TemporaryDirectory(prefix="haysay-nemo-") as tmp:
        config_text, weights = None, None
        try:
            for count, member in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise CheckpointError(path, f"more than {MAX_MEMBERS} archive members; not a .nemo file")
                name = _member_name(member, path)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise CheckpointError(path, f"archive member {member.name!r} is a link or device; refusing it")
                if name == CONFIG_NAME:
                    import io

                    buf = io.BytesIO()
                    _read_member(tar, member, MAX_CONFIG_BYTES, path, buf)
                    try:
                        config_text = buf.getvalue().decode("utf-8")
                    except UnicodeDecodeError:
                        raise CheckpointError(path, f"{CONFIG_NAME} is not UTF-8 text") from None
                elif name == WEIGHTS_NAME:
                    weights = Path(tmp) / WEIGHTS_NAME
                    with weights.open("wb") as out:
                        _read_member(tar, member, MAX_WEIGHTS_BYTES, path, out)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise CheckpointError(path, f"damaged archive: {exc}") from None
        if config_text is None or weights is None:
            missing = CONFIG_NAME if config_text is None else WEIGHTS_NAME
            raise CheckpointError(path, f"no {missing} in the archive; not a NeMo model file")
        config = parse_config(config_text, path)
        try:
            state = safe_torch_load(weights, "NeMo model")
        except CheckpointError as exc:
            raise CheckpointError(path, f"{WEIGHTS_NAME}: {exc.problem}") from None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(path, f"{WEIGHTS_NAME} holds no state dict")
    return NemoArchive(path, config, state)


def read_hifigan(path: str | Path) -> dict[str, Any]:
    """The generator state dict of a jik876/hifi-gan `g_*` checkpoint ({'generator': state_dict}), as
    ControllableTalkNet's vocoder.HiFiGAN loads it."""
    from haysay.nodes.vc.safe_load import safe_torch_load

    ckpt = safe_torch_load(path, "HiFi-GAN checkpoint")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("generator"), dict):
        raise CheckpointError(path, "not a HiFi-GAN generator checkpoint (no 'generator' state dict)")
    return ckpt["generator"]
