"""The editor's side panels: selected node, inputs and uploads, compare, history."""
from __future__ import annotations

import math
from typing import Any

from nicegui import run as ng_run
from nicegui import ui

from haysay.graph_engine import PortType, parse_pipeline
from haysay.graph_engine.streaming import streams

from ..elements import StreamPlayer, WaveformPlayer
from ..forms import ParamsForm, field_specs
from ..measures import Figures, difference, measure
from ..uploads import UploadRejected, store_upload
from .evaluation import Evaluation, header_row


def artifact_url(key: str, port: str, download: bool = False) -> str:
    return f"/artifact/{key}/{port}.wav" + ("?download=1" if download else "")


def _fmt(v: float | None, unit: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.2f} {unit}".strip()


def figures_table(figs: list[tuple[str, Figures | None]], diff: dict | None = None) -> None:
    rows = [("duration", "duration_s", "s"), ("peak", "peak_dbfs", "dBFS"), ("RMS", "rms_dbfs", "dBFS"),
            ("loudness", "lufs", "LUFS")]
    with ui.element("table").classes("hs-figures").props('data-testid="figures"'):
        header_row([label for label, _ in figs], diff=diff is not None)
        for title, attr, unit in rows:
            with ui.element("tr").props(f'data-figure="{attr}"'):
                with ui.element("td"):
                    ui.label(title)
                for label, f in figs:
                    with ui.element("td").props(f'data-col="{label}"'):
                        ui.label(_fmt(getattr(f, attr) if f else None, unit))
                if diff is not None:
                    with ui.element("td"):
                        d = diff.get(attr)
                        ui.label("–" if d is None else f"{d:+.2f} {unit}")


class NodePanel:
    """Params form, playable outputs and actions of the selected node."""

    def __init__(self, page):
        self.page = page
        self.form: ParamsForm | None = None
        self.node_id: str | None = None
        self.box = ui.column().classes("w-full gap-2")
        self.outputs_box = None

    def show(self, node_id: str | None, play: str | None = None) -> None:
        page, model = self.page, self.page.model
        self.box.clear()
        self.form, self.node_id = None, node_id
        with self.box:
            if not node_id or not model.has_node(node_id):
                ui.label("Select a node to edit its params and hear its output.").classes("text-grey-7")
                ui.label("Add nodes from the palette (click or drag); connect ports of the same colour.") \
                    .classes("text-grey-7 text-sm")
                return
            doc_node = model.node(node_id)
            spec = page.studio.registry.get(doc_node["type"])
            ui.label(spec.title if spec else doc_node["type"]).classes("text-h6")
            ui.label(f"{node_id} · {doc_node['type']}").classes("text-grey-7 text-sm")
            if spec is None:
                ui.label(f"Unknown node type {doc_node['type']!r}").classes("text-negative")
                return
            # the stage's players first: heard without scrolling past a long form
            self.outputs_box = ui.column().classes("w-full gap-2").props('data-testid="node-outputs"')
            if spec.description:
                ui.markdown(spec.description).classes("text-sm text-grey-8")
            schema = spec.params.model_json_schema()
            specs = field_specs(schema, spec.file_fields())
            if specs:
                ui.label("Params").classes("text-subtitle2")
                with ui.column().classes("w-full gap-1").props('data-testid="params-form"'):
                    self.form = ParamsForm(specs, doc_node["params"],
                                           lambda f, v, nid=node_id: page.set_param(nid, f, v))
            with ui.row():
                ui.button("Duplicate", icon="content_copy", on_click=lambda: page._on_duplicate({"nodes": [node_id]})) \
                    .props("flat dense")
                ui.button("Delete", icon="delete", on_click=lambda: page._on_delete({"nodes": [node_id]})) \
                    .props('flat dense color=negative data-testid="delete-node"')
        self.refresh_outputs(play)
        self.show_errors(page.errors)

    def refresh_outputs(self, play: str | None = None) -> None:
        if self.outputs_box is None or not self.node_id or not self.page.model.has_node(self.node_id):
            return
        page = self.page
        spec = page.studio.registry.get(page.model.node(self.node_id)["type"])
        self.outputs_box.clear()
        key = page.keys.get(self.node_id)
        with self.outputs_box:
            ui.label("Outputs").classes("text-subtitle2")
            for port in spec.outputs.values():
                name = f"{self.node_id}.{port.name}"
                outputs = page.model.doc["outputs"]
                marked = next((k for k, v in outputs.items() if v == name), None)
                with ui.row().classes("items-center gap-1 w-full"):
                    ui.label(f"{port.name} ({port.type.value})").classes("text-sm font-medium")
                    ui.space()
                    ui.checkbox("pipeline output", value=marked is not None,
                                on_change=lambda e, p=port.name, m=marked: self._mark(p, e.value, m)).props("dense")
                if port.type is PortType.F0 and key is not None and page.studio.engine.store.exists(key):
                    ui.image(f"/artifact/{key}/{port.name}.png").classes("w-full") \
                        .props(f'data-testid="f0-{self.node_id}-{port.name}"')
                    continue
                if port.type is not PortType.AUDIO:
                    continue
                live = self._stream_player(spec, key)
                if key is None and live:
                    continue
                if key is None:
                    ui.label("Run the pipeline to hear this stage.").classes("text-grey-7 text-sm")
                    continue
                player = WaveformPlayer(artifact_url(key, port.name), label=name).props(
                    f'data-testid="player-{self.node_id}-{port.name}"')
                with ui.row().classes("gap-1"):
                    ui.button("A", on_click=lambda p=port.name: page.compare.set_slot("A", name, key, p)) \
                        .props(f'dense outline data-testid="compare-a-{self.node_id}"').tooltip("Compare: set as A")
                    ui.button("B", on_click=lambda p=port.name: page.compare.set_slot("B", name, key, p)) \
                        .props(f'dense outline data-testid="compare-b-{self.node_id}"').tooltip("Compare: set as B")
                    ui.link("download", artifact_url(key, port.name, download=True)).classes("text-sm self-center") \
                        .props(f'download data-testid="download-{self.node_id}"')
                if play == port.name:
                    player.play()

    def _stream_player(self, spec, key: str | None) -> bool:
        """While the current run computes a streaming stage (and after, if it did), its live player."""
        page, handle = self.page, self.page.handle
        if handle is None or (handle.finished and page.run_revision != page.model.revision):
            return False  # no run, or the graph changed since it ran
        if not handle.streamed(self.node_id):
            if handle.finished or key is not None:  # stored already: the run takes it from the store
                return False
            try:
                params = spec.params.model_validate(page.model.node(self.node_id)["params"])
            except ValueError:
                return False
            if not streams(spec, params):
                return False
        StreamPlayer(f"/stream/{handle.id}/{self.node_id}", label="live output (as the stage computes it)") \
            .props(f'data-testid="stream-{self.node_id}"')
        return True

    def _mark(self, port: str, on: bool, existing: str | None) -> None:
        model = self.page.model
        if on and existing is None:
            base = self.node_id if self.node_id not in model.doc["outputs"] else f"{self.node_id}_{port}"
            model.set_output(base, self.node_id, port)
        elif not on and existing is not None:
            model.set_output(existing, None)
        self.page.revalidate()

    def show_errors(self, errors: list) -> None:
        if self.form is None:
            return
        mine = {}
        for e in errors:
            if e.node == self.node_id and e.field:
                mine.setdefault(e.field.split(".")[0], e.message)
        self.form.show_errors(mine)


class InputsPanel:
    """Upload input audio and give values to the pipeline's named inputs."""

    def __init__(self, page):
        self.page = page
        studio = page.studio
        limit = studio.config.max_upload_bytes
        ui.label("Input audio").classes("text-subtitle2")
        ui.label(f"wav, flac, ogg, mp3 · up to {limit / 2**20:g} MiB").classes("text-grey-7 text-sm")
        self.upload = ui.upload(on_upload=self._uploaded, on_rejected=self._too_large, auto_upload=True,
                                max_file_size=limit, multiple=True) \
            .props('accept=".wav,.flac,.ogg,.mp3,.aiff,.aif" flat bordered data-testid="upload"').classes("w-full")
        self.problems = ui.column().classes("w-full gap-0").props('data-testid="upload-problems"')
        self.files_box = ui.column().classes("w-full gap-1")
        ui.separator()
        ui.label("Pipeline inputs").classes("text-subtitle2")
        self.inputs_box = ui.column().classes("w-full gap-1")
        self.uploads: list = []

    async def _uploaded(self, e) -> None:
        studio = self.page.studio
        data = await e.file.read()
        try:
            stored = await ng_run.io_bound(store_upload, studio.uploads_dir, e.file.name, data,
                                           studio.config.max_upload_bytes)
        except UploadRejected as exc:
            self._problem(str(exc))
            return
        self.problems.clear()
        self.uploads.append(stored)
        with self.files_box:
            with ui.row().classes("items-center gap-2 w-full"):
                ui.label(f"{stored.name} · {stored.duration:.2f} s · {stored.sample_rate} Hz · {stored.channels} ch") \
                    .classes("text-sm")
                ui.button("add Load node", on_click=lambda p=str(stored.path): self._add_loader(p)).props("dense flat")
        ui.notify(f"Uploaded {stored.name}", type="positive")
        self.refresh_inputs()

    def _problem(self, message: str) -> None:
        """Said where the upload was, and the uploader emptied: no ✓ beside a refused file."""
        self.upload.reset()
        self.problems.clear()
        with self.problems:
            ui.label(message).classes("text-negative text-sm").props('data-testid="upload-error"')
        ui.notify(message, type="negative", position="bottom")

    def _too_large(self, _e=None) -> None:
        limit = self.page.studio.config.max_upload_bytes
        self._problem(f"Not uploaded: a file is larger than the {limit / 2**20:g} MiB limit, or not an audio type "
                      f"(wav, flac, ogg, mp3, aiff)")

    def _add_loader(self, path: str) -> None:
        page = self.page
        page.selected = page.model.add_node("audio.load", 0, 0, {"path": path})
        page.refresh()

    def refresh_inputs(self) -> None:
        page = self.page
        self.inputs_box.clear()
        declared = page.model.doc["inputs"]
        with self.inputs_box:
            if not declared:
                ui.label("This pipeline declares no named inputs; edit params on the nodes.") \
                    .classes("text-grey-7 text-sm")
            for name, inp in declared.items():
                value = page.inputs.get(name, inp.get("default"))
                label = f"{name} → {inp['bind']}"
                is_audio = self._is_audio_port(inp["bind"])
                if is_audio and self.uploads:
                    opts = {str(u.path): u.name for u in self.uploads}
                    ui.select(opts, label=label, value=value if value in opts else None,
                              on_change=lambda e, n=name: self._set_input(n, e.value)).classes("w-full")
                else:
                    ui.input(label, value="" if value is None else str(value),
                             on_change=lambda e, n=name: self._set_input(n, e.value)).classes("w-full") \
                        .props(f'hint="{inp.get("description") or ""}"')

    def _is_audio_port(self, bind: str) -> bool:
        node_id, target = bind.split(".", 1)
        model = self.page.model
        if not model.has_node(node_id):
            return False
        spec = self.page.studio.registry.get(model.node(node_id)["type"])
        return spec is not None and target in spec.inputs and spec.inputs[target].type is PortType.AUDIO

    def _set_input(self, name: str, value: Any) -> None:
        if value in (None, ""):
            self.page.inputs.pop(name, None)
        else:
            try:
                import json
                self.page.inputs[name] = json.loads(value) if isinstance(value, str) and not self._is_audio_port(
                    self.page.model.doc["inputs"][name]["bind"]) else value
            except ValueError:
                self.page.inputs[name] = value
        self.page.revalidate()


class ComparePanel:
    """Two stages side by side: players with spectrograms, measured figures and evaluation figures."""

    def __init__(self, page):
        self.page = page
        self.evaluation = Evaluation(page)
        self.slots: dict[str, tuple[str, str, str] | None] = {"A": None, "B": None}
        self.choices: dict[str, tuple[str, str, str]] = {}
        with ui.row().classes("w-full gap-2 no-wrap"):
            self.pick_a = ui.select({}, label="A", on_change=lambda e: self._picked("A", e.value)) \
                .classes("w-1/2").props('dense data-testid="pick-a"')
            self.pick_b = ui.select({}, label="B", on_change=lambda e: self._picked("B", e.value)) \
                .classes("w-1/2").props('dense data-testid="pick-b"')
        self.box = ui.column().classes("w-full gap-2").props('data-testid="compare-box"')
        self.refresh_choices()
        self.render()

    def refresh_choices(self) -> None:
        """Current stages plus those of recent runs (the same node in two runs)."""
        page = self.page
        choices: dict[str, tuple[str, str, str]] = {}
        store = page.studio.engine.store
        for nid, key in page.keys.items():
            spec = page.studio.registry.get(page.model.node(nid)["type"]) if page.model.has_node(nid) else None
            for port in (spec.outputs.values() if spec else []):
                if port.type is PortType.AUDIO:
                    choices[f"{key}/{port.name}"] = (f"{nid}.{port.name} (now)", key, port.name)
        try:
            runs = page.studio.engine.history.runs(limit=10)
            for r in runs:
                for st in page.studio.engine.history.stages(r.run_id):
                    spec = page.studio.registry.get(st.node_type)
                    if not st.artifact_ref or spec is None or not store.exists(st.cache_key):
                        continue
                    for port in spec.outputs.values():
                        ident = f"{st.cache_key}/{port.name}"
                        if port.type is PortType.AUDIO and ident not in choices:
                            choices[ident] = (f"{st.node_id}.{port.name} @ run {r.run_id[:8]}", st.cache_key, port.name)
        except Exception as exc:  # history is a convenience here; the current stages still compare
            ui.notify(f"history unavailable: {exc}", type="warning")
        self.choices = choices
        opts = {k: v[0] for k, v in choices.items()}
        for sel in (self.pick_a, self.pick_b):
            sel.set_options(opts, value=sel.value if sel.value in opts else None)

    def _picked(self, slot: str, ident: str | None) -> None:
        if ident and ident in self.choices:
            self.slots[slot] = self.choices[ident]
            self.render()

    def set_slot(self, slot: str, label: str, key: str, port: str) -> None:
        self.slots[slot] = (label, key, port)
        ident = f"{key}/{port}"
        if ident not in self.choices:
            self.refresh_choices()
        (self.pick_a if slot == "A" else self.pick_b).set_value(ident if ident in self.choices else None)
        self.render()
        ui.notify(f"{label} set as {slot}")

    def render(self) -> None:
        self.box.clear()
        store = self.page.studio.engine.store
        figs: list[tuple[str, Figures | None]] = []
        with self.box:
            for slot in ("A", "B"):
                chosen = self.slots[slot]
                if chosen is None:
                    ui.label(f"{slot}: pick a stage above, or press {slot} under a node's output.") \
                        .classes("text-grey-7 text-sm")
                    figs.append((slot, None))
                    continue
                label, key, port = chosen
                WaveformPlayer(artifact_url(key, port), label=f"{slot}: {label}", spectrogram=True,
                               color="#43a047" if slot == "A" else "#1e88e5").props(f'data-testid="compare-player-{slot}"')
                try:
                    figs.append((slot, measure(store.open(key)[port])))
                except Exception as exc:
                    ui.label(f"cannot measure {label}: {exc}").classes("text-negative text-sm")
                    figs.append((slot, None))
            a, b = figs[0][1], figs[1][1]
            figures_table(figs, difference(a, b) if a and b else None)
            self.evaluation.render(self.slots, self.render)


class HistoryPanel:
    """Past runs from the history database; open one to load its pipeline and stages."""

    def __init__(self, page):
        self.page = page
        ui.button("Refresh", icon="refresh", on_click=self.refresh).props("flat dense")
        self.box = ui.column().classes("w-full gap-1").props('data-testid="history"')
        self.refresh()

    def refresh(self) -> None:
        self.box.clear()
        try:
            runs = self.page.studio.engine.history.runs(limit=50)
        except Exception as exc:
            with self.box:
                ui.label(f"history unavailable: {exc}").classes("text-negative")
            return
        with self.box:
            if not runs:
                ui.label("No runs yet.").classes("text-grey-7")
            for r in runs:
                color = {"succeeded": "positive", "failed": "negative", "running": "info"}.get(r.status, "grey")
                with ui.row().classes("items-center w-full gap-2 no-wrap").props(f'data-run-id="{r.run_id}"'):
                    ui.badge(r.status, color=color)
                    with ui.column().classes("gap-0 grow"):
                        ui.label(r.pipeline_name or "(unnamed)").classes("text-sm font-medium")
                        when = r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else ""
                        dur = f" · {r.duration_s:.1f} s" if r.duration_s is not None else ""
                        ui.label(f"{when}{dur} · {r.run_id[:8]}").classes("text-xs text-grey-7")
                    ui.button("Open", on_click=lambda rid=r.run_id: self.open_run(rid)).props("dense flat")

    def open_run(self, run_id: str) -> None:
        """Load the run's pipeline into the canvas; its stages still in the store become playable."""
        page = self.page
        history = page.studio.engine.history
        record = history.run(run_id)
        if record is None:
            ui.notify(f"no run {run_id!r} in history", type="negative")
            return
        try:
            doc = parse_pipeline(record.pipeline)
        except Exception as exc:
            ui.notify(f"run {run_id[:8]}: its pipeline no longer parses: {exc}", type="negative")
            return
        page.load_doc(doc)
        try:
            import json
            page.inputs = json.loads(record.inputs_json or "{}")
        except ValueError:
            page.inputs = {}
        store = page.studio.engine.store
        states = {}
        for st in history.stages(record.run_id):
            if page.model.has_node(st.node_id):
                states[st.node_id] = {"status": st.status, "progress": 1.0 if st.status in ("done", "cached") else 0.0,
                                      "message": st.error or ""}
                if st.artifact_ref and store.exists(st.cache_key):
                    page.keys[st.node_id] = st.cache_key
        page.states = states
        page.canvas.set_states(states)
        page.status.text = f"opened run {record.run_id[:8]} ({record.status})"
        page.node_panel.show(page.selected)
        page.compare.refresh_choices()
