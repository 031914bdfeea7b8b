"""Where haysay keeps its state, and how to reach a cluster.

Everything lives under HAYSAY_HOME (default: the per-user data dir):
  artifacts/   the zarr stage cache (HAYSAY_ARTIFACTS may point anywhere fsspec reaches)
  models/      installed voice models
  history.duckdb
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    env = os.environ.get("HAYSAY_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "haysay"


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
