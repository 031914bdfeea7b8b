"""Self-host mode: refusal to start, login, session, headers, limits."""
from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haysay.studio.config import StudioConfig, StudioConfigError
from haysay.studio.security import COOKIE, RateLimiter, SecurityMiddleware, add_login_routes, check_token, make_token

PASSWORD = "correct horse battery"


def _app(config: StudioConfig) -> TestClient:
    app = FastAPI()
    app.add_middleware(SecurityMiddleware, config=config)
    add_login_routes(app, config)

    @app.get("/")
    def home():
        return {"ok": True}

    @app.post("/_nicegui/client/x/upload/y")
    def upload():
        return {"stored": True}

    return TestClient(app, follow_redirects=False)


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
        assert r.headers["referrer-policy"] == "no-referrer"


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
