"""How a studio instance is started: bind address, access control and limits."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MiB = 1 << 20


class StudioConfigError(ValueError):
    """The studio refuses to start with this configuration."""


@dataclass
class StudioConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    password: str | None = None
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    secret_configured: bool = False
    home: Path | None = None
    max_upload_bytes: int = 200 * MiB
    runs_per_minute: int = 12
    login_attempts: int = 5  # per client address per login window
    login_window_s: float = 300.0
    session_hours: float = 12.0
    allow_url_installs: bool = False
    extra_roots: list[Path] = field(default_factory=list)

    @property
    def server_mode(self) -> bool:
        """Bound beyond loopback: everything then needs the password."""
        return self.host not in LOOPBACK

    @property
    def auth_required(self) -> bool:
        return self.server_mode or bool(self.password)

    def check(self) -> None:
        if self.server_mode and not self.password:
            raise StudioConfigError(
                f"refusing to listen on {self.host}: binding beyond 127.0.0.1 needs an access password "
                "(--password or HAYSAY_STUDIO_PASSWORD)")
        if self.password is not None and len(self.password) < 8:
            raise StudioConfigError("the access password must be at least 8 characters")
        if not 0 <= self.port <= 65535:
            raise StudioConfigError(f"port must be 0..65535, got {self.port}")

    @classmethod
    def from_env(cls, **overrides) -> "StudioConfig":
        """Defaults, then HAYSAY_STUDIO_* variables, then explicit overrides (None means 'not given')."""
        env = os.environ
        values: dict = {}
        if env.get("HAYSAY_STUDIO_PASSWORD"):
            values["password"] = env["HAYSAY_STUDIO_PASSWORD"]
        if env.get("HAYSAY_STUDIO_SECRET"):
            values["secret"], values["secret_configured"] = env["HAYSAY_STUDIO_SECRET"], True
        if env.get("HAYSAY_STUDIO_MAX_UPLOAD_MB"):
            values["max_upload_bytes"] = int(float(env["HAYSAY_STUDIO_MAX_UPLOAD_MB"]) * MiB)
        if env.get("HAYSAY_STUDIO_ALLOW_URL_INSTALLS") == "1":
            values["allow_url_installs"] = True
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
