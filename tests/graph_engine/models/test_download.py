"""Downloads against a local HTTP server: size preview, checksums, cut connections, errors."""
from __future__ import annotations

import hashlib
import os

import pytest

from haysay.graph_engine.models import ChecksumMismatch, DownloadError
from haysay.graph_engine.models.download import download, probe, resolve_hub

BODY = os.urandom(3 << 20) + b"tail"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_probe_reports_size_before_download(file_server):
    url = file_server.add("/m/voice.pth", BODY)
    info = probe(url)
    assert info.size == len(BODY) and info.accepts_ranges and info.filename == "voice.pth"
    assert [r[0] for r in file_server.requests] == ["HEAD"]


def test_download_streams_with_progress_and_checksum(file_server, tmp_path):
    url = file_server.add("/m/voice.pth", BODY)
    seen = []
    got = download(url, tmp_path / "voice.pth", sha256=sha(BODY), expected_size=len(BODY),
                   progress=lambda done, total: seen.append((done, total)))
    assert (tmp_path / "voice.pth").read_bytes() == BODY
    assert got.sha256 == sha(BODY) and got.size == len(BODY) and got.resumed == 0
    assert len(seen) >= 3 and seen[-1] == (len(BODY), len(BODY))
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    assert leftovers(tmp_path) == ["voice.pth"]


def test_checksum_mismatch_rejected_and_nothing_kept(file_server, tmp_path):
    url = file_server.add("/m/voice.pth", BODY)
    with pytest.raises(ChecksumMismatch) as info:
        download(url, tmp_path / "voice.pth", sha256="0" * 64)
    assert sha(BODY) in str(info.value) and "0" * 64 in str(info.value)
    assert leftovers(tmp_path) == []
    with pytest.raises(ChecksumMismatch, match="received 3145732 bytes but 3145733 were expected"):
        download(url, tmp_path / "voice.pth", expected_size=len(BODY) + 1)
    with pytest.raises(DownloadError, match="not 64 hex digits"):
        download(url, tmp_path / "voice.pth", sha256="abc")


def test_cut_connection_resumes_with_range(file_server, tmp_path):
    url = file_server.add("/m/big.pth", BODY)
    file_server.cut_after["/m/big.pth"] = 1 << 20
    got = download(url, tmp_path / "big.pth", sha256=sha(BODY))
    assert got.resumed == 1
    assert (tmp_path / "big.pth").read_bytes() == BODY
    gets = [r for r in file_server.requests if r[0] == "GET"]
    assert gets[0][2] is None
    resumed_at = int(gets[1][2].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 1 << 20  # picked up where the cut left it, not from zero


def test_cut_connection_without_range_support_restarts(file_server, tmp_path):
    url = file_server.add("/m/big.pth", BODY)
    file_server.cut_after["/m/big.pth"] = 1 << 20
    file_server.honour_range = False
    got = download(url, tmp_path / "big.pth", sha256=sha(BODY))
    assert got.resumed == 1 and (tmp_path / "big.pth").read_bytes() == BODY


def test_connection_cut_every_time_fails_cleanly(file_server, tmp_path):
    url = file_server.add("/m/big.pth", BODY)
    file_server.cut_after["/m/big.pth"] = 1000
    file_server.cut_times = 100
    file_server.honour_range = False
    with pytest.raises(DownloadError, match=r"connection failed after 3 tries at byte 1000 of 3145732"):
        download(url, tmp_path / "big.pth", retries=2)
    assert leftovers(tmp_path) == []
    assert len([r for r in file_server.requests if r[0] == "GET"]) == 3


def test_http_404_and_bad_urls(file_server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nope\.pth: HTTP 404"):
        download(file_server.url + "/nope.pth", tmp_path / "x")
    with pytest.raises(DownloadError, match="HTTP 404"):
        probe(file_server.url + "/nope.pth")
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", tmp_path / "x")
    with pytest.raises(DownloadError, match="cannot reach"):
        probe("http://127.0.0.1:9/none", timeout=2)
    assert leftovers(tmp_path) == []


def test_size_cap_refuses_before_streaming(file_server, tmp_path):
    url = file_server.add("/m/huge.pth", BODY)
    with pytest.raises(DownloadError, match="over the 1048576-byte cap"):
        download(url, tmp_path / "huge.pth", max_bytes=1 << 20)
    assert leftovers(tmp_path) == []


def test_hub_references_resolve_and_honour_mirror(file_server, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert resolve_hub("hf://therealvul/RVC/Derpy Hooves/derpy.pth") == \
        "https://huggingface.co/therealvul/RVC/resolve/main/Derpy%20Hooves/derpy.pth"
    assert resolve_hub("hf://o/r/a.pth@v1.0").endswith("/o/r/resolve/v1.0/a.pth")
    with pytest.raises(DownloadError, match="owner, repo and a file path"):
        resolve_hub("hf://only/repo")
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)
    file_server.add("/o/r/resolve/main/sub/a.pth", b"weights")
    got = download(resolve_hub("hf://o/r/sub/a.pth"), tmp_path / "a.pth")
    assert got.path.read_bytes() == b"weights"
