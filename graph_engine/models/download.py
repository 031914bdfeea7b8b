"""Fetching model files over HTTP(S): size preview, streaming to disk, resume, checksums.

Hub references `hf://owner/repo/path/in/repo[@revision]` resolve to the
Hugging Face "resolve" URL; $HF_ENDPOINT (the variable huggingface_hub reads)
points them, and catalogue URLs on huggingface.co, at a mirror.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote, unquote, urlparse

from .errors import ChecksumMismatch, DownloadError

if TYPE_CHECKING:  # httpx is imported where a download happens: node registration and the CLI stay light
    import httpx

HF_HOST = "https://huggingface.co"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_BYTES = 16 << 30
_CHUNK = 1 << 20

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class RemoteInfo:
    """What a server says about a file before we fetch it."""

    url: str                 # after redirects
    size: int | None         # Content-Length, when the server sends one
    accepts_ranges: bool
    filename: str            # from Content-Disposition, else the URL's last segment


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str
    resumed: int             # how many times a cut transfer was picked up again


def hf_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or HF_HOST).rstrip("/")


def resolve_hub(ref: str) -> str:
    """`hf://owner/repo/path/to/file[@rev]` -> https://huggingface.co/owner/repo/resolve/<rev>/path/to/file."""
    if not ref.startswith("hf://"):
        raise DownloadError(f"{ref!r} is not a hub reference (expected hf://owner/repo/path/to/file)")
    body = ref[len("hf://"):]
    revision = "main"
    if "@" in body.rsplit("/", 1)[-1]:
        body, revision = body.rsplit("@", 1)
    parts = [p for p in body.split("/") if p]
    if len(parts) < 3 or any(p in (".", "..") for p in parts) or not revision:
        raise DownloadError(f"{ref!r}: a hub reference needs owner, repo and a file path: hf://owner/repo/path/to/file")
    owner, repo, path = parts[0], parts[1], "/".join(parts[2:])
    return f"{hf_endpoint()}/{quote(owner)}/{quote(repo)}/resolve/{quote(revision, safe='')}/{quote(path)}"


def rewrite_for_mirror(url: str) -> str:
    """Send huggingface.co URLs to $HF_ENDPOINT when one is set."""
    endpoint = hf_endpoint()
    if endpoint != HF_HOST and url.startswith(HF_HOST + "/"):
        return endpoint + url[len(HF_HOST):]
    return url


def check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DownloadError(f"{url!r}: only http(s) URLs can be downloaded")
    return url


def probe(url: str, *, timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None) -> RemoteInfo:
    """Ask for the size without downloading: HEAD, or a one-byte ranged GET where HEAD is refused."""
    import httpx
    check_url(url)
    with _client(client, timeout) as http:
        try:
            resp = http.head(url)
            if resp.status_code in (405, 501):
                with http.stream("GET", url, headers={"Range": "bytes=0-0"}) as resp:
                    return _info_from(resp, url, ranged=True)
            return _info_from(resp, url, ranged=False)
        except httpx.HTTPError as exc:
            raise DownloadError(f"{url}: cannot reach the server ({exc})") from exc


def download(url: str, dest: Path, *, sha256: str | None = None, expected_size: int | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT,
              retries: int = DEFAULT_RETRIES, progress: Progress | None = None,
              client: httpx.Client | None = None) -> Downloaded:
    """Stream `url` into `dest`; resume with Range after a cut connection (up to `retries` times).

    On any failure nothing is left at `dest` (nor its `.part` file). A sha256
    or expected size that does not match raises ChecksumMismatch.
    """
    check_url(url)
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    want_sha = _normal_sha(sha256, url) if sha256 else None
    try:
        with _client(client, timeout) as http:
            size, digest, resumed = _fetch(http, url, part, max_bytes, retries, progress)
        if expected_size is not None and size != expected_size:
            raise ChecksumMismatch(f"{url}: received {size} bytes but {expected_size} were expected")
        if want_sha and digest != want_sha:
            raise ChecksumMismatch(f"{url}: sha256 is {digest}, expected {want_sha}")
        os.replace(part, dest)
        return Downloaded(dest, size, digest, resumed)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fetch(http: httpx.Client, url: str, part: Path, max_bytes: int, retries: int,
           progress: Progress | None) -> tuple[int, str, int]:
    import httpx
    hasher = hashlib.sha256()
    done = 0
    total: int | None = None
    resumed = 0
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "wb") as out:
        for attempt in range(retries + 1):
            headers = {"Range": f"bytes={done}-"} if done else {}
            try:
                with http.stream("GET", url, headers=headers) as resp:
                    _raise_for_status(resp, url)
                    if done and resp.status_code != 206:
                        # The server ignored our Range: start over rather than glue mismatched bytes.
                        out.seek(0)
                        out.truncate()
                        hasher, done = hashlib.sha256(), 0
                    elif done and _range_start(resp) != done:
                        raise DownloadError(f"{url}: the server resumed at the wrong offset "
                                            f"({resp.headers.get('content-range')!r}, wanted {done})")
                    total = _total_size(resp, done) or total
                    if total is not None and total > max_bytes:
                        raise DownloadError(f"{url}: file is {total} bytes, over the {max_bytes}-byte cap")
                    for chunk in resp.iter_bytes():  # as they arrive: a cut loses nothing already received
                        done += len(chunk)
                        if done > max_bytes:
                            raise DownloadError(f"{url}: more than {max_bytes} bytes received (cap); stopped")
                        out.write(chunk)
                        hasher.update(chunk)
                        if progress:
                            progress(done, total)
                if total is not None and done < total:
                    raise httpx.RemoteProtocolError(f"body ended at {done} of {total} bytes")
                return done, hasher.hexdigest(), resumed
            except (httpx.TransportError, httpx.DecodingError) as exc:
                out.flush()
                if attempt == retries:
                    raise DownloadError(f"{url}: connection failed after {retries + 1} tries at byte {done}"
                                        f"{f' of {total}' if total else ''} ({exc})") from exc
                resumed += 1
    raise DownloadError(f"{url}: download did not finish")  # unreachable: the loop returns or raises


def _client(client: httpx.Client | None, timeout: float):
    import httpx
    if client is not None:
        return _Borrowed(client)
    return httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout),
                        headers={"User-Agent": "haysay-model-manager", "Accept-Encoding": "identity"})


class _Borrowed:
    """Context manager that lends a caller's client without closing it."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        return False


def _raise_for_status(resp: httpx.Response, url: str) -> None:
    if resp.status_code >= 400:
        raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")


def _info_from(resp: httpx.Response, url: str, ranged: bool) -> RemoteInfo:
    _raise_for_status(resp, url)
    if ranged and resp.status_code == 206:
        size = _total_size(resp, 0)
    else:
        length = resp.headers.get("content-length")
        size = int(length) if length and length.isdigit() else None
    accepts = resp.headers.get("accept-ranges", "").lower() == "bytes" or resp.status_code == 206
    return RemoteInfo(str(resp.url), size, accepts, _filename(resp, url))


def _total_size(resp: httpx.Response, offset: int) -> int | None:
    if resp.status_code == 206:
        m = re.match(r"bytes\s+\d+-\d+/(\d+)", resp.headers.get("content-range", ""))
        return int(m.group(1)) if m else None
    length = resp.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


def _range_start(resp: httpx.Response) -> int | None:
    m = re.match(r"bytes\s+(\d+)-", resp.headers.get("content-range", ""))
    return int(m.group(1)) if m else None


def _filename(resp: httpx.Response, url: str) -> str:
    disposition = resp.headers.get("content-disposition", "")
    m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.I)
    name = unquote(m.group(1)) if m else unquote(urlparse(str(resp.url) or url).path.rsplit("/", 1)[-1])
    return safe_filename(name) or "download"


def safe_filename(name: str) -> str:
    """A bare file name with no path parts or control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return "" if name in ("", ".", "..") else name


def _normal_sha(value: str, url: str) -> str:
    v = value.strip().lower()
    if v.startswith("sha256:"):
        v = v[len("sha256:"):]
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise DownloadError(f"sha256 for {url}: {value!r} is not 64 hex digits")
    return v
