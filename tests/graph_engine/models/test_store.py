"""ModelStore: installs from folders, URLs, hf:// and catalogues; atomicity; get/list/verify/remove."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from haysay.graph_engine.models import (ArchiveError, DownloadError, InstallError, ModelError, ModelNotFound,
                                        ModelStore)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def nothing_installed(store: ModelStore) -> bool:
    staging = store.root / ".staging"
    return store.list() == [] and (not staging.exists() or list(staging.iterdir()) == [])


def test_local_folder_install_get_and_manifest(fake, store, tmp_path):
    src = tmp_path / "src"
    fake.rvc(src / "alto.pth", version="v2", sr=48000)
    fake.index(src / "added_IVF8_Flat.index", dim=768)
    model = store.install(str(src), name="Alto (singing)")
    assert model.path == store.root / "rvc" / "Alto (singing)"
    assert (model.architecture, model.version) == ("rvc", "v2")
    assert model.file("weights") == model.path / "alto.pth"
    assert model.find("index") == model.path / "added_IVF8_Flat.index"
    assert model.find("kmeans") is None
    with pytest.raises(ModelError, match="has no 'config' file; it has: index, weights"):
        model.file("config")
    manifest = json.loads((model.path / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    assert files["alto.pth"]["sha256"] == sha((src / "alto.pth").read_bytes())
    assert files["alto.pth"]["size"] == (src / "alto.pth").stat().st_size
    assert manifest["source"] == {"type": "file", "path": str(src)}
    assert manifest["info"]["sample_rate"] == 48000 and manifest["installed_at"]
    got = store.get("alto (SINGING)")
    assert got.path == model.path and got.files == model.files
    assert store.get("rvc/Alto (singing)").name == "Alto (singing)"
    assert model.size_bytes == sum(f["size"] for f in manifest["files"])


def test_name_clash_missing_model_and_remove(fake, store, tmp_path):
    fake.rvc(tmp_path / "a" / "alto.pth")
    store.install(str(tmp_path / "a"), name="Alto")
    with pytest.raises(InstallError, match="'Alto' is already installed"):
        store.install(str(tmp_path / "a"), name="alto")
    with pytest.raises(ModelNotFound, match="no model named 'Altoo' is installed.*did you mean 'Alto'"):
        store.get("Altoo")
    removed = store.remove("Alto")
    assert not removed.path.exists() and nothing_installed(store)
    with pytest.raises(ModelNotFound):
        store.remove("Alto")


def test_verify_reports_changed_and_missing(fake, store, tmp_path):
    fake.sovits(tmp_path / "sv")
    fake.kmeans(tmp_path / "sv" / "kmeans_100.pt")
    model = store.install(str(tmp_path / "sv"), name="Tenor")
    assert [r.ok for r in store.verify()] == [True]
    with open(model.file("weights"), "r+b") as f:  # same size, one byte flipped
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    model.file("kmeans").unlink()
    (report,) = store.verify("Tenor")
    assert not report.ok and report.changed == ("G_800.pth",) and report.missing == ("kmeans_100.pt",)


def test_local_zip_and_piper_companion(fake, store, tmp_path):
    onnx = fake.piper(tmp_path / "voice")
    model = store.install(str(onnx))
    assert (model.name, model.architecture) == ("en_US-test-low", "piper")
    assert {f.role for f in model.files} == {"voice", "voice_config"}
    fake.rvc(tmp_path / "z" / "bass.pth")
    (tmp_path / "bass.zip").write_bytes(zip_bytes({"Bass/bass.pth": (tmp_path / "z" / "bass.pth").read_bytes()}))
    model = store.install(str(tmp_path / "bass.zip"))
    assert model.name == "bass" and model.file("weights").name == "bass.pth"  # outer folder dropped


def test_url_install_shows_size_and_verifies_sha(fake, store, tmp_path, file_server):
    data = fake.rvc(tmp_path / "cozy.pth").read_bytes()
    url = file_server.add("/files/cozy.pth", data)
    plans = []
    with pytest.raises(InstallError, match="cancelled"):
        store.install(url, confirm=lambda plan: plans.append(plan) or False)
    assert plans[0].total_size == len(data) and plans[0].name == "cozy"
    assert not any(r[0] == "GET" for r in file_server.requests)  # only the HEAD went out
    with pytest.raises(DownloadError, match="sha256 is"):
        store.install(url, sha256="f" * 64)
    assert nothing_installed(store)
    model = store.install(url, sha256=sha(data), name="Cozy Glow")
    assert model.architecture == "rvc" and model.manifest["source"]["url"] == url


def test_failed_downloads_and_bad_zips_leave_nothing(fake, store, tmp_path, file_server):
    data = fake.rvc(tmp_path / "v.pth").read_bytes()
    url = file_server.add("/v.pth", data)
    file_server.cut_after["/v.pth"] = 5000
    file_server.cut_times = 100
    with pytest.raises(DownloadError, match="connection failed"):
        store.install(url, retries=1)
    assert nothing_installed(store)
    with pytest.raises(DownloadError, match="HTTP 404"):
        store.install(file_server.url + "/gone.pth")
    escape = file_server.add("/escape.zip", zip_bytes({"m/v.pth": data, "m/../../../../evil.py": b"boom"}))
    with pytest.raises(ArchiveError, match="climbs out"):
        store.install(escape)
    bomb = file_server.add("/bomb.zip", zip_bytes({"m/v.pth": data, "m/pad.bin": bytes(40 << 20)}))
    with pytest.raises(ArchiveError, match="zip bomb"):
        store.install(bomb)
    assert nothing_installed(store)
    assert not (store.root.parent / "evil.py").exists()


def test_hub_reference_install(fake, store, tmp_path, file_server, monkeypatch):
    data = fake.rvc(tmp_path / "d.pth", version="v1").read_bytes()
    file_server.add("/therealvul/RVC/resolve/main/Derpy%20Hooves/derpy.pth", data)
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)
    model = store.install("hf://therealvul/RVC/Derpy Hooves/derpy.pth")
    assert (model.name, model.version) == ("derpy", "v1")
    assert model.manifest["source"]["type"] == "hub"


def hay_say_file(url, path, size, **extra):
    return {"URL": url, "Download With": "HUGGINGFACE_HUB", "Download As": path, "Size (bytes)": size, **extra}


def test_hay_say_rvc_catalogue_unchanged(fake, store, tmp_path, file_server, monkeypatch):
    pth = fake.rvc(tmp_path / "CozyGlow.pth").read_bytes()
    index = fake.index(tmp_path / "i.index", dim=768).read_bytes()
    hub = "https://huggingface.co/therealvul/RVC/resolve/main/CozyGlow/"
    file_server.add("/therealvul/RVC/resolve/main/CozyGlow/CozyGlow.pth", pth)
    file_server.add("/therealvul/RVC/resolve/main/CozyGlow/added_IVF173_Flat_nprobe_4.index", index)
    zipped = zip_bytes({"VinylScratch/VinylScratch.pth": pth, "VinylScratch/added.index": index})
    file_server.add("/2xh15a.zip", zipped)
    catalogue = [
        {"Model Name": "Cozy Glow", "License": "UNSPECIFIED",
         "Files": [hay_say_file(hub + "CozyGlow.pth", "CozyGlow.pth", len(pth)),
                   hay_say_file(hub + "added_IVF173_Flat_nprobe_4.index", "added_IVF173_Flat_nprobe_4.index.index",
                                len(index))]},
        {"Model Name": "Vinyl Scratch (alt)", "License": "CC_BY_4", "Originally Acquired From": "https://mega.nz/x",
         "Files": [hay_say_file(file_server.url + "/2xh15a.zip", "2xh15a.zip", len(zipped),
                                **{"Unzip Strategy": "REMOVE_OUTERMOST_DIR"})]},
        {"Model Name": "Pinkie Pie", "License": "UNSPECIFIED",
         "Files": [{"URL": "https://mega.nz/file/ZfJF0C7S#key", "Download With": "MEGA",
                    "Download As": "PinkiePie.zip", "Unzip Strategy": "REMOVE_OUTERMOST_DIR", "Size (bytes)": 9}]},
    ]
    path = tmp_path / "architectures" / "rvc" / "character_models.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(catalogue, indent=4))
    monkeypatch.setenv("HF_ENDPOINT", file_server.url)  # huggingface.co is not reachable from tests

    cozy = store.install("Cozy Glow", catalogue=str(path))
    assert cozy.path == store.root / "rvc" / "Cozy Glow"
    assert cozy.find("index").name == "added_IVF173_Flat_nprobe_4.index.index"
    assert cozy.manifest["license"] == "UNSPECIFIED" and cozy.manifest["source"]["entry"] == "Cozy Glow"
    vinyl = store.install("vinyl scratch (alt)", catalogue=str(path))
    assert sorted(f.path for f in vinyl.files) == ["VinylScratch.pth", "added.index"]
    assert vinyl.manifest["provenance"] == "https://mega.nz/x" and vinyl.manifest["license"] == "CC_BY_4"
    with pytest.raises(InstallError, match="MEGA links need the MEGA client"):
        store.install("Pinkie Pie", catalogue=str(path))
    assert [m.name for m in store.list()] == ["Cozy Glow", "Vinyl Scratch (alt)"]


def test_hay_say_size_mismatch_is_refused(fake, store, tmp_path, file_server):
    data = fake.rvc(tmp_path / "x.pth").read_bytes()
    url = file_server.add("/x.pth", data)
    path = tmp_path / "architectures" / "rvc" / "character_models.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"Model Name": "X", "Files": [hay_say_file(url, "x.pth", len(data) - 1)]}]))
    with pytest.raises(DownloadError, match=f"received {len(data)} bytes but {len(data) - 1} were expected"):
        store.install("X", catalogue=str(path))
    assert nothing_installed(store)


def test_hay_say_multi_speaker_dependency_links(fake, store, tmp_path, file_server):
    pony = fake.sovits(tmp_path / "pony", version="4.0", step=101600)
    fake.kmeans(pony / "kmeans_4000.pt")
    base = tmp_path / "architectures" / "so_vits_svc_4"
    base.mkdir(parents=True)
    files = [hay_say_file(file_server.add(f"/Pony1/{n}", (pony / n).read_bytes()), n, (pony / n).stat().st_size)
             for n in ("G_101600.pth", "config.json", "kmeans_4000.pt")]
    (base / "multi_speaker_models.json").write_text(json.dumps([{"Model Name": "Pony1", "Files": files}]))
    speaker = b'{"speaker": "Luna"}'
    links = [{"As": n, "Target": n} for n in ("G_101600.pth", "config.json", "kmeans_4000.pt")]
    (base / "character_models.json").write_text(json.dumps([
        {"Model Name": "Luna (singing, PS1)", "Multi-speaker Model Dependency": "Pony1", "Symlinks": links,
         "Files": [hay_say_file(file_server.add("/Luna/speaker.json", speaker), "speaker.json", len(speaker))],
         "License": "UNSPECIFIED"}]))
    plans = []
    luna = store.install("Luna (singing, PS1)", catalogue=str(base / "character_models.json"),
                         confirm=lambda p: plans.append(p) or True)
    assert plans[0].total_size == len(speaker) + sum(f["Size (bytes)"] for f in files)
    assert (luna.architecture, luna.version) == ("sovits", "4.0")
    assert luna.file("speaker").read_bytes() == speaker and luna.manifest["depends_on"] == "Pony1"
    dep = store.get("Pony1")
    assert luna.file("weights").stat().st_ino == dep.file("weights").stat().st_ino  # shared bytes, not a copy
    store.remove("Pony1")
    assert all(r.ok for r in store.verify())  # the character keeps working without its dependency's folder


def test_staging_left_by_a_killed_install_is_swept_but_live_ones_stay(tmp_path):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = tmp_path / "models"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from haysay.graph_engine.models import ModelStore\n"
        "job = ModelStore(root=Path(sys.argv[1]))._staging()\n"
        "(job / 'payload').mkdir(); (job / 'payload' / 'half.pth').write_bytes(b'x' * 1000)\n"
        "print(job, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"), str(root)], capture_output=True, text=True, timeout=60)
    dead = Path(killed.stdout.strip())
    assert killed.returncode == -9 and dead.is_dir()
    live = ModelStore(root=root)._staging()            # this process: still running
    unowned_old = root / ".staging" / "job-old"
    unowned_old.mkdir()
    os.utime(unowned_old, (time.time() - 3600, time.time() - 3600))
    unowned_new = root / ".staging" / "job-new"        # just made, owner not written yet
    unowned_new.mkdir()
    ModelStore(root=root)
    assert not dead.exists() and not unowned_old.exists()
    assert live.is_dir() and unowned_new.is_dir()
