"""Content-addressed cache keys: (node type, version, canonical params, input keys, file contents)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from typing import Any, Mapping

from pydantic import BaseModel

from .contract import NodeSpec

_FILE_HASHES: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_digest(path: str) -> str:
    """sha256 of a file's content, memoised on (path, size, mtime) so a big input is hashed once."""
    st = os.stat(path)
    memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if memo in _FILE_HASHES:
            return _FILE_HASHES[memo]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _FILE_HASHES[memo] = digest
    return digest


def canonical_params(params: BaseModel) -> dict[str, Any]:
    return params.model_dump(mode="json")


def cache_key(spec: NodeSpec, params: BaseModel, inputs: Mapping[str, tuple[str, str]]) -> str:
    """inputs: {input_port: (upstream_key, upstream_port)}. Uncacheable nodes get a fresh key each time."""
    canon = canonical_params(params)
    for fname in spec.file_fields():  # a file counts by its content, not by where it lies
        path = getattr(params, fname)
        if path and os.path.isfile(path):
            canon[fname] = "sha256:" + file_digest(path)
    models = model_fingerprint(spec, params) if spec.fingerprint is not None else None
    for label, digest in (models or {}).items():
        if label in canon:  # a model param counts by what it resolves to, not by its name or path
            canon[label] = digest
    payload = {
        "type": spec.type,
        "version": spec.version,
        "params": canon,
        "inputs": {port: f"{key}:{src}" for port, (key, src) in sorted(inputs.items())},
    }
    if models is not None:
        payload["models"] = models
    if not spec.cacheable:
        payload["nonce"] = uuid.uuid4().hex
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_fingerprint(spec: NodeSpec, params: BaseModel) -> dict[str, str]:
    """The node's declared model files by content. A model that cannot be resolved yet gets a key of
    its own (the run then fails on it, with the node's own located error), never another model's."""
    try:
        return {str(k): str(v) for k, v in sorted(dict(spec.fingerprint(params)).items())}
    except Exception as exc:  # noqa: BLE001 - resolution errors are the node's to report when it runs
        return {"unresolved": f"{type(exc).__name__}: {exc}"}
