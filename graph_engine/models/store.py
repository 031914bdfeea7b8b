"""The installed-models folder: HAYSAY_HOME/models/<architecture>/<name>/ with a manifest.json each.

    store = ModelStore.from_env()
    model = store.get("Cozy Glow")             # adapters call this
    weights = model.file("weights")            # Path to the checkpoint
    index = model.find("index")                # Path or None

Installs are atomic: everything is fetched, unpacked, detected and hashed in a
staging folder inside the models folder, then renamed into place; a failure at
any step leaves nothing installed. Each staging folder names its owner (pid,
process start time, host); a folder whose owner is gone (a killed install) is
swept when a store is next opened.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..config import Settings
from . import download as dl
from .archive import safe_extract
from .catalogue import Catalogue, CatalogueEntry, CatalogueFile, load_catalogue, load_multi_speaker, side_files
from .detect import detect
from .errors import CatalogueError, InstallError, ModelError, ModelNotFound
from .sources import MANIFEST, as_url, catalogue_url, copy_local, local_path, payload_name, stem, unpack_if_zip

MANIFEST_FORMAT = 1
STAGING = ".staging"
OWNER = "owner.json"
UNOWNED_GRACE_S = 600  # a folder without an owner file yet (just made, or from an older haysay)

Progress = dl.Progress   # (bytes done, bytes total or None), per file


@dataclass(frozen=True)
class ModelFile:
    path: str          # relative to the model folder, posix
    size: int
    sha256: str
    role: str


@dataclass(frozen=True)
class InstalledModel:
    """One installed model. `files` come from the manifest; `path` is its folder."""

    name: str
    architecture: str
    version: str | None
    path: Path
    files: tuple[ModelFile, ...]
    manifest: dict = field(repr=False)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def info(self) -> dict:
        """Facts read from the files at install time (sample_rate, f0, speakers, ...)."""
        return dict(self.manifest.get("info") or {})

    def find(self, role: str) -> Path | None:
        """The first file with this role, or None."""
        paths = self.files_with(role)
        return paths[0] if paths else None

    def file(self, role: str) -> Path:
        """The file with this role; a clear error if the model has none."""
        path = self.find(role)
        if path is None:
            roles = sorted({f.role for f in self.files})
            raise ModelError(f"model {self.name!r} ({self.architecture}) has no {role!r} file; it has: {', '.join(roles)}")
        return path

    def files_with(self, role: str) -> list[Path]:
        return [self.path / f.path for f in self.files if f.role == role]


@dataclass(frozen=True)
class VerifyReport:
    name: str
    path: Path
    missing: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed


@dataclass(frozen=True)
class PlannedFile:
    source: str            # URL or local path
    size: int | None


@dataclass(frozen=True)
class InstallPlan:
    """What an install will fetch, for the size preview and confirmation."""

    name: str
    files: tuple[PlannedFile, ...]

    @property
    def total_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)


class ModelStore:
    """Install, find, check and remove models under one models folder."""

    def __init__(self, settings: Settings | None = None, root: Path | None = None):
        self.root = Path(root) if root is not None else (settings or Settings.from_env()).models_dir
        sweep_staging(self.root / STAGING)

    @classmethod
    def from_env(cls) -> "ModelStore":
        return cls(Settings.from_env())

    # --- reading ---------------------------------------------------------

    def list(self) -> list[InstalledModel]:
        """Every installed model, sorted by architecture then name."""
        models = []
        if not self.root.is_dir():
            return models
        for manifest_path in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            if manifest_path.parts[-3].startswith("."):
                continue
            models.append(_read_model(manifest_path.parent))
        return sorted(models, key=lambda m: (m.architecture, m.name.casefold()))

    def get(self, name: str, architecture: str | None = None) -> InstalledModel:
        """The installed model named `name` (case-insensitive; "arch/name" also works)."""
        if architecture is None and "/" in name:
            head, tail = name.split("/", 1)
            if (self.root / head).is_dir():
                architecture, name = head, tail
        models = [m for m in self.list() if architecture in (None, m.architecture)]
        for match in (lambda m: m.name == name, lambda m: m.name.casefold() == name.casefold(),
                      lambda m: m.path.name == folder_name(name)):
            hits = [m for m in models if match(m)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ModelNotFound(f"{name!r} is installed for several architectures "
                                    f"({', '.join(m.architecture for m in hits)}); ask for 'arch/{name}'")
        import difflib

        close = difflib.get_close_matches(name, [m.name for m in models], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        where = f" for {architecture}" if architecture else ""
        raise ModelNotFound(f"no model named {name!r} is installed{where} (in {self.root}){hint}")

    def is_installed(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except ModelNotFound:
            return False

    def verify(self, name: str | None = None) -> list[VerifyReport]:
        """Re-hash installed files against their manifests."""
        reports = []
        for model in [self.get(name)] if name else self.list():
            missing, changed = [], []
            for f in model.files:
                p = model.path / f.path
                if not p.is_file():
                    missing.append(f.path)
                elif p.stat().st_size != f.size or dl.file_sha256(p) != f.sha256:
                    changed.append(f.path)
            reports.append(VerifyReport(model.name, model.path, tuple(missing), tuple(changed)))
        return reports

    # --- changing ------------------------------------------------------------

    def remove(self, name: str) -> InstalledModel:
        """Delete an installed model's folder; returns what was removed."""
        model = self.get(name)
        trash = self._staging() / "removed"
        os.replace(model.path, trash)  # the model vanishes in one step, then its bytes go
        shutil.rmtree(trash.parent, ignore_errors=True)
        return model

    def plan(self, source: str, *, catalogue: str | Catalogue | None = None, timeout: float = dl.DEFAULT_TIMEOUT,
             name: str | None = None) -> InstallPlan:
        """What installing `source` would fetch, with sizes (HEAD requests for URLs)."""
        if catalogue is not None:
            cat = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue)
            entry = cat.find(source)
            files = [PlannedFile(f.url, f.size) for f in entry.files]
            if entry.depends_on and not self.is_installed(entry.depends_on):
                files += [PlannedFile(f.url, f.size) for f in load_multi_speaker(cat).find(entry.depends_on).files]
            return InstallPlan(name or entry.name, tuple(files))
        url = as_url(source)
        if url:
            info = dl.probe(url, timeout=timeout)
            return InstallPlan(name or stem(info.filename), (PlannedFile(url, info.size),))
        path = local_path(source)
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        return InstallPlan(name or stem(path.name), (PlannedFile(str(path), size),))

    def install(self, source: str, *, name: str | None = None, sha256: str | None = None,
                architecture: str | None = None, catalogue: str | Catalogue | None = None,
                confirm: Callable[[InstallPlan], bool] | None = None, progress: Progress | None = None,
                max_bytes: int = dl.DEFAULT_MAX_BYTES, timeout: float = dl.DEFAULT_TIMEOUT,
                retries: int = dl.DEFAULT_RETRIES) -> InstalledModel:
        """Install from a local file/folder, an http(s) URL, an hf:// reference, or (with
        `catalogue`) the catalogue entry named `source`. `confirm` sees the plan (sizes)
        before anything is downloaded and may cancel by returning False."""
        fetch = dict(max_bytes=max_bytes, timeout=timeout, retries=retries, progress=progress)
        if catalogue is not None:
            cat = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue, architecture)
            entry = cat.find(source)
            return self._install_entry(cat, entry, name=name, architecture=architecture, confirm=confirm, **fetch)
        plan = self.plan(source, timeout=timeout, name=name)
        self._check_free(plan.name)
        url = as_url(source)
        if url and confirm is not None and not confirm(plan):  # only downloads need a yes
            raise InstallError(f"install of {plan.name!r} cancelled")
        with self._staged() as payload:
            if url:
                got = dl.download(url, payload / payload_name(url), sha256=sha256,
                                  expected_size=None, **fetch)
                unpack_if_zip(got.path)
                origin = {"type": "hub" if source.startswith("hf://") else "url", "url": url, "ref": source}
            else:
                path = local_path(source)
                copy_local(path, payload, sha256)
                origin = {"type": "file", "path": str(path)}
            return self._commit(payload, plan.name, architecture, origin, {})

    # --- internals -----------------------------------------------------------

    def _install_entry(self, cat: Catalogue, entry: CatalogueEntry, *, name, architecture, confirm,
                       **fetch) -> InstalledModel:
        target = name or entry.name
        self._check_free(target)
        if confirm is not None and not confirm(self.plan(entry.name, catalogue=cat, name=target)):
            raise InstallError(f"install of {target!r} cancelled")
        dependency = None
        if entry.depends_on:
            try:
                dependency = self.get(entry.depends_on)
            except ModelNotFound:
                dep_entry = load_multi_speaker(cat).find(entry.depends_on)
                dependency = self._install_entry(cat.multi_speaker, dep_entry, name=None,
                                                 architecture=architecture, confirm=None, **fetch)
        with self._staged() as payload:
            for f in entry.files:
                self._fetch_catalogue_file(f, payload, **fetch)
            for target_file, as_name in entry.links:
                _link(dependency, target_file, payload / as_name)
            arch = architecture or entry.architecture
            for side, text in side_files(cat, arch, timeout=fetch["timeout"]).items():
                if not (payload / side).exists():  # what the entry itself brings wins
                    (payload / side).write_text(text, encoding="utf-8")
            origin = {"type": "catalogue", "catalogue": cat.origin, "entry": entry.name,
                      "urls": [f.url for f in entry.files]}
            extra = {"license": entry.license, "creator": entry.creator, "provenance": entry.source}
            if dependency is not None:
                extra["depends_on"] = dependency.name
            return self._commit(payload, target, arch, origin, extra, version=entry.version)

    def _fetch_catalogue_file(self, f: CatalogueFile, payload: Path, **fetch) -> None:
        url = catalogue_url(f)
        dest = payload / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        got = dl.download(url, dest, sha256=f.sha256, expected_size=f.size, **fetch)
        if f.unzip:
            safe_extract(got.path, got.path.parent, f.unzip)
            got.path.unlink()

    def _commit(self, payload: Path, name: str, architecture: str | None, origin: dict, extra: dict,
                version: str | None = None) -> InstalledModel:
        found = detect(payload, declared=architecture, label=name)
        files = []
        for rel, role in sorted(found.roles.items()):
            p = payload / rel
            files.append({"path": rel, "size": p.stat().st_size, "sha256": dl.file_sha256(p), "role": role})
        manifest = {
            "format": MANIFEST_FORMAT, "name": name, "architecture": found.architecture,
            "version": found.version or version, "files": files, "source": origin,
            "license": extra.get("license"), "creator": extra.get("creator"), "provenance": extra.get("provenance"),
            "info": found.info, "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if extra.get("depends_on"):
            manifest["depends_on"] = extra["depends_on"]
        (payload / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        final = self.root / found.architecture / folder_name(name)
        self._check_free(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(payload, final)  # atomic on one filesystem; fails if another install got there first
        except OSError as exc:
            raise InstallError(f"cannot install {name!r} at {final}: {exc}") from exc
        return _read_model(final)

    def _check_free(self, name: str) -> None:
        folder_name(name)
        try:
            model = self.get(name)
        except ModelNotFound:
            return
        raise InstallError(f"a model named {model.name!r} is already installed at {model.path}; "
                           f"remove it first (haysay models remove {model.name!r})")

    def _staging(self) -> Path:
        base = self.root / STAGING
        base.mkdir(parents=True, exist_ok=True)
        job = Path(tempfile.mkdtemp(prefix="job-", dir=base))
        (job / OWNER).write_text(json.dumps(_me()), encoding="utf-8")
        return job

    def _staged(self):
        return _Staged(self._staging())


class _Staged:
    """A payload folder inside a fresh staging dir; the staging dir always goes on exit."""

    def __init__(self, job: Path):
        self.job = job
        self.payload = job / "payload"

    def __enter__(self) -> Path:
        self.payload.mkdir()
        return self.payload

    def __exit__(self, *exc):
        shutil.rmtree(self.job, ignore_errors=True)
        return False


def _me() -> dict:
    import psutil

    return {"pid": os.getpid(), "started": psutil.Process().create_time(), "host": socket.gethostname()}


def _owner_alive(owner: dict) -> bool:
    """Whether the process that made a staging folder still runs (a reused pid has another start time)."""
    import psutil

    if owner.get("host") != socket.gethostname():
        return True  # another machine's install on a shared folder: not ours to judge
    try:
        proc = psutil.Process(int(owner["pid"]))
        return abs(proc.create_time() - float(owner["started"])) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, TypeError, ValueError):
        return False


def sweep_staging(base: Path) -> list[Path]:
    """Remove staging folders whose owning process is gone; returns what was removed."""
    removed = []
    try:
        jobs = [p for p in base.iterdir() if p.is_dir() and p.name.startswith("job-")]
    except OSError:
        return removed
    for job in jobs:
        try:
            owner = json.loads((job / OWNER).read_text(encoding="utf-8"))
            stale = not _owner_alive(owner)
        except FileNotFoundError:
            try:
                stale = time.time() - job.stat().st_mtime > UNOWNED_GRACE_S
            except OSError:
                continue
        except (OSError, ValueError):
            stale = False  # unreadable now: perhaps being written; look again next time
        if stale:
            shutil.rmtree(job, ignore_errors=True)
            removed.append(job)
    return removed


def folder_name(name: str) -> str:
    """A model's folder: its name with path separators and odd characters made safe."""
    clean = re.sub(r"[^\w .,()+'&-]", "_", name.strip()).strip(" .")
    if not clean or clean.startswith("."):
        raise InstallError(f"model name {name!r} cannot be used as a folder name")
    return clean[:120]


def _read_model(folder: Path) -> InstalledModel:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(ModelFile(f["path"], int(f["size"]), f["sha256"], f.get("role", "other"))
                      for f in manifest["files"])
        return InstalledModel(manifest["name"], manifest["architecture"], manifest.get("version"), folder,
                              files, manifest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc}); reinstall or remove this folder") from exc


def _link(dependency: InstalledModel | None, target: str, dest: Path) -> None:
    if dependency is None:
        raise InstallError(f"{dest.name}: a link needs the multi-speaker model it points into")
    src = dependency.path / target
    if not src.is_file():
        raise CatalogueError(f"multi-speaker model {dependency.name!r} has no file {target!r} to link as {dest.name!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)  # a hard link: shares the bytes, survives removal of the dependency
    except OSError:
        shutil.copyfile(src, dest)
