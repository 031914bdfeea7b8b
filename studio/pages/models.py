"""The models page: the installed catalogue (search, size, licence, creator, details), model files
uploaded from the browser and installed with the CLI's own checks, install from a path or URL,
and remove after a confirmation. All through graph_engine.models' ModelStore."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from nicegui import run as ng_run
from nicegui import ui

from . import nav
from .catalogue_view import browse_tab, prepared_note

MODEL_SUFFIXES = (".pth", ".pt", ".onnx", ".json", ".index", ".zip", ".yaml", ".yml", ".pkl", ".ckpt", ".safetensors",
                  ".bin", ".npy")


def _store(studio):
    try:
        from haysay.graph_engine.models.store import ModelStore
    except ImportError:
        return None
    return ModelStore(studio.settings)


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.1f} MiB"


def _row(m) -> dict:
    man = m.manifest
    src = man.get("source") or {}
    return {"name": m.name, "architecture": m.architecture, "size": _mib(m.size_bytes), "files": len(m.files),
            "license": man.get("license") or "not stated", "creator": man.get("creator") or "–",
            "version": m.version or "–",
            "source": man.get("provenance") or src.get("ref") or src.get("url") or src.get("type") or "–",
            "info": ", ".join(f"{k}={v}" for k, v in list(m.info.items())[:5]),
            "installed": str(man.get("installed_at") or "")}


def safe_name(filename: str) -> str:
    """An uploaded file's name as it may be stored: its last part only, no leading dots."""
    base = re.split(r"[\\/]", filename or "")[-1].lstrip(".")
    base = re.sub(r"[^A-Za-z0-9._\- ]", "_", base)[:120]
    return base or "file"


class UploadBatch:
    """Model files uploaded from the browser, gathered in a folder of their own until installed."""

    def __init__(self, root: Path):
        self.root = root
        self.folder: Path | None = None
        self.names: list[str] = []

    def add(self, filename: str, data: bytes) -> str:
        name = safe_name(filename)
        if not name.lower().endswith(MODEL_SUFFIXES):
            raise ValueError(f"{name!r}: not a model file type ({', '.join(MODEL_SUFFIXES)})")
        if not data:
            raise ValueError(f"{name!r} is empty")
        if self.folder is None:
            self.folder = self.root / uuid.uuid4().hex[:12]
            self.folder.mkdir(parents=True)
        (self.folder / name).write_bytes(data)
        if name not in self.names:
            self.names.append(name)
        return name

    def clear(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder, self.names = None, []


def models_page(studio) -> None:
    with ui.header().classes("items-center gap-3 py-1 bg-green-9"):
        ui.label("haysay studio · models").classes("text-lg font-bold")
        ui.space()
        nav(studio, "/models")
    store = _store(studio)
    if store is None:
        ui.label("The model store is not available in this build.").classes("text-negative")
        return
    url_ok = not studio.config.sandboxed or studio.config.allow_url_installs
    batch = UploadBatch(studio.uploads_dir / "models")
    with ui.tabs().classes("px-4") as tabs:
        installed_tab = ui.tab("Installed").props('data-testid="tab-installed"')
        browse = ui.tab("Browse").props('data-testid="tab-browse"')
    with ui.tab_panels(tabs, value=installed_tab).classes("w-full"):
        with ui.tab_panel(installed_tab).classes("p-0"):
            refresh = _installed_tab(studio, store, batch, url_ok)
        with ui.tab_panel(browse).classes("p-0"):
            browse_tab(studio, store, on_installed=refresh, hide_paths=lambda m: _no_paths(m, studio))


def _installed_tab(studio, store, batch: UploadBatch, url_ok: bool):
    """The installed table, upload and install-from-source cards; returns the table's refresh."""
    with ui.row().classes("w-full max-w-6xl px-4 pt-4 items-center gap-3"):
        ui.label("Installed models").classes("text-h6")
        count = ui.label("").classes("text-grey-7").props('data-testid="models-count"')
        ui.space()
        search = ui.input(placeholder="search name, architecture, licence, creator…") \
            .props('dense clearable data-testid="models-search"').classes("w-80")
    columns = [{"name": c, "label": label, "field": c, "align": "left", "sortable": c in ("name", "architecture")}
               for c, label in (("name", "Name"), ("architecture", "Architecture"), ("size", "Size"),
                                ("files", "Files"), ("license", "Licence"), ("creator", "Creator"),
                                ("version", "Version"), ("source", "From"), ("info", "Details"), ("actions", ""))]
    table = ui.table(columns=columns, rows=[], row_key="name").classes("w-full max-w-6xl mx-4") \
        .props('data-testid="models" flat bordered dense wrap-cells')
    table.add_slot("body-cell-actions", '''
        <q-td :props="props">
          <q-btn flat dense color="negative" icon="delete" :aria-label="'Remove ' + props.row.name"
                 :data-remove="props.row.name" @click="() => $parent.$emit('remove', props.row)">
            <q-tooltip>Remove {{ props.row.name }}</q-tooltip></q-btn>
        </q-td>''')
    table.on("remove", lambda e: confirm_remove(e.args["name"], e.args["size"]))
    search.on_value_change(lambda _: refresh())

    def refresh() -> None:
        models = store.list()
        text = (search.value or "").casefold().strip()
        rows = [_row(m) for m in models]
        table.rows = [r for r in rows if not text or text in " ".join(str(v) for v in r.values()).casefold()]
        table.update()
        count.text = f"{len(models)} installed" + ("" if studio.config.sandboxed else f" in {store.root}")

    def confirm_remove(name: str, size: str) -> None:
        with ui.dialog() as dialog, ui.card().props('data-testid="confirm-remove"'):
            ui.label(f"Remove {name}?").classes("text-subtitle1")
            ui.label(f"This deletes its files ({size}) from the model store; pipelines naming it will fail "
                     "until it is installed again.").classes("text-sm text-grey-8")
            async def yes() -> None:
                dialog.close()
                await remove(name)

            with ui.row():
                ui.button("Remove", color="negative", on_click=yes) \
                    .props('data-testid="confirm-remove-yes"')
                ui.button("Cancel", on_click=dialog.close).props('flat data-testid="confirm-remove-no"')
        dialog.open()

    async def remove(name: str) -> None:
        try:
            await ng_run.io_bound(store.remove, name)
            ui.notify(f"removed {name}", type="positive")
        except Exception as exc:
            ui.notify(str(exc), type="negative")
        refresh()

    async def install_from(source: str, name: str | None) -> bool:
        try:
            model = await ng_run.io_bound(store.install, source, name=name)
        except Exception as exc:  # detection and size checks name the problem; no server paths in them
            ui.notify(f"install failed: {_no_paths(str(exc), studio)}", type="negative", multi_line=True)
            status.text = f"install failed: {_no_paths(str(exc), studio)}"
            return False
        ui.notify(f"installed {model.name} ({model.architecture})", type="positive")
        status.text = f"installed {model.name} ({model.architecture}, {_mib(model.size_bytes)})"
        refresh()
        from haysay.nodes.vc.prepare import needs_preparing

        if needs_preparing(model.architecture):  # its graphs now, as `haysay models install` builds them
            installed = status.text
            status.text = installed + "; building its graphs (checked against torch) ..."
            status.text = installed + _no_paths(await ng_run.io_bound(prepared_note, model), studio)
        return True

    with ui.card().classes("m-4 w-full max-w-6xl"):
        ui.label("Upload model files").classes("text-subtitle1")
        ui.label("The files of one model (e.g. .pth and .index, or .onnx and .onnx.json), then Install: "
                 f"checked as `haysay models install` checks them · up to {studio.config.max_upload_bytes / 2**20:g} "
                 "MiB a file").classes("text-sm text-grey-7")
        uploaded = ui.label("").classes("text-sm").props('data-testid="model-upload-files"')

        async def got_file(e) -> None:
            data = await e.file.read()
            try:
                batch.add(e.file.name, data)
            except ValueError as exc:
                ui.notify(str(exc), type="negative")
                status.text = str(exc)
                return
            uploaded.text = "ready: " + ", ".join(batch.names)
            install_button.enable()

        def too_large(_e=None) -> None:
            msg = (f"Not uploaded: over the {studio.config.max_upload_bytes / 2**20:g} MiB limit or not a model file; "
                   "install larger models with `haysay models install`")
            status.text = msg
            ui.notify(msg, type="negative")

        uploader = ui.upload(on_upload=got_file, on_rejected=too_large, auto_upload=True, multiple=True,
                             max_file_size=studio.config.max_upload_bytes) \
            .props(f'accept="{",".join(MODEL_SUFFIXES)}" bordered flat data-testid="model-upload"').classes("w-full")
        with ui.row().classes("items-center gap-2 w-full"):
            upload_name = ui.input("Name (optional)").props('dense data-testid="model-upload-name"').classes("w-60")

            async def install_uploaded() -> None:
                if batch.folder is None:
                    return
                install_button.disable()
                ok = await install_from(str(batch.folder), upload_name.value or None)
                batch.clear()
                uploader.reset()
                uploaded.text = ""
                if not ok:
                    install_button.disable()

            install_button = ui.button("Install uploaded files", icon="upload", on_click=install_uploaded) \
                .props('data-testid="model-upload-install"')
            install_button.disable()
            ui.button("Discard", on_click=lambda: (batch.clear(), uploader.reset(), uploaded.set_text(""),
                                                   install_button.disable())).props("flat")
        status = ui.label("").classes("text-sm").props('data-testid="models-status"')

    with ui.card().classes("m-4 w-full max-w-6xl"):
        ui.label("Install from a path" + (" or URL" if url_ok else "")).classes("text-subtitle1")
        hint = "a local file or folder" + (", an http(s) URL or hf:// reference" if url_ok else "")
        source_input = ui.input("Source", placeholder=hint).classes("w-full")
        name_input = ui.input("Name (optional)").classes("w-full")

        async def install() -> None:
            source = (source_input.value or "").strip()
            if not source:
                return
            remote = source.startswith(("http://", "https://", "hf://"))
            if remote and not url_ok:
                ui.notify("Installing from URLs is disabled on a shared studio (HAYSAY_STUDIO_ALLOW_URL_INSTALLS=1 "
                          "enables it)", type="negative")
                return
            if not remote and studio.config.sandboxed:
                real = Path(source).expanduser().resolve()
                if not any(real == r.resolve() or r.resolve() in real.parents for r in studio.roots):
                    ui.notify("that path is outside the allowed folders", type="negative")
                    return
            await install_from(source, name_input.value or None)

        ui.button("Install", icon="download", on_click=install)
    refresh()
    return refresh


def _no_paths(message: str, studio) -> str:
    """Server folders out of a message shown to the browser."""
    for root in (studio.uploads_dir / "models", studio.settings.home):
        message = message.replace(str(root), "…")
    return message
