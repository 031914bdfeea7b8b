"""Unpacking model zips without letting them escape the model folder or fill the disk.

Strategies are Hay Say's (its catalogues name them per file):
  UNZIP_IN_PLACE        keep the archive's folder structure
  FLATTEN               every file lands directly in the target folder
  REMOVE_OUTERMOST_DIR  drop the single folder that wraps everything
plus AUTO: REMOVE_OUTERMOST_DIR when there is exactly one top folder, else UNZIP_IN_PLACE.

Refused: absolute paths, drive letters, `..`, symlinks and other special
members, a declared total over the cap, a member whose compression ratio is
absurd (zip bombs), and members that inflate past their declared size.
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import ArchiveError

STRATEGIES = ("UNZIP_IN_PLACE", "FLATTEN", "REMOVE_OUTERMOST_DIR", "AUTO")
DEFAULT_MAX_TOTAL = 16 << 30      # no voice model comes near this
DEFAULT_MAX_RATIO = 200           # real checkpoints compress ~1.1x; text a few x
RATIO_FLOOR = 1 << 20             # tiny members may compress extremely well (blank configs)
MAX_MEMBERS = 20_000
_JUNK = ("__MACOSX/",)
_JUNK_NAMES = (".DS_Store", "Thumbs.db")
_CHUNK = 1 << 20


def is_zip(path: Path) -> bool:
    """True when the file starts like a zip archive (whatever its name)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def is_archive(path: Path) -> bool:
    """A zip meant to be unpacked: torch checkpoints are zips too, and must stay whole."""
    if not is_zip(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return Path(path).suffix.lower() == ".zip"  # let safe_extract report what is wrong with it
    return not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names)


def plan_members(zf: zipfile.ZipFile, strategy: str, archive_name: str,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL, max_ratio: float = DEFAULT_MAX_RATIO,
                 ) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every member and map it to its relative destination; raises ArchiveError on anything unsafe."""
    if strategy not in STRATEGIES:
        raise ArchiveError(f"{archive_name}: unknown unzip strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"{archive_name}: {len(infos)} members is more than the {MAX_MEMBERS} allowed")
    files: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    total = 0
    for info in infos:
        rel = _safe_relative(info, archive_name)
        if rel is None:
            continue
        total += info.file_size
        if total > max_total_bytes:
            raise ArchiveError(
                f"{archive_name}: unpacks to more than {max_total_bytes} bytes (cap); refusing a possible zip bomb")
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise ArchiveError(
                f"{archive_name}: member {info.filename!r} inflates {info.file_size / max(info.compress_size, 1):.0f}x "
                f"(limit {max_ratio:.0f}x); refusing a possible zip bomb")
        files.append((info, rel))
    if not files:
        raise ArchiveError(f"{archive_name}: the archive holds no files")
    return _apply_strategy(files, strategy, archive_name)


def safe_extract(zip_path: Path, dest: Path, strategy: str = "AUTO", *,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL, max_ratio: float = DEFAULT_MAX_RATIO) -> list[Path]:
    """Unpack `zip_path` into `dest` (created if needed); returns the written files.

    Existing files in `dest` are never overwritten: a clash is an error.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    name = zip_path.name
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{name}: not a readable zip archive ({exc})") from exc
    written: list[Path] = []
    with zf:
        plan = plan_members(zf, strategy, name, max_total_bytes, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        budget = max_total_bytes
        try:
            for info, rel in plan:
                target = (root / Path(*rel.parts)).resolve()
                if root not in target.parents:
                    raise ArchiveError(f"{name}: member {info.filename!r} would land outside the model folder")
                if target.exists():
                    raise ArchiveError(f"{name}: member {info.filename!r} clashes with an existing file {rel}")
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(target)
                budget -= _copy_member(zf, info, target, budget, name)
        except BaseException:
            for path in written:  # no half-unpacked model is left behind
                path.unlink(missing_ok=True)
            raise
    return written


def _safe_relative(info: zipfile.ZipInfo, archive_name: str) -> PurePosixPath | None:
    raw = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"{archive_name}: member {raw!r} is a symbolic link; links are not allowed in model archives")
    if info.is_dir():
        return None
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # zip tools often leave the type bits at 0
        raise ArchiveError(f"{archive_name}: member {raw!r} is not a regular file")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        raise ArchiveError(f"{archive_name}: member {raw!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(f"{archive_name}: member {raw!r} climbs out with '..'")
    if not parts or any(name.startswith(j) for j in _JUNK) or parts[-1] in _JUNK_NAMES:
        return None
    return PurePosixPath(*parts)


def _apply_strategy(files, strategy, archive_name):
    tops = {rel.parts[0] for _, rel in files}
    nested = all(len(rel.parts) > 1 for _, rel in files)
    if strategy == "AUTO":
        strategy = "REMOVE_OUTERMOST_DIR" if len(tops) == 1 and nested else "UNZIP_IN_PLACE"
    if strategy == "REMOVE_OUTERMOST_DIR":
        if len(tops) != 1 or not nested:
            raise ArchiveError(
                f"{archive_name}: REMOVE_OUTERMOST_DIR needs everything inside one top folder, found {sorted(tops)[:5]}")
        files = [(info, PurePosixPath(*rel.parts[1:])) for info, rel in files]
    elif strategy == "FLATTEN":
        seen: dict[str, str] = {}
        flat = []
        for info, rel in files:
            if rel.name in seen:
                raise ArchiveError(
                    f"{archive_name}: FLATTEN would merge {seen[rel.name]!r} and {info.filename!r} into one file")
            seen[rel.name] = info.filename
            flat.append((info, PurePosixPath(rel.name)))
        files = flat
    return files


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, archive_name: str) -> int:
    # Headers can lie about sizes, so count the bytes actually inflated.
    limit = min(info.file_size, budget)
    written = 0
    try:
        with zf.open(info) as src, open(target, "xb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise ArchiveError(
                        f"{archive_name}: member {info.filename!r} inflates past its declared size; refusing")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
        # zlib errors, bad CRC, encrypted members
        raise ArchiveError(f"{archive_name}: member {info.filename!r} cannot be read ({exc})") from exc
    return written
