"""The models page: installed voice models, install from a file/folder (or a URL where allowed), remove."""
from __future__ import annotations

from pathlib import Path

from nicegui import run as ng_run
from nicegui import ui

from . import nav


def _store(studio):
    try:
        from haysay.graph_engine.models.store import ModelStore
    except ImportError:
        return None
    return ModelStore(studio.settings)


def models_page(studio) -> None:
    with ui.header().classes("items-center gap-3 py-1 bg-green-9"):
        ui.label("haysay studio · models").classes("text-lg font-bold")
        ui.space()
        nav(studio, "/models")
    store = _store(studio)
    if store is None:
        ui.label("The model store is not available in this build.").classes("text-negative")
        return
    box = ui.column().classes("w-full max-w-4xl gap-2 p-4")
    url_ok = not studio.config.server_mode or studio.config.allow_url_installs

    def refresh() -> None:
        box.clear()
        with box:
            models = store.list()
            ui.label(f"{len(models)} installed in {store.root}" if not studio.config.server_mode
                     else f"{len(models)} installed").classes("text-grey-7")
            columns = [{"name": c, "label": c.title(), "field": c, "align": "left"}
                       for c in ("name", "architecture", "size", "files", "info")]
            rows = [{"name": m.name, "architecture": m.architecture, "size": f"{m.size_bytes / 2**20:.1f} MiB",
                     "files": len(m.files), "info": ", ".join(f"{k}={v}" for k, v in list(m.info.items())[:4])}
                    for m in models]
            ui.table(columns=columns, rows=rows, row_key="name").classes("w-full").props('data-testid="models"')
            for m in models:
                ui.button(f"Remove {m.name}", icon="delete",
                          on_click=lambda n=m.name: remove(n)).props("flat dense color=negative")

    async def remove(name: str) -> None:
        try:
            await ng_run.io_bound(store.remove, name)
            ui.notify(f"removed {name}", type="positive")
        except Exception as exc:
            ui.notify(str(exc), type="negative")
        refresh()

    async def install() -> None:
        source = (source_input.value or "").strip()
        if not source:
            return
        remote = source.startswith(("http://", "https://", "hf://"))
        if remote and not url_ok:
            ui.notify("Installing from URLs is disabled in server mode (HAYSAY_STUDIO_ALLOW_URL_INSTALLS=1 enables it)",
                      type="negative")
            return
        if not remote and studio.config.server_mode:
            real = Path(source).expanduser().resolve()
            if not any(real == r.resolve() or r.resolve() in real.parents for r in studio.roots):
                ui.notify(f"{source} is outside the allowed folders", type="negative")
                return
        try:
            model = await ng_run.io_bound(store.install, source, name=(name_input.value or None))
            ui.notify(f"installed {model.name} ({model.architecture})", type="positive")
        except Exception as exc:
            ui.notify(f"install failed: {exc}", type="negative")
        refresh()

    with ui.card().classes("m-4 w-full max-w-4xl"):
        ui.label("Install a model").classes("text-subtitle1")
        hint = "a local file or folder" + (", an http(s) URL or hf:// reference" if url_ok else "")
        source_input = ui.input("Source", placeholder=hint).classes("w-full")
        name_input = ui.input("Name (optional)").classes("w-full")
        ui.button("Install", icon="download", on_click=install)
    refresh()
