"""HTML tables for notebooks: a run's stages (with players), validation errors, one stage."""
from __future__ import annotations

import html
from typing import Iterable

from haysay.graph_engine.errors import GraphError
from haysay.graph_engine.run_view import PipelineRun, Stage

from .audio_html import MAX_EMBED_SECONDS, audio_tag

STYLE = ("<style>.hs-table{border-collapse:collapse;font-size:13px}.hs-table th,.hs-table td{border:1px solid #ddd;"
         "padding:3px 8px;text-align:left;vertical-align:middle}.hs-table th{background:#f5f5f5}"
         ".hs-note{font-size:11px;color:#777}.hs-failed{color:#c62828}.hs-ok{color:#2e7d32}</style>")
STATUS_CLASS = {"done": "hs-ok", "cached": "hs-ok", "failed": "hs-failed", "skipped": "hs-failed"}


def _cell(value: object) -> str:
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def errors_html(errors: Iterable[GraphError]) -> str:
    errors = list(errors)
    if not errors:
        return STYLE + '<div class="hs-ok">✓ no problems: the pipeline is ready to run</div>'
    rows = "".join("<tr>" + _cell(e.code) + _cell(e.node) + _cell(e.port or e.field) + _cell(e.message) + "</tr>"
                   for e in errors)
    return (STYLE + f'<div class="hs-failed">{len(errors)} problem{"s" if len(errors) != 1 else ""}</div>'
            '<table class="hs-table hs-errors"><tr><th>code</th><th>node</th><th>port / field</th><th>message</th></tr>'
            + rows + "</table>")


def _players(stage: Stage, tag=audio_tag) -> str:
    try:
        audios = stage.audio_outputs
    except Exception as exc:  # a pruned artifact must not break the whole table
        return f'<span class="hs-failed">{html.escape(str(exc))}</span>'
    return "".join((f"<div>{html.escape(port)}: " if len(audios) > 1 else "<div>")
                   + tag(audio, f"{stage.node}.{port}") + f'<span class="hs-note"> {audio.duration:.2f} s · '
                   f"{audio.sample_rate} Hz · {audio.channels} ch</span></div>" for port, audio in audios.items())


def stage_row(stage: Stage, tag=audio_tag) -> str:
    dur = f"{stage.duration:.3f} s" if stage.duration is not None else ""
    status = f'<td class="{STATUS_CLASS.get(stage.status, "")}">{html.escape(stage.status)}'
    status += f'<div class="hs-note">{html.escape(stage.error)}</div></td>' if stage.error else "</td>"
    return ("<tr>" + _cell(stage.node) + _cell(stage.type) + status + _cell("✓" if stage.cache_hit else "")
            + _cell(dur) + _cell(stage.worker or "") + f"<td>{_players(stage, tag)}</td></tr>")


def run_html(run: PipelineRun, tag=audio_tag) -> str:
    """The run's stages as a table; `tag(audio, label)` makes each player (embedded by default)."""
    head = (f'<div><b>run {html.escape(run.run_id[:12])}</b> · <span class="{STATUS_CLASS.get("done" if run.ok else "failed")}">'
            f"{html.escape(run.status)}</span> · {run.duration:.2f} s")
    if run.error:
        head += f' · <span class="hs-failed">{html.escape(run.error)}</span>'
    head += "</div>" + (f'<div class="hs-note">players embed at most the first {MAX_EMBED_SECONDS:g} s of each stage</div>'
                        if tag is audio_tag else "")
    rows = "".join(stage_row(s, tag) for s in run.stages)
    return (STYLE + head + '<table class="hs-table hs-run"><tr><th>stage</th><th>type</th><th>status</th>'
            "<th>cache hit</th><th>duration</th><th>worker</th><th>audio</th></tr>" + rows + "</table>")


def stage_html(stage: Stage, tag=audio_tag) -> str:
    return (STYLE + '<table class="hs-table hs-run"><tr><th>stage</th><th>type</th><th>status</th><th>cache hit</th>'
            "<th>duration</th><th>worker</th><th>audio</th></tr>" + stage_row(stage, tag) + "</table>")
