"""Input audio uploaded through the studio, and the folders files may come from.

Uploads are probed with soundfile before they are kept (a renamed text file
is refused with the reason), then stored under HAYSAY_HOME/uploads by content
hash. In server mode every file path a pipeline names must lie under an
allowed root, so a form field cannot read /etc/passwd or write outside.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import soundfile

from haysay.graph_engine import GraphError, PipelineDoc, Registry

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
PATH_FIELD = re.compile(r"^(path|.*_path|.*_file|.*_dir|checkpoint|model)$")


class UploadRejected(ValueError):
    pass


@dataclass
class StoredUpload:
    name: str  # the name the user gave
    path: Path
    sample_rate: int
    channels: int
    duration: float


def store_upload(folder: Path, filename: str, data: bytes, max_bytes: int) -> StoredUpload:
    """Check and keep an uploaded audio file; raises UploadRejected naming the problem."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise UploadRejected(f"{filename!r}: unsupported file type {suffix or '(none)'}; "
                             f"use one of {', '.join(sorted(AUDIO_SUFFIXES))}")
    if len(data) > max_bytes:
        raise UploadRejected(f"{filename!r} is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:g} MiB")
    if not data:
        raise UploadRejected(f"{filename!r} is empty")
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    target = folder / f"{digest[:32]}{suffix}"
    tmp = folder / f".{digest[:32]}.part{suffix}"
    tmp.write_bytes(data)
    try:
        info = soundfile.info(str(tmp))
    except Exception:  # soundfile raises RuntimeError/LibsndfileError for non-audio; its text names our path
        tmp.unlink(missing_ok=True)
        raise UploadRejected(f"{filename!r} is not readable audio (its content is not {suffix[1:]} or is damaged)") \
            from None
    if info.frames <= 0 or info.samplerate <= 0:
        tmp.unlink(missing_ok=True)
        raise UploadRejected(f"{filename!r} holds no audio frames")
    os.replace(tmp, target)
    return StoredUpload(filename, target, info.samplerate, info.channels, info.frames / info.samplerate)


def _inside(path: str, roots: list[Path]) -> bool:
    try:
        real = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return False
    return any(real == r or r in real.parents for r in (root.resolve() for root in roots))


def path_problems(doc: PipelineDoc, registry: Registry, roots: list[Path],
                  inputs: dict | None = None) -> list[GraphError]:
    """Every file path in params (file fields and *_path-like names) or in Audio inputs
    that lies outside `roots`, as located errors."""
    errors = []
    for n in doc.nodes:
        spec = registry.get(n.type)
        file_fields = set(spec.file_fields()) if spec else set()
        for name, value in n.params.items():
            if not isinstance(value, str) or not (name in file_fields or PATH_FIELD.match(name)):
                continue
            if "://" in value:
                errors.append(GraphError("forbidden_path", "URLs are not allowed in server mode", node=n.id, field=name))
            elif not _inside(value, roots):
                errors.append(GraphError("forbidden_path", f"{value!r} is outside the allowed folders "
                                         f"({', '.join(str(r) for r in roots)})", node=n.id, field=name))
    for name, inp in doc.inputs.items():
        value = (inputs or {}).get(name, inp.default)
        node_id, target = inp.bind.split(".", 1)
        spec = registry.get(doc.node(node_id).type) if any(x.id == node_id for x in doc.nodes) else None
        is_port = spec is not None and target in spec.inputs and spec.inputs[target].type.value == "Audio"
        if is_port and isinstance(value, str) and not _inside(value, roots):
            errors.append(GraphError("forbidden_path", f"input {name!r}: {value!r} is outside the allowed folders",
                                     node=node_id, field=f"inputs.{name}"))
    return errors
