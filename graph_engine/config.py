"""Where haysay keeps its state, and how to reach a cluster.

Everything lives under HAYSAY_HOME (default: the per-user data dir):
  artifacts/   the zarr stage cache (HAYSAY_ARTIFACTS may point anywhere fsspec reaches)
  models/      installed voice models
  history.duckdb

On several machines the artifact store (and the model store, HAYSAY_MODELS, default: next to the
artifacts under `models/`) must be a URL every machine reaches, e.g. s3://bucket/haysay.
Credentials and endpoint come from the usual environment of the filesystem (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ~/.aws/...); HAYSAY_STORAGE_OPTIONS may hold a JSON object
of extra fsspec options (e.g. {"client_kwargs": {"region_name": "eu-west-1"}}).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    env = os.environ.get("HAYSAY_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "haysay"


REMOTE_CACHES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")  # listings cached by default there


def is_remote(url: str) -> bool:
    """Whether `url` names a place other machines can reach (any fsspec URL but a local path)."""
    text = str(url)
    if "://" not in text:
        return False
    return text.split("://", 1)[0].lower() not in ("file", "local")


def storage_options(url: str) -> dict:
    """fsspec options for `url`: HAYSAY_STORAGE_OPTIONS (a JSON object), and on object stores no
    cached listings (another machine's marker must be seen the moment it is published)."""
    raw = os.environ.get("HAYSAY_STORAGE_OPTIONS", "").strip()
    options: dict = {}
    if raw:
        import json
        try:
            options = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"HAYSAY_STORAGE_OPTIONS: not valid JSON ({exc})") from None
        if not isinstance(options, dict):
            raise ValueError("HAYSAY_STORAGE_OPTIONS: must be a JSON object of fsspec options")
    if "://" in str(url) and str(url).split("://", 1)[0].lower() in REMOTE_CACHES:
        options.setdefault("use_listings_cache", False)
    return options


@dataclass(frozen=True)
class Settings:
    home: Path
    artifacts: str
    scheduler: str | None = None

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def outputs_dir(self) -> Path:
        """Where queued jobs' and the studio's relative written-file paths (audio.save) land."""
        return self.home / "outputs"

    @property
    def history_path(self) -> Path:
        return self.home / "history.duckdb"

    @classmethod
    def from_env(cls, home: str | os.PathLike | None = None, artifacts: str | None = None,
                 scheduler: str | None = None) -> "Settings":
        home_path = Path(home).expanduser() if home else default_home()
        return cls(
            home=home_path,
            artifacts=artifacts or os.environ.get("HAYSAY_ARTIFACTS") or str(home_path / "artifacts"),
            scheduler=scheduler or os.environ.get("HAYSAY_SCHEDULER") or None,
        )


def machine_memory_bytes() -> int:
    """This machine's memory as a local Dask worker sees it (`distributed.system.MEMORY_LIMIT`):
    physical memory, lowered by a cgroup limit or RLIMIT_RSS. Read here rather than imported, because
    importing `distributed` costs most of a second and validation must stay instant."""
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        import psutil
        limit = psutil.virtual_memory().total
    if sys.platform == "linux":
        for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
                     "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.high", "/sys/fs/cgroup/memory.low"):
            try:
                with open(path) as f:
                    value = int(f.read())
            except (OSError, ValueError):  # absent, or "max"
                continue
            if value > 0:
                limit = min(limit, value)
    if sys.platform != "win32":
        import resource
        hard = resource.getrlimit(resource.RLIMIT_RSS)[1]
        if 0 < hard < limit:
            limit = hard
    return limit
