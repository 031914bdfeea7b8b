"""Finding and loading the model files an adapter's params name, through the model store and warm pool.

A `model` param is either a path or the name of an installed model
(`haysay models install ...`). Loaded models stay in the per-device warm pool,
keyed by file, modification time and device, so a re-run skips the load.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

ENV_CONTENT_ENCODER = "HAYSAY_CONTENT_ENCODER"


class ModelRefError(ValueError):
    """A param names a model that is neither a file nor an installed model."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def _store():
    from haysay.graph_engine.models import ModelStore

    return ModelStore.from_env()


def resolve_model(ref: str, field: str, architecture: str) -> tuple[Path, Any]:
    """(path, InstalledModel or None) for a path or installed-model name."""
    ref = (ref or "").strip()
    if not ref:
        raise ModelRefError(field, f"name an installed {architecture} model or a file path")
    path = Path(ref).expanduser()
    if path.exists():
        return path, None
    try:
        installed = _store().get(ref, architecture)
    except Exception as exc:
        installed = _fetch_shared(ref, architecture, field, exc)
    return installed.path, installed


def _fetch_shared(ref: str, architecture: str, field: str, missing: Exception) -> Any:
    """A model installed on the client only: fetched by hash from the shared model store (a worker's
    first use), then installed here."""
    from haysay.graph_engine.models.remote import RemoteModels, models_url

    url = models_url()
    if url is None:
        raise ModelRefError(field, f"{ref!r} is not a file, and {missing}") from None
    try:
        return RemoteModels(url).fetch(ref, architecture, _store())
    except Exception as exc:
        raise ModelRefError(field, f"{ref!r} is not a file, and {exc}") from None


def default_content_encoder(prefer: tuple[str, ...]) -> Path:
    """The content encoder to use when none is named: $HAYSAY_CONTENT_ENCODER, else the installed one
    (among several, the first whose name contains one of `prefer`)."""
    env = os.environ.get(ENV_CONTENT_ENCODER, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        models = [m for m in _store().list() if m.architecture == "content_encoder"]
    except Exception:
        models = []
    if not models:
        models = _shared_encoders(prefer)
    if not models:
        raise ModelRefError("content_encoder", "no content encoder is installed; install HuBERT-base "
                                               "(hubert_base.pt) or ContentVec with `haysay models install`, "
                                               "or give its path")
    for word in prefer:
        for m in models:
            if word in m.name.casefold():
                return content_encoder_path(m)
    return content_encoder_path(models[0])


def _shared_encoders(prefer: tuple[str, ...]) -> list:
    """A worker with no content encoder of its own: the one the shared model store holds (the first
    whose name contains one of `prefer`), fetched by hash; [] when there is none or no shared store."""
    from haysay.graph_engine.models.remote import RemoteModels, models_url

    url = models_url()
    if url is None:
        return []
    try:
        remote = RemoteModels(url)
        names = [str(m.get("name")) for m in remote.manifests("content_encoder")]
        if not names:
            return []
        pick = next((n for word in prefer for n in names if word in n.casefold()), names[0])
        return [remote.fetch(pick, "content_encoder", _store())]
    except Exception:  # noqa: BLE001 - then the usual "no content encoder is installed" error
        return []


def content_encoder_path(installed: Any) -> Path:
    """The file (fairseq .pt) or folder (transformers) to read for an installed content encoder."""
    if str(installed.version or "").startswith("transformers"):
        return installed.path
    return installed.file("weights")


def resolve_content_encoder(ref: str | None, prefer: tuple[str, ...]) -> Path:
    if not ref:
        return default_content_encoder(prefer)
    path, installed = resolve_model(ref, "content_encoder", "content_encoder")
    return content_encoder_path(installed) if installed is not None else path


def file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def pooled(kind: str, path: Path, device: str, loader: Callable[[], Any], size_bytes: int,
           report: dict | None = None) -> Any:
    """Load through the warm pool of `device`; record cold/warm and seconds in `report[kind]`."""
    from haysay.graph_engine.warm_pool import default_pool

    path = Path(path).resolve()
    stamp = max((p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()), default=0) if path.is_dir() \
        else path.stat().st_mtime_ns
    value, warm, seconds = default_pool(device).get((kind, str(path), stamp, device), loader, size_bytes)
    if report is not None:
        report[kind] = {"path": str(path), "warm": warm, "load_seconds": round(seconds, 4)}
    return value


def content_digest(path: Path | str, models: list | None = None) -> str:
    """sha256 of a model file's (or folder's) content. A file of an installed model whose size is as
    installed counts by its manifest's sha256, so a cached run does not re-read gigabytes; any other file
    is hashed (memoised per process on path, size and mtime)."""
    from haysay.graph_engine.cachekey import file_digest

    path = Path(path).expanduser().resolve()
    models = _installed_models() if models is None else models
    if path.is_dir():
        parts = [f"{p.relative_to(path).as_posix()}={content_digest(p, models)}" for p in sorted(path.rglob("*"))
                 if p.is_file()]
        return "tree:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
    size = path.stat().st_size
    for model in models:
        root = Path(model.path).resolve()
        if root == path.parent or root in path.parents:
            rel = path.relative_to(root).as_posix()
            for f in model.files:
                if f.path == rel and f.size == size and f.sha256:
                    return "sha256:" + f.sha256
    return "sha256:" + file_digest(str(path))


def _installed_models() -> list:
    try:
        return list(_store().list())
    except Exception:  # an unreadable models folder: every file is hashed instead
        return []


def model_digest(ref: str, field: str, architecture: str) -> str:
    """content_digest of what a `model`-style param resolves to (its weights file when installed)."""
    path, installed = resolve_model(ref, field, architecture)
    if installed is not None and installed.find("weights") is not None:
        path = installed.file("weights")
    return content_digest(path)
