"""The shared model store: installed models, content-addressed, at a URL every worker reaches.

    <url>/blobs/<sha256>                   each installed file, once, by its content hash
    <url>/manifests/<architecture>/<folder>.json   the model's manifest (names, roles, hashes)

The client publishes its installed models there before a run on other machines; a worker that
lacks a model fetches its files by hash into its own models folder on first use, checks every
file's sha256, and installs it there atomically (the same staging and rename as a local install),
so later runs and the warm pool find it like any installed model. The URL is HAYSAY_MODELS, or
`models/` beside a remote artifact store (HAYSAY_ARTIFACTS=s3://bucket/haysay ->
s3://bucket/haysay/models).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import ChecksumMismatch, ModelNotFound

MANIFEST = "manifest.json"


def models_url(artifacts: str | None = None) -> str | None:
    """Where the shared model store is, or None when there is none (a single machine)."""
    from ..config import is_remote

    env = os.environ.get("HAYSAY_MODELS", "").strip()
    if env:
        return env.rstrip("/")
    artifacts = artifacts or os.environ.get("HAYSAY_ARTIFACTS", "")
    return f"{artifacts.rstrip('/')}/models" if artifacts and is_remote(artifacts) else None


class RemoteModels:
    def __init__(self, url: str):
        import fsspec

        from ..config import storage_options
        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url, **storage_options(self.url))

    def _blob(self, sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return f"{self.base}/blobs/{sha256}"

    def publish(self, model) -> int:
        """Upload the model's files not there yet (by hash and size) and its manifest; returns bytes sent."""
        sent = 0
        for f in model.files:
            blob = self._blob(f.sha256)
            try:
                if self.fs.size(blob) == f.size:
                    continue
            except (FileNotFoundError, OSError):
                pass
            self.fs.put_file(str(model.path / f.path), blob)
            sent += f.size
        manifest = json.dumps(model.manifest, indent=2, default=str).encode()
        self.fs.pipe_file(f"{self.base}/manifests/{model.architecture}/{model.path.name}.json", manifest)
        return sent

    def manifests(self, architecture: str | None = None) -> list[dict]:
        pattern = f"{self.base}/manifests/{architecture or '*'}/*.json"
        found = []
        for path in sorted(self.fs.glob(pattern)):
            try:
                found.append(json.loads(self.fs.cat_file(path)))
            except (ValueError, OSError):
                continue
        return found

    def find(self, name: str, architecture: str | None = None) -> dict:
        candidates = self.manifests(architecture)
        for match in (lambda m: m.get("name") == name, lambda m: str(m.get("name", "")).casefold() == name.casefold()):
            hits = [m for m in candidates if match(m)]
            if hits:
                return hits[0]
        where = f" for {architecture}" if architecture else ""
        raise ModelNotFound(f"no model named {name!r} is installed{where} here or in the shared model store {self.url}")

    def fetch(self, name: str, architecture: str | None, store) -> "object":
        """Copy a published model into the local ModelStore `store` by hash (each file checked); returns it."""
        from .store import _read_model, folder_name

        manifest = self.find(name, architecture)
        final = store.root / manifest["architecture"] / folder_name(manifest["name"])
        if (final / MANIFEST).is_file():
            return _read_model(final)
        with store._staged() as payload:
            for f in manifest["files"]:
                dest = payload / f["path"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._blob(f["sha256"]), str(dest))
                got = _sha256(dest)
                if got != f["sha256"] or dest.stat().st_size != int(f["size"]):
                    raise ChecksumMismatch(f"{manifest['name']}: {f['path']} fetched from {self.url} has sha256 "
                                           f"{got}, its manifest says {f['sha256']}; not installed")
            (payload / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(payload, final)
            except OSError:  # another stage of this worker fetched it first
                if not (final / MANIFEST).is_file():
                    raise
        return _read_model(final)


def publish_installed(url: str, store=None) -> int:
    """Publish every locally installed model to the shared store (files already there are skipped)."""
    from .store import ModelStore
    remote = RemoteModels(url)
    return sum(remote.publish(m) for m in (store or ModelStore.from_env()).list())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
