"""How a studio instance is started: bind address, access control and limits."""
from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MiB = 1 << 20


class StudioConfigError(ValueError):
    """The studio refuses to start with this configuration; `field` names the setting at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


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
    allowed_hosts: list[str] = field(default_factory=list)  # names (or name:port) the studio is reached by
    trusted_proxies: list[str] = field(default_factory=list)  # IPs/CIDRs whose X-Forwarded-* are believed
    requests_per_minute: int = 600  # per client, every request but NiceGUI's static files
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def server_mode(self) -> bool:
        """Bound beyond loopback: everything then needs the password."""
        return self.host not in LOOPBACK

    @property
    def auth_required(self) -> bool:
        return self.server_mode or bool(self.password)

    @property
    def sandboxed(self) -> bool:
        """Pipelines may touch only the allowed folders: whenever a password guards the studio,
        since a password on loopback means others reach it through a reverse proxy."""
        return self.auth_required

    @property
    def proxy_networks(self) -> list:
        return [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]

    def check(self) -> None:
        if self.server_mode and not self.password:
            raise StudioConfigError(
                f"refusing to listen on {self.host}: binding beyond 127.0.0.1 needs an access password "
                "(--password or HAYSAY_STUDIO_PASSWORD)", field="password")
        if self.password is not None and len(self.password) < 8:
            raise StudioConfigError("the access password must be at least 8 characters", field="password")
        if not 0 <= self.port <= 65535:
            raise StudioConfigError(f"port must be 0..65535, got {self.port}", field="port")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise StudioConfigError(f"--trusted-proxy {proxy!r} is not an IP address or CIDR network",
                                        field="trusted_proxies") from None
        for host in self.allowed_hosts:
            if not host or any(c in host for c in "/ @?#") or host.startswith("."):
                raise StudioConfigError(f"--allowed-host {host!r} is not a host name (name or name:port)",
                                        field="allowed_hosts")
        if self.requests_per_minute < 1:
            raise StudioConfigError("--rate-limit must be at least 1 request per minute", field="requests_per_minute")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise StudioConfigError("TLS needs both --tls-cert and --tls-key",
                                    field="tls_key" if self.tls_cert else "tls_cert")
        for name, path in (("tls_cert", self.tls_cert), ("tls_key", self.tls_key)):
            if path is not None and not (Path(path).is_file() and os.access(path, os.R_OK)):
                raise StudioConfigError(f"--{name.replace('_', '-')} {Path(path).name!r} is not a readable file",
                                        field=name)

    @classmethod
    def from_env(cls, **overrides) -> "StudioConfig":
        """Defaults, then HAYSAY_STUDIO_* variables, then explicit overrides (None means 'not given')."""
        env = os.environ
        values: dict = {}
        if env.get("HAYSAY_STUDIO_PASSWORD"):
            values["password"] = env["HAYSAY_STUDIO_PASSWORD"]
        if env.get("HAYSAY_STUDIO_SECRET"):
            values["secret"], values["secret_configured"] = env["HAYSAY_STUDIO_SECRET"], True
        for var, name, parse in (("HAYSAY_STUDIO_MAX_UPLOAD_MB", "max_upload_bytes", lambda v: int(float(v) * MiB)),
                                 ("HAYSAY_STUDIO_RATE_LIMIT", "requests_per_minute", int)):
            if env.get(var):
                try:
                    values[name] = parse(env[var])
                except ValueError:
                    raise StudioConfigError(f"{var}={env[var]!r} is not a number", field=name) from None
        if env.get("HAYSAY_STUDIO_ALLOW_URL_INSTALLS") == "1":
            values["allow_url_installs"] = True
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
