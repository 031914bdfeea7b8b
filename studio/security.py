"""Self-host hardening: host/origin checks, login, session cookie, security headers, body size and rate limits.

One pure-ASGI middleware guards every HTTP request *and* the websocket, so
NiceGUI's own routes (pages, uploads, socket.io) are covered as well as ours.
The login page is plain HTML with no script, served before authentication.
A Host or Origin the studio does not answer to is refused before anything else,
which is what defeats DNS rebinding of a password-less studio on loopback.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import secrets
import threading
import time
from collections import deque
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .config import StudioConfig

COOKIE = "haysay_session"
PUBLIC_PATHS = {"/login", "/favicon.ico"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORTS = {"http": 80, "https": 443}
SOCKET_PREFIX = "/_nicegui_ws/"  # socket.io, both its polling and websocket transports
HSTS = (b"strict-transport-security", b"max-age=31536000")
CSP = "; ".join([
    "default-src 'self'",
    # NiceGUI writes its import map and start-up code inline and Vue compiles
    # component templates at run time: these two holes are NiceGUI's needs
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",  # the spectrogram computes in a blob worker
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # not no-referrer: under it browsers send `Origin: null` on same-origin form posts (the login),
    # which the origin check must refuse; same-origin still leaks nothing to other sites
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class RateLimiter:
    """At most `limit` events per `window_s` seconds for each key (sliding window)."""

    def __init__(self, limit: int, window_s: float):
        self.limit, self.window_s = limit, window_s
        self._events: dict[str, deque] = {}
        self._lock = threading.Lock()

    max_keys = 10_000  # beyond this many clients, those idle for a whole window are forgotten

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if key not in self._events and len(self._events) >= self.max_keys:
                self._events = {k: q for k, q in self._events.items() if q and now - q[-1] <= self.window_s}
            q = self._events.setdefault(key, deque())
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def retry_after(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._events.get(key)
            return max(0.0, self.window_s - (now - q[0])) if q else 0.0


def make_token(secret: str, hours: float, now: float | None = None) -> str:
    expires = int((now or time.time()) + hours * 3600)
    body = f"{expires}.{secrets.token_hex(8)}"
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{sig}"


def check_token(secret: str, token: str | None, now: float | None = None) -> bool:
    try:
        expires, nonce, sig = (token or "").split(".")
        good = hmac.new(secret.encode(), f"{expires}.{nonce}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(good, sig) and int(expires) > (now or time.time())
    except ValueError:
        return False


def _cookie(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _headers(scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def split_host(value: str) -> tuple[str, int | None]:
    """'name', 'name:port', '[::1]:port' -> (lower-case name, port or None); ('', None) if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
    elif value.count(":") == 1:
        name, rest = value.split(":")[0], ":" + value.split(":")[1]
    else:  # a plain name, or a bare IPv6 address
        name, rest = value, ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return "", None
    return name, int(rest[1:]) if rest else None


class HostPolicy:
    """Which Host headers and Origins the studio answers to: the loopback names and the bind host
    on the bound port, and each --allowed-host (on its own port if given, else the scheme's default
    port or the bound one, as behind a reverse proxy)."""

    def __init__(self, config: StudioConfig):
        self.config = config
        self.local = LOOPBACK_NAMES | {config.host.lower().strip("[]")}
        self.extra: dict[str, set[int | None]] = {}
        for entry in config.allowed_hosts:
            name, port = split_host(entry)
            self.extra.setdefault(name, set()).add(port)

    def host_ok(self, host: str | None) -> bool:
        name, _ = split_host(host or "")
        return bool(name) and (name in self.local or name in self.extra)

    def origin_ok(self, origin: str | None) -> bool:
        try:
            parts = urlsplit(origin or "")
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        name = (parts.hostname or "").lower()
        if parts.scheme not in DEFAULT_PORTS or not name:
            return False
        if name in self.extra:
            ports = self.extra[name]
            return port in ports or (None in ports and port in (DEFAULT_PORTS[parts.scheme], self.config.port))
        return name in self.local and port == self.config.port

    def socketio_origins(self, origin, environ=None) -> bool:
        """python-engineio's `cors_allowed_origins` callable: echo only origins we answer to."""
        return self.origin_ok(origin)


def _in_networks(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_client(scope, networks: list) -> tuple[str, str]:
    """(client address, scheme) of a request: the socket peer and its scheme, unless the peer is a
    trusted proxy; then the right-most X-Forwarded-For hop that is not itself a trusted proxy
    (hops further left are whatever the client claimed) and X-Forwarded-Proto."""
    peer = (scope.get("client") or ("", 0))[0]
    scheme = scope.get("scheme", "http")
    if not networks or not _in_networks(peer, networks):
        return peer, scheme
    client = peer
    hops = [h.strip() for value in _headers(scope, b"x-forwarded-for") for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        client = hop
        if not _in_networks(hop, networks):
            break
    proto = next(iter(_headers(scope, b"x-forwarded-proto")), "").split(",")[0].strip().lower()
    if proto in DEFAULT_PORTS:
        scheme = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
    return client, scheme


def _static(scope) -> bool:
    """NiceGUI's own files (bundle, libraries, components): a page load fetches dozens of them."""
    return scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"].startswith("/_nicegui/")


class SecurityMiddleware:
    """Host and Origin checks; a per-client request limit; headers on every response (HSTS over TLS);
    in auth mode, a valid session for everything but /login; a cap on request bodies (uploads included)."""

    def __init__(self, app, config: StudioConfig):
        self.app, self.config = app, config
        self.hosts = HostPolicy(config)
        self.networks = config.proxy_networks
        self.limiter = RateLimiter(config.requests_per_minute, 60.0)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client, scheme = forwarded_client(scope, self.networks)
        scope = dict(scope, client=(client, (scope.get("client") or ("", 0))[1]), scheme=scheme)
        path = scope.get("path", "")
        websocket = scope["type"] == "websocket"
        extra = [HSTS] if scheme in ("https", "wss") else []

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS + extra if h[0] not in names]
            await send(message)

        async def refuse(status: int, text: str, headers: dict | None = None):
            if websocket:
                return await send({"type": "websocket.close", "code": 1008, "reason": text})
            return await _respond(scope, receive, send_with_headers, PlainTextResponse(text, status, headers=headers))

        if not self.hosts.host_ok(_header(scope, b"host")):
            return await refuse(403, "host not allowed (see --allowed-host)")
        origin = _header(scope, b"origin")
        checks_origin = websocket or path.startswith(SOCKET_PREFIX) or scope["method"] not in ("GET", "HEAD", "OPTIONS")
        if origin is not None and checks_origin and not self.hosts.origin_ok(origin):
            return await refuse(403, "cross-origin request refused")
        if not _static(scope) and not self.limiter.allow(client):
            wait = int(self.limiter.retry_after(client)) + 1
            return await refuse(429, f"too many requests; try again in {wait} s", {"Retry-After": str(wait)})
        authed = not self.config.auth_required or path in PUBLIC_PATHS \
            or check_token(self.config.secret, _cookie(scope))
        if websocket:
            if not authed:
                return await send({"type": "websocket.close", "code": 1008})
            return await self.app(scope, receive, send)

        if not authed:
            if scope["method"] == "GET" and not path.startswith(("/_nicegui", "/artifact")):
                return await _respond(scope, receive, send_with_headers,
                                      RedirectResponse("/login?next=" + quote(path, safe="/"), status_code=303))
            return await _respond(scope, receive, send_with_headers, Response("authentication required", 401))
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = _header(scope, b"content-length")
            if length is None and _header(scope, b"transfer-encoding"):
                return await _respond(scope, receive, send_with_headers, Response("length required", 411))
            if length is not None and (not length.isdigit() or int(length) > self.config.max_upload_bytes):
                limit_mb = self.config.max_upload_bytes / (1 << 20)
                return await _respond(scope, receive, send_with_headers,
                                      Response(f"request body too large (limit {limit_mb:g} MiB)", 413))
        return await self.app(scope, receive, send_with_headers)


async def _respond(scope, receive, send, response: Response) -> None:
    await response(scope, receive, send)


LOGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>haysay studio · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f3f5f4; display: flex; min-height: 100vh;
       align-items: center; justify-content: center; margin: 0; }}
form {{ background: #fff; padding: 2rem 2.5rem; border-radius: 10px; box-shadow: 0 2px 12px #0002; min-width: 18rem; }}
h1 {{ font-size: 1.3rem; margin: 0 0 1rem; }} input {{ width: 100%; padding: .5rem; margin: .4rem 0 1rem;
       box-sizing: border-box; }} button {{ padding: .5rem 1.2rem; background: #2e7d32; color: #fff; border: 0;
       border-radius: 5px; }} .err {{ color: #c62828; margin-bottom: .8rem; }}
</style></head><body>
<form method="post" action="/login">
<h1>haysay studio</h1>{error}
<label for="password">Access password</label>
<input id="password" name="password" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></body></html>"""


def _safe_next(value: str | None) -> str:
    value = value or "/"
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def add_login_routes(app: FastAPI, config: StudioConfig) -> RateLimiter:
    """GET/POST /login and /logout; returns the login rate limiter (per client address)."""
    limiter = RateLimiter(config.login_attempts, config.login_window_s)

    @app.get("/login", include_in_schema=False)
    def login_page(next: str = "/", error: str = "") -> HTMLResponse:
        message = f'<div class="err">{html.escape(error)}</div>' if error else ""
        return HTMLResponse(LOGIN_HTML.format(error=message, next=html.escape(_safe_next(next))))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        if not limiter.allow(client):
            wait = int(limiter.retry_after(client)) + 1
            return HTMLResponse(LOGIN_HTML.format(
                error=f'<div class="err">Too many attempts; try again in {wait} s.</div>', next="/"),
                status_code=429, headers={"Retry-After": str(wait)})
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        password = (form.get("password") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        if not config.password or not hmac.compare_digest(password.encode(), config.password.encode()):
            return HTMLResponse(LOGIN_HTML.format(error='<div class="err">Wrong password.</div>',
                                                  next=html.escape(target)), status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, make_token(config.secret, config.session_hours), httponly=True,
                            samesite="strict", secure=request.url.scheme == "https",
                            max_age=int(config.session_hours * 3600), path="/")
        return response

    @app.get("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return limiter
