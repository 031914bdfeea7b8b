"""Self-host checks against a real studio process on 127.0.0.1: DNS rebinding (Host/Origin),
socket.io CORS, forwarded headers, the request limit, TLS with HSTS, and a browser login."""
from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .test_studio_browser import _shot, browser_page  # noqa: F401

PASSWORD = "a long enough secret"
POLLING = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"


def _ws_handshake(port: int, host: str, origin: str) -> str:
    """The status line a raw websocket upgrade of socket.io gets back."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_nicegui_ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request.encode())
        return s.recv(4096).decode("latin-1").split("\r\n")[0]


def test_rebinding_is_refused_on_a_passwordless_studio(start_studio):
    studio = start_studio("--rate-limit", "40")
    legit = f"127.0.0.1:{studio.port}"
    with httpx.Client(base_url=studio.url, timeout=30) as client:
        evil = client.get("/", headers={"host": f"evil.example:{studio.port}"})
        assert evil.status_code == 403 and evil.text == "host not allowed (see --allowed-host)"
        page = client.get("/")
        assert page.status_code == 200 and "strict-transport-security" not in page.headers
        assert client.get("/login", headers={"host": f"localhost:{studio.port}"}).status_code == 200

        refused = client.get(POLLING, headers={"origin": "http://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        # a page on another local port is another origin too
        other_port = client.get(POLLING, headers={"origin": f"http://127.0.0.1:{studio.port + 1}"})
        assert other_port.status_code == 403
        same = client.get(POLLING, headers={"origin": f"http://{legit}"})
        assert same.status_code == 200 and same.text.startswith("0{")  # engine.io's open packet
        assert same.headers["access-control-allow-origin"] == f"http://{legit}"

        assert _ws_handshake(studio.port, legit, "http://evil.example").split()[1] == "403"
        assert _ws_handshake(studio.port, f"evil.example:{studio.port}", f"http://evil.example:{studio.port}") \
            .split()[1] == "403"
        assert _ws_handshake(studio.port, legit, f"http://{legit}").split()[1] == "101"

        codes = [client.get("/login").status_code for _ in range(45)]
        assert 429 in codes and codes.index(429) < 40
        limited = client.get("/login")
        assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 61


def _wrong_logins(client: httpx.Client, forwarded: list[str]) -> list[int]:
    return [client.post("/login", data={"password": "not the password"}, headers={"x-forwarded-for": f}).status_code
            for f in forwarded]


def test_forwarded_for_counts_only_from_a_trusted_proxy(start_studio):
    direct = start_studio("--password", PASSWORD)
    with httpx.Client(base_url=direct.url, timeout=30) as client:
        codes = _wrong_logins(client, [f"198.51.100.{i}" for i in range(8)])
    assert codes == [401] * 5 + [429] * 3  # a new X-Forwarded-For each time changes nothing

    proxied = start_studio("--password", PASSWORD, "--trusted-proxy", "127.0.0.0/8")
    with httpx.Client(base_url=proxied.url, timeout=30) as client:
        assert _wrong_logins(client, [f"198.51.100.{i}" for i in range(8)]) == [401] * 8  # eight clients
        assert _wrong_logins(client, ["1.2.3.4, 198.51.100.0"] * 5) == [401] * 4 + [429]  # its 5th and 6th try
        assert "strict-transport-security" not in client.get("/login").headers
        assert client.get("/login", headers={"x-forwarded-proto": "https"}) \
            .headers["strict-transport-security"] == "max-age=31536000"


def _self_signed(folder) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_serves_hsts(start_studio, tmp_path):
    cert, key = _self_signed(tmp_path)
    studio = start_studio("--tls-cert", cert, "--tls-key", key, wait=False)
    url = f"https://127.0.0.1:{studio.port}"
    deadline, page = time.monotonic() + 90, None
    with httpx.Client(base_url=url, verify=cert, timeout=10) as client:
        while page is None and time.monotonic() < deadline:
            assert studio.proc.poll() is None, studio.log.read_text()
            try:
                page = client.get("/login")
            except httpx.TransportError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, studio.log.read_text()
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        origin = f"https://127.0.0.1:{studio.port}"
        assert client.get(POLLING, headers={"origin": origin}).headers["access-control-allow-origin"] == origin


def test_cli_names_the_missing_tls_half(haysay_home, tmp_path):
    cert, _ = _self_signed(tmp_path)
    r = subprocess.run([sys.executable, "-m", "haysay", "studio", "--no-browser", "--tls-cert", cert],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "needs both --tls-cert and --tls-key" in r.stderr and "Traceback" not in r.stderr


def test_browser_login_on_localhost_keeps_the_websocket(start_studio, browser_page):  # noqa: F811
    page, page_errors = browser_page
    studio = start_studio("--password", PASSWORD)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.goto(f"http://localhost:{studio.port}/")
    page.wait_for_url("**/login?next=/")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".vue-flow")
    page.click('[data-node-type="gen.tone"]')  # a server round trip over socket.io
    page.wait_for_selector('[data-node-id="tone"]')
    page.wait_for_timeout(1000)
    opened = [ws for ws in sockets if "/_nicegui_ws/socket.io/" in ws.url]
    assert opened and not opened[-1].is_closed()  # upgraded to a websocket, which the origin check let through
    _shot(page, "security-login-localhost")
    assert page_errors == []
