"""Safe unzip: Hay Say's strategies, and refusal of escaping paths, links and bombs."""
from __future__ import annotations

import stat
import zipfile

import pytest

from haysay.graph_engine.models import ArchiveError
from haysay.graph_engine.models.archive import safe_extract


def make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


MEMBERS = {"Pinkie/model.pth": b"w" * 100, "Pinkie/index/added.index": b"i" * 50, "Pinkie/config.json": b"{}"}


@pytest.mark.parametrize("strategy,expected", [
    ("UNZIP_IN_PLACE", ["Pinkie/config.json", "Pinkie/index/added.index", "Pinkie/model.pth"]),
    ("REMOVE_OUTERMOST_DIR", ["config.json", "index/added.index", "model.pth"]),
    ("FLATTEN", ["added.index", "config.json", "model.pth"]),
    ("AUTO", ["config.json", "index/added.index", "model.pth"]),
])
def test_strategies(tmp_path, strategy, expected):
    z = make_zip(tmp_path / "m.zip", {**MEMBERS, "__MACOSX/Pinkie/._model.pth": b"junk"})
    written = safe_extract(z, tmp_path / "out", strategy)
    assert tree(tmp_path / "out") == expected
    assert len(written) == 3
    assert (tmp_path / "out" / expected[-1]).read_bytes() == b"w" * 100


@pytest.mark.parametrize("name", ["../evil.pth", "a/../../evil.pth", "/etc/evil", "C:/evil.pth", "..\\evil.pth"])
def test_escaping_paths_refused(tmp_path, name):
    z = make_zip(tmp_path / "bad.zip", {"ok.txt": b"fine", name: b"payload"})
    with pytest.raises(ArchiveError) as info:
        safe_extract(z, tmp_path / "out", "UNZIP_IN_PLACE")
    assert "bad.zip" in str(info.value) and ("absolute" in str(info.value) or "'..'" in str(info.value))
    assert not (tmp_path / "evil.pth").exists() and not (tmp_path / "out" / "ok.txt").exists()


def test_symlink_member_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("model/secret")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out" / "secret").exists()


def test_zip_bomb_ratio_refused(tmp_path):
    z = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(50 << 20)})
    assert z.stat().st_size < 1 << 20  # 50 MiB of zeros squeezes to ~50 KiB
    with pytest.raises(ArchiveError, match="inflates .*x.*zip bomb"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_total_size_cap_refused(tmp_path):
    z = make_zip(tmp_path / "big.zip", {"a.bin": bytes(3000), "b.bin": bytes(3000)}, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="more than 5000 bytes"):
        safe_extract(z, tmp_path / "out", max_total_bytes=5000)


def test_lying_header_is_caught_while_inflating(tmp_path):
    z = make_zip(tmp_path / "liar.zip", {"x.bin": b"A" * 4096}, zipfile.ZIP_STORED)
    data = bytearray(z.read_bytes())
    # Shrink the declared uncompressed size in the central directory to 16 bytes.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (16).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    # zipfile stops at the declared size and then fails the CRC; either way nothing is kept.
    with pytest.raises(ArchiveError, match="liar.zip: member 'x.bin'"):
        safe_extract(z, tmp_path / "out")
    assert tree(tmp_path / "out") == []


def test_corrupt_and_mismatched_archives(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ArchiveError, match="junk.zip: not a readable zip"):
        safe_extract(tmp_path / "junk.zip", tmp_path / "out")
    z = make_zip(tmp_path / "two.zip", {"a/x": b"1", "b/y": b"2"})
    with pytest.raises(ArchiveError, match="REMOVE_OUTERMOST_DIR needs everything inside one top folder"):
        safe_extract(z, tmp_path / "out2", "REMOVE_OUTERMOST_DIR")
    z = make_zip(tmp_path / "dup.zip", {"a/x.pth": b"1", "b/x.pth": b"2"})
    with pytest.raises(ArchiveError, match="FLATTEN would merge"):
        safe_extract(z, tmp_path / "out3", "FLATTEN")
