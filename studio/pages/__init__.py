"""The studio's pages: the editor (canvas, panels, runs, compare, history) and models."""
from __future__ import annotations

from pathlib import Path

from nicegui import ui

STUDIO_CSS = (Path(__file__).parent / "studio.css").read_text(encoding="utf-8")


def register_pages(studio) -> None:
    from .editor import EditorPage
    from .models import models_page

    @ui.page("/")
    async def editor(run: str = "") -> None:
        ui.add_css(STUDIO_CSS)
        await EditorPage(studio, open_run=run or None).restore()

    @ui.page("/models")
    def models() -> None:
        ui.add_css(STUDIO_CSS)
        models_page(studio)


def nav(studio, current: str) -> None:
    """Links shared by the pages' headers."""
    for label, href in (("Editor", "/"), ("Models", "/models")):
        link = ui.link(label, href).classes("text-white" + (" font-bold" if href == current else " opacity-80"))
        link.props(f'data-nav="{label.lower()}"')
    if studio.config.auth_required:
        ui.link("Sign out", "/logout").classes("text-white opacity-80")
