"""Turning an install source into files in a staging folder: URLs, hub references, local files and zips."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import download as dl
from .archive import is_archive, safe_extract
from .catalogue import CatalogueFile
from .errors import InstallError

MANIFEST = "manifest.json"


def as_url(source: str) -> str | None:
    if source.startswith("hf://"):
        return dl.resolve_hub(source)
    if source.startswith(("http://", "https://")):
        return dl.check_url(source)
    return None


def local_path(source: str) -> Path:
    path = Path(source).expanduser()
    if not path.exists():
        raise InstallError(f"{source}: no such file or folder (and not an http(s) URL or hf:// reference)")
    return path.resolve()


def copy_local(path: Path, payload: Path, sha256: str | None) -> None:
    if path.is_dir():
        if sha256:
            raise InstallError(f"{path}: --sha256 checks a single file, not a folder")
        for p in path.rglob("*"):
            if p.is_symlink() and path not in p.resolve().parents:
                raise InstallError(f"{p}: symbolic link pointing outside the model folder")
        shutil.rmtree(payload)
        shutil.copytree(path, payload, ignore=shutil.ignore_patterns(MANIFEST, "__MACOSX", ".DS_Store"))
        return
    if sha256:
        got, want = dl.file_sha256(path), sha256.strip().lower().removeprefix("sha256:")
        if got != want:
            raise dl.ChecksumMismatch(f"{path}: sha256 is {got}, expected {want}")
    if is_archive(path):
        copy = payload / path.name
        shutil.copyfile(path, copy)
        unpack_if_zip(copy)
        return
    shutil.copyfile(path, payload / path.name)
    companion = path.with_name(path.name + ".json")  # Piper: voice.onnx travels with voice.onnx.json
    if path.suffix == ".onnx" and companion.is_file():
        shutil.copyfile(companion, payload / companion.name)


def unpack_if_zip(path: Path) -> None:
    if is_archive(path):
        unpack = path.with_name(path.name + ".unpacked")
        safe_extract(path, unpack, "AUTO")
        path.unlink()
        for item in unpack.iterdir():
            os.replace(item, path.parent / item.name)
        unpack.rmdir()


def catalogue_url(f: CatalogueFile) -> str:
    if f.download_with == "MEGA":
        raise InstallError(f"{f.url}: MEGA links need the MEGA client; download {f.path} yourself and run "
                           "`haysay models install <file or folder> --name ...`")
    url = f.url
    if f.download_with == "GDOWN":
        m = re.search(r"/file/d/([\w-]+)|[?&]id=([\w-]+)", url)
        if not m:
            raise InstallError(f"{url}: cannot read a Google Drive file id (folders are not supported)")
        url = f"https://drive.google.com/uc?export=download&id={m.group(1) or m.group(2)}"
    return dl.check_url(dl.rewrite_for_mirror(url))


def payload_name(url: str) -> str:
    return dl.safe_filename(unquote(urlparse(url).path.rsplit("/", 1)[-1])) or "download"


def stem(filename: str) -> str:
    name = filename
    for suffix in (".onnx", ".pth", ".pt", ".zip", ".index", ".ckpt", ".safetensors"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem or name
