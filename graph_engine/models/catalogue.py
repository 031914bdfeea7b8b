"""Catalogues: JSON lists of installable models.

Two shapes are read:

haysay's own (a list, or {"architecture": ..., "models": [...]}):
    {"name": "Alto", "architecture": "rvc", "version": "v2", "license": "CC-BY-4.0",
     "creator": "...", "source": "https://...",
     "files": [{"url": "https://...", "path": "alto.pth", "size": 55000000,
                "sha256": "...", "unzip": "REMOVE_OUTERMOST_DIR"}]}

Hay Say's per-architecture character_models.json, unchanged:
    {"Model Name": "Cozy Glow", "License": "UNSPECIFIED",
     "Originally Acquired From": "https://...",
     "Multi-speaker Model Dependency": "Pony1",           # optional, with Symlinks
     "Symlinks": [{"As": "G_101600.pth", "Target": "G_101600.pth"}],
     "Files": [{"URL": "https://huggingface.co/.../resolve/main/x.pth",
                "Download With": "HUGGINGFACE_HUB" | "REQUESTS" | "GDOWN" | "MEGA",
                "Download As": "x.pth", "Size (bytes)": 55125567,
                "Unzip Strategy": "UNZIP_IN_PLACE" | "FLATTEN" | "REMOVE_OUTERMOST_DIR"}]}
Its architecture comes from the folder the file sits in (architectures/rvc/,
architectures/so_vits_svc_4/, ...) unless given. Multi-speaker dependencies are
looked up in the sibling multi_speaker_models.json.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from .archive import STRATEGIES
from .errors import CatalogueError

HAYSAY_FOLDERS = {  # Hay Say's architecture folder -> (haysay architecture id, version)
    "rvc": ("rvc", None),
    "so_vits_svc_4": ("sovits", "4.0"),
    "so_vits_svc_3": ("sovits", "3.0"),
    "so_vits_svc_5": ("sovits5", None),
    "controllable_talknet": ("talknet", None),
    "styletts_2": ("styletts2", None),
    "gpt_so_vits": ("gpt_sovits", None),
}
DOWNLOADERS = ("HUGGINGFACE_HUB", "REQUESTS", "GDOWN", "MEGA", "HTTP")
MULTI_SPEAKER_FILE = "multi_speaker_models.json"
MAX_CATALOGUE_BYTES = 32 << 20
CATALOGUE_FOLDER = "catalogues"  # HAYSAY_HOME/catalogues/*.json: browsed by the studio


@dataclass(frozen=True)
class CatalogueFile:
    url: str
    path: str                     # where it lands inside the model folder
    size: int | None = None
    sha256: str | None = None
    unzip: str | None = None      # one of archive.STRATEGIES, or None to keep the file as is
    download_with: str = "HTTP"


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    files: tuple[CatalogueFile, ...]
    architecture: str | None = None
    version: str | None = None
    license: str | None = None
    creator: str | None = None
    source: str | None = None          # provenance: where the model was first published
    language: str | None = None
    depends_on: str | None = None      # Hay Say multi-speaker model this one shares files with
    links: tuple[tuple[str, str], ...] = ()  # (file in the dependency, name in this model)

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)


@dataclass
class Catalogue:
    origin: str
    entries: list[CatalogueEntry]
    architecture: str | None = None
    multi_speaker: "Catalogue | None" = field(default=None, repr=False)

    def find(self, name: str) -> CatalogueEntry:
        exact = [e for e in self.entries if e.name == name]
        if not exact:
            exact = [e for e in self.entries if e.name.casefold() == name.casefold()]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise CatalogueError(f"{self.origin}: several models are named {name!r}")
        close = difflib.get_close_matches(name, [e.name for e in self.entries], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise CatalogueError(f"{self.origin}: no model named {name!r} among {len(self.entries)}{hint}")


def parse_catalogue(data: Any, origin: str, architecture: str | None = None) -> Catalogue:
    """Read either catalogue shape from already-parsed JSON; errors name the entry and field."""
    version = None
    if isinstance(data, dict) and "models" in data:
        architecture = architecture or data.get("architecture")
        data = data["models"]
    if architecture is None:
        architecture, version = architecture_from_origin(origin)
    if not isinstance(data, list):
        raise CatalogueError(f"{origin}: a catalogue is a JSON list of models (or an object with 'models')")
    entries = []
    for i, item in enumerate(data):
        where = f"{origin}[{i}]"
        if not isinstance(item, dict):
            raise CatalogueError(f"{where}: expected an object, got {type(item).__name__}")
        if "Model Name" in item or "Files" in item:
            entries.append(_haysay_entry(item, where, architecture, version))
        else:
            entries.append(_native_entry(item, where, architecture))
    return Catalogue(origin, entries, architecture)


def architecture_from_origin(origin: str) -> tuple[str | None, str | None]:
    """Hay Say keeps one catalogue per architecture folder: .../architectures/<folder>/character_models.json."""
    parts = re.split(r"[/\\]", origin)
    for part in reversed(parts[:-1]):
        if part in HAYSAY_FOLDERS:
            return HAYSAY_FOLDERS[part]
    stem = parts[-1].rsplit(".", 1)[0]  # a copy saved by its folder's name: catalogues/so_vits_svc_4.json
    return HAYSAY_FOLDERS.get(stem, (None, None))


def multi_speaker_origin(origin: str) -> str:
    """Where Hay Say keeps the multi-speaker models for a character_models.json."""
    head, _, _ = origin.replace("\\", "/").rpartition("/")
    return f"{head}/{MULTI_SPEAKER_FILE}" if head else MULTI_SPEAKER_FILE


def _haysay_entry(item: dict, where: str, architecture: str | None, version: str | None) -> CatalogueEntry:
    name = _text(item, "Model Name", where)
    files = item.get("Files")
    if not isinstance(files, list) or not files:
        raise CatalogueError(f"{where} ({name}): 'Files' must be a non-empty list")
    parsed = []
    for j, f in enumerate(files):
        fw = f"{where}.Files[{j}]"
        if not isinstance(f, dict):
            raise CatalogueError(f"{fw}: expected an object")
        downloader = f.get("Download With", "REQUESTS")
        if downloader not in DOWNLOADERS:
            raise CatalogueError(f"{fw}: 'Download With' is {downloader!r}; expected one of {', '.join(DOWNLOADERS)}")
        parsed.append(CatalogueFile(url=_text(f, "URL", fw), path=_relative(_text(f, "Download As", fw), fw),
                                    size=_size(f.get("Size (bytes)"), fw), unzip=_strategy(f.get("Unzip Strategy"), fw),
                                    download_with=downloader))
    links = []
    for j, link in enumerate(item.get("Symlinks") or []):
        lw = f"{where}.Symlinks[{j}]"
        if not isinstance(link, dict):
            raise CatalogueError(f"{lw}: expected an object with 'Target' and 'As'")
        links.append((_relative(_text(link, "Target", lw), lw), _relative(_text(link, "As", lw), lw)))
    depends = item.get("Multi-speaker Model Dependency")
    if links and not depends:
        raise CatalogueError(f"{where} ({name}): 'Symlinks' given without a 'Multi-speaker Model Dependency'")
    return CatalogueEntry(name=name, files=tuple(parsed), architecture=architecture, version=version,
                          license=item.get("License"), creator=item.get("Creator"),
                          source=item.get("Originally Acquired From"), depends_on=depends, links=tuple(links))


def _native_entry(item: dict, where: str, architecture: str | None) -> CatalogueEntry:
    name = _text(item, "name", where)
    files = item.get("files")
    if not isinstance(files, list) or not files:
        raise CatalogueError(f"{where} ({name}): 'files' must be a non-empty list")
    parsed = []
    for j, f in enumerate(files):
        fw = f"{where}.files[{j}]"
        if not isinstance(f, dict):
            raise CatalogueError(f"{fw}: expected an object")
        url = _text(f, "url", fw)
        default_path = PurePosixPath(url.split("?", 1)[0]).name
        parsed.append(CatalogueFile(url=url, path=_relative(f.get("path") or default_path, fw),
                                    size=_size(f.get("size"), fw), sha256=f.get("sha256"),
                                    unzip=_strategy(f.get("unzip"), fw)))
    return CatalogueEntry(name=name, files=tuple(parsed), architecture=item.get("architecture") or architecture,
                          version=item.get("version"), license=item.get("license"), creator=item.get("creator"),
                          language=item.get("language"), source=item.get("source"))


def _text(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: '{key}' must be a non-empty string")
    return value


def _size(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogueError(f"{where}: size must be a whole number of bytes >= 0, got {value!r}")
    return value


def _strategy(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if value not in STRATEGIES:
        raise CatalogueError(f"{where}: unzip strategy {value!r}; expected one of {', '.join(STRATEGIES)}")
    return value


def _relative(path: str, where: str) -> str:
    clean = path.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in parts or not parts:
        raise CatalogueError(f"{where}: file path {path!r} must stay inside the model folder")
    return "/".join(parts)


def read_json_text(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"{origin}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def load_catalogue(source: str | Path, architecture: str | None = None, *, timeout: float = 30.0) -> Catalogue:
    """Read a catalogue from a file or an http(s) URL (hf:// references too)."""
    origin = str(source)
    text = _read_source(origin, timeout)
    return parse_catalogue(read_json_text(text, origin), origin, architecture)


# Files Hay Say keeps beside an architecture's character_models.json that its characters are used with:
# StyleTTS 2's precomputed styles (hay_say_ui architectures/styletts_2/precomputed_styles.json)
SIDE_FILES = {"styletts2": ("precomputed_styles.json",)}


def side_files(catalogue: Catalogue, architecture: str | None, *, timeout: float = 30.0) -> dict[str, str]:
    """{name: text} of the SIDE_FILES found beside the catalogue (none found is no error)."""
    found = {}
    for name in SIDE_FILES.get(architecture or "", ()):
        head, _, _ = catalogue.origin.replace("\\", "/").rpartition("/")
        try:
            found[name] = _read_source(f"{head}/{name}" if head else name, timeout)
        except (CatalogueError, OSError, UnicodeDecodeError):
            continue
    return found


def load_multi_speaker(catalogue: Catalogue, *, timeout: float = 30.0) -> Catalogue:
    """The sibling multi_speaker_models.json of a Hay Say catalogue (loaded once)."""
    if catalogue.multi_speaker is None:
        origin = multi_speaker_origin(catalogue.origin)
        try:
            text = _read_source(origin, timeout)
        except CatalogueError as exc:
            raise CatalogueError(f"{catalogue.origin}: a model needs a multi-speaker model, but {exc}") from exc
        catalogue.multi_speaker = parse_catalogue(read_json_text(text, origin), origin, catalogue.architecture)
    return catalogue.multi_speaker


def catalogue_sources(home: Path, given: Iterable[str] = ()) -> list[str]:
    """The catalogues to browse: those given, then every *.json in HOME/catalogues/ and one folder
    down (a copy of Hay Say's architectures/<folder>/), multi-speaker lists aside (entries depend on them)."""
    folder = Path(home) / CATALOGUE_FOLDER
    found = sorted([*folder.glob("*.json"), *folder.glob("*/*.json")]) if folder.is_dir() else []
    sources = [str(s) for s in given] + [str(p) for p in found if p.name != MULTI_SPEAKER_FILE]
    return list(dict.fromkeys(sources))


def load_catalogues(sources: Iterable[str], *, timeout: float = 30.0) -> tuple[list[Catalogue], list[str]]:
    """Every catalogue that reads, and one message per one that does not (a bad file hides no other)."""
    catalogues, problems = [], []
    for source in sources:
        try:
            catalogues.append(load_catalogue(source, timeout=timeout))
        except CatalogueError as exc:
            problems.append(str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{source}: cannot read ({exc.__class__.__name__})")
    return catalogues, problems


def _read_source(origin: str, timeout: float) -> str:
    if origin.startswith(("http://", "https://", "hf://")):
        import httpx

        from .download import resolve_hub, rewrite_for_mirror

        url = resolve_hub(origin) if origin.startswith("hf://") else rewrite_for_mirror(origin)
        try:
            with httpx.Client(follow_redirects=True, timeout=timeout) as http:
                resp = http.get(url)
        except httpx.HTTPError as exc:
            raise CatalogueError(f"{origin}: cannot fetch the catalogue ({exc})") from exc
        if resp.status_code >= 400:
            raise CatalogueError(f"{origin}: HTTP {resp.status_code} {resp.reason_phrase}")
        if len(resp.content) > MAX_CATALOGUE_BYTES:
            raise CatalogueError(f"{origin}: catalogue larger than {MAX_CATALOGUE_BYTES} bytes")
        return resp.text
    path = Path(origin).expanduser()
    if not path.is_file():
        raise CatalogueError(f"{origin}: no such catalogue file")
    if path.stat().st_size > MAX_CATALOGUE_BYTES:
        raise CatalogueError(f"{origin}: catalogue larger than {MAX_CATALOGUE_BYTES} bytes")
    return path.read_text(encoding="utf-8")
