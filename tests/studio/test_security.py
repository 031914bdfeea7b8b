"""Self-host mode: refusal to start, login, session, headers, limits."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haysay.studio.config import StudioConfig, StudioConfigError
from haysay.graph_engine import InvalidPipeline, parse_pipeline
from haysay.studio.security import (COOKIE, HostPolicy, RateLimiter, SecurityMiddleware, add_login_routes,
                                    check_token, forwarded_client, make_token)

PASSWORD = "correct horse battery"


def _app(config: StudioConfig, client: tuple[str, int] = ("127.0.0.1", 50000)) -> TestClient:
    app = FastAPI()
    app.add_middleware(SecurityMiddleware, config=config)
    add_login_routes(app, config)

    @app.get("/")
    def home():
        return {"ok": True}

    @app.post("/_nicegui/client/x/upload/y")
    def upload():
        return {"stored": True}

    @app.get("/_nicegui_ws/socket.io/")
    def socket_handshake():
        return {"sid": "x"}

    @app.get("/_nicegui/3.0/static/app.js")
    def static_file():
        return {"js": True}

    return TestClient(app, base_url="http://127.0.0.1:8123", follow_redirects=False, client=client)


def test_non_local_bind_without_password_refuses():
    with pytest.raises(StudioConfigError, match="needs an access password"):
        StudioConfig(host="0.0.0.0").check()
    StudioConfig(host="0.0.0.0", password=PASSWORD).check()
    with pytest.raises(StudioConfigError, match="at least 8"):
        StudioConfig(password="short").check()


def test_cli_refuses_to_start_on_all_interfaces(haysay_home, monkeypatch):
    monkeypatch.delenv("HAYSAY_STUDIO_PASSWORD", raising=False)
    r = subprocess.run([sys.executable, "-m", "haysay", "studio", "--host", "0.0.0.0", "--no-browser"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "refusing to listen on 0.0.0.0" in r.stderr


def test_unauthenticated_requests_are_refused():
    client = _app(StudioConfig(host="0.0.0.0", password=PASSWORD))
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    assert client.get("/artifact/" + "ab" * 32 + "/audio.wav").status_code == 401
    assert client.post("/_nicegui/client/x/upload/y", content=b"x").status_code == 401
    client.cookies.set(COOKIE, "1.2.3")  # a forged token
    assert client.get("/").status_code == 303


def test_login_sets_a_session_that_opens_everything():
    config = StudioConfig(host="0.0.0.0", password=PASSWORD)
    client = _app(config)
    bad = client.post("/login", data={"password": "wrong", "next": "/"})
    assert bad.status_code == 401 and "Wrong password" in bad.text
    ok = client.post("/login", data={"password": PASSWORD, "next": "//evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # open redirects are dropped
    cookie = ok.cookies.get(COOKIE)
    assert check_token(config.secret, cookie)
    assert "httponly" in ok.headers["set-cookie"].lower() and "samesite=strict" in ok.headers["set-cookie"].lower()
    client.cookies.set(COOKIE, cookie)
    assert client.get("/").json() == {"ok": True}


def test_security_headers_on_every_response():
    client = _app(StudioConfig())
    for r in (client.get("/"), client.get("/login"), client.get("/missing")):
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "object-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def test_oversized_upload_refused_before_it_is_read():
    config = StudioConfig(max_upload_bytes=1000)
    client = _app(config)
    assert client.post("/_nicegui/client/x/upload/y", content=b"x" * 1000).status_code == 200
    r = client.post("/_nicegui/client/x/upload/y", content=b"x" * 1001)
    assert r.status_code == 413 and "limit" in r.text


def test_login_rate_limit_trips():
    config = StudioConfig(host="0.0.0.0", password=PASSWORD, login_attempts=3)
    client = _app(config)
    codes = [client.post("/login", data={"password": "nope"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # even the right password waits until the window passes
    r = client.post("/login", data={"password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_rate_limiter_window_slides():
    rl = RateLimiter(2, 10.0)
    assert rl.allow("a", 0.0) and rl.allow("a", 1.0) and not rl.allow("a", 2.0)
    assert rl.allow("b", 2.0)  # per key
    assert rl.allow("a", 10.5)  # the first event left the window


def test_rate_limiter_forgets_idle_clients_beyond_its_key_cap():
    rl = RateLimiter(1, 10.0)
    rl.max_keys = 3
    for i, key in enumerate("abc"):
        assert rl.allow(key, float(i))
    assert rl.allow("d", 11.5)  # a and b have been idle for a window: dropped, c kept
    assert set(rl._events) == {"c", "d"} and not rl.allow("c", 11.6)


def test_tokens_expire_and_are_bound_to_the_secret():
    token = make_token("s1", hours=1, now=1000.0)
    assert check_token("s1", token, now=1000.0 + 3599)
    assert not check_token("s1", token, now=1000.0 + 3601)
    assert not check_token("s2", token, now=1000.0)
    assert not check_token("s1", None) and not check_token("s1", "garbage")


def test_real_studio_with_password_requires_login(start_studio):
    studio = start_studio("--password", PASSWORD)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(studio.url + "/_nicegui/client/x/upload/y", data=b"x", timeout=10)
    assert exc.value.code == 401
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(studio.url + "/", timeout=10)
    assert exc.value.code == 303 and exc.value.headers["location"].startswith("/login")
    page = urllib.request.urlopen(studio.url + "/login", timeout=10)
    assert page.headers["x-frame-options"] == "DENY" and "<script" not in page.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# -- host, origin, proxies, request limit, TLS ----------------------------------------------------------

def test_foreign_host_header_is_refused_before_anything_else():
    client = _app(StudioConfig(port=8123, allowed_hosts=["studio.example"]))
    r = client.get("/", headers={"host": "evil.example:8123"})
    assert r.status_code == 403 and r.text == "host not allowed (see --allowed-host)"
    assert r.headers["content-type"].startswith("text/plain")
    assert client.get("/", headers={"host": "localhost:8123"}).json() == {"ok": True}
    assert client.get("/", headers={"host": "[::1]:8123"}).json() == {"ok": True}
    assert client.get("/", headers={"host": "STUDIO.example"}).json() == {"ok": True}
    assert client.get("/", headers={"host": "127.0.0.1.evil.example"}).status_code == 403
    assert client.get("/", headers={"host": ""}).status_code == 403


def test_origin_must_match_scheme_host_and_port_on_state_changes_and_socketio():
    client = _app(StudioConfig(port=8123, allowed_hosts=["studio.example", "other.example:9000"]))
    upload = "/_nicegui/client/x/upload/y"
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "file://", "http://localhost"):
        assert client.post(upload, content=b"x", headers={"origin": origin}).status_code == 403, origin
        r = client.get("/_nicegui_ws/socket.io/?EIO=4&transport=polling", headers={"origin": origin})
        assert r.status_code == 403 and r.text == "cross-origin request refused", origin
    for origin in ("http://127.0.0.1:8123", "http://localhost:8123", "https://studio.example",
                   "http://studio.example:8123", "https://other.example:9000"):
        assert client.post(upload, content=b"x", headers={"origin": origin}).status_code == 200, origin
        assert client.get("/_nicegui_ws/socket.io/", headers={"origin": origin}).status_code == 200, origin
    assert client.post(upload, content=b"x", headers={"origin": "https://other.example"}).status_code == 403
    # a cross-site GET of a page changes nothing and is answered (its body is not readable cross-origin)
    assert client.get("/", headers={"origin": "http://evil.example"}).status_code == 200
    policy = HostPolicy(StudioConfig(port=8123))
    assert policy.socketio_origins("http://127.0.0.1:8123", {}) and not policy.socketio_origins("http://evil.example", {})


def _ws(config: StudioConfig | SecurityMiddleware, headers: dict) -> list[dict]:
    """Drive SecurityMiddleware with a raw websocket scope; what it sends, plus 'app' if it passed it on."""
    sent: list[dict] = []

    async def inner(scope, receive, send):
        sent.append({"type": "app", "client": scope["client"]})

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/_nicegui_ws/socket.io/", "query_string": b"EIO=4&transport=websocket",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "client": ("127.0.0.1", 4000),
             "scheme": "ws"}
    middleware = config if isinstance(config, SecurityMiddleware) else SecurityMiddleware(inner, config)
    middleware.app = inner
    asyncio.run(middleware(scope, receive, send))
    return sent


def test_websocket_handshake_checks_host_and_origin():
    config = StudioConfig(port=8123)
    assert _ws(config, {"host": "127.0.0.1:8123", "origin": "http://127.0.0.1:8123"})[0]["type"] == "app"
    for headers in ({"host": "evil.example:8123", "origin": "http://evil.example:8123"},
                    {"host": "127.0.0.1:8123", "origin": "http://evil.example"}):
        sent = _ws(config, headers)
        assert [m["type"] for m in sent] == ["websocket.close"] and sent[0]["code"] == 1008
    limited = SecurityMiddleware(None, StudioConfig(port=8123, requests_per_minute=2))
    legit = {"host": "127.0.0.1:8123", "origin": "http://127.0.0.1:8123"}
    assert [_ws(limited, legit)[0]["type"] for _ in range(3)] == ["app", "app", "websocket.close"]


def _scope(peer: str, xff: list[str], proto: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", v.encode()) for v in xff]
    if proto:
        headers.append((b"x-forwarded-proto", proto.encode()))
    return {"type": "http", "client": (peer, 1), "scheme": "http", "headers": headers}


def test_forwarded_headers_count_only_from_trusted_proxies():
    nets = StudioConfig(trusted_proxies=["10.0.0.0/8", "127.0.0.1"]).proxy_networks
    assert forwarded_client(_scope("127.0.0.1", ["6.6.6.6"], "https"), []) == ("127.0.0.1", "http")
    assert forwarded_client(_scope("192.0.2.9", ["6.6.6.6"], "https"), nets) == ("192.0.2.9", "http")
    # the right-most hop that is not a proxy of ours; what the client wrote further left is ignored
    assert forwarded_client(_scope("127.0.0.1", ["1.1.1.1, 203.0.113.7", "10.1.2.3"], "https"), nets) \
        == ("203.0.113.7", "https")
    assert forwarded_client(_scope("10.0.0.5", ["10.0.0.4"]), nets) == ("10.0.0.4", "http")


def test_rotating_forwarded_for_does_not_escape_the_login_limit():
    config = StudioConfig(password=PASSWORD, login_attempts=3)
    client = _app(config)
    codes = [client.post("/login", data={"password": "nope"}, headers={"x-forwarded-for": f"198.51.100.{i}"})
             .status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    proxied = _app(StudioConfig(password=PASSWORD, login_attempts=3, trusted_proxies=["127.0.0.1"]))
    codes = [proxied.post("/login", data={"password": "nope"}, headers={"x-forwarded-for": f"198.51.100.{i}"})
             .status_code for i in range(5)]
    assert codes == [401] * 5  # five clients behind the proxy, one attempt each
    same = [proxied.post("/login", data={"password": "nope"}, headers={"x-forwarded-for": "198.51.100.0"})
            .status_code for _ in range(3)]
    assert same == [401, 401, 429]


def test_general_request_limit_answers_429_with_retry_after():
    client = _app(StudioConfig(requests_per_minute=5))
    assert [client.get("/").status_code for _ in range(5)] == [200] * 5
    r = client.get("/")
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 61 and "too many requests" in r.text
    assert client.get("/_nicegui/3.0/static/app.js").status_code == 200  # static files are not counted
    assert _app(StudioConfig(requests_per_minute=5), client=("127.0.0.2", 1)).get("/").status_code == 200


def test_hsts_only_when_served_over_https():
    assert "strict-transport-security" not in _app(StudioConfig()).get("/").headers
    spoofed = _app(StudioConfig()).get("/", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in spoofed.headers
    proxied = _app(StudioConfig(trusted_proxies=["127.0.0.1"])).get("/", headers={"x-forwarded-proto": "https"})
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"


def test_bad_self_host_settings_name_their_field(tmp_path, monkeypatch):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    cases = [(dict(trusted_proxies=["10.0.0.0/33"]), "trusted_proxies", "not an IP address"),
             (dict(allowed_hosts=["http://x.example/"]), "allowed_hosts", "not a host name"),
             (dict(requests_per_minute=0), "requests_per_minute", "at least 1"),
             (dict(tls_cert=cert), "tls_key", "both --tls-cert and --tls-key"),
             (dict(tls_cert=cert, tls_key=tmp_path / "missing.pem"), "tls_key", "'missing.pem' is not a readable")]
    for values, field, message in cases:
        with pytest.raises(StudioConfigError, match=message) as exc:
            StudioConfig(**values).check()
        assert exc.value.field == field and str(tmp_path) not in str(exc.value)
    monkeypatch.setenv("HAYSAY_STUDIO_RATE_LIMIT", "lots")
    with pytest.raises(StudioConfigError, match="HAYSAY_STUDIO_RATE_LIMIT='lots' is not a number") as exc:
        StudioConfig.from_env()
    assert exc.value.field == "requests_per_minute"
    monkeypatch.setenv("HAYSAY_STUDIO_RATE_LIMIT", "30")
    assert StudioConfig.from_env().requests_per_minute == 30


def test_password_on_loopback_sandboxes_pipeline_paths(haysay_home):
    from haysay.studio.app import Studio

    def doc(path: str):
        return parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
            {"id": "tone", "type": "gen.tone", "params": {"duration": 0.2}},
            {"id": "save", "type": "audio.save", "params": {"path": path}}],
            "edges": [{"from": "tone.audio", "to": "save.audio"}]})

    studio = Studio(StudioConfig(password=PASSWORD, home=haysay_home))
    try:
        assert studio.config.host == "127.0.0.1" and studio.config.sandboxed
        with pytest.raises(InvalidPipeline) as exc:
            studio.submit_job(doc(str(haysay_home.parent / "elsewhere.wav")))
        assert [(e.node, e.field, e.code) for e in exc.value.errors] == [("save", "path", "forbidden_path")]
        inside = studio.outputs_dir / "tone.wav"
        assert studio.validate(doc(str(inside))) == []
        studio.engine.run(doc(str(inside)))
        assert inside.stat().st_size > 0
    finally:
        studio.close()
    assert not StudioConfig(home=haysay_home).sandboxed  # loopback without a password: the user's own machine
