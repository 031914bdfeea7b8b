"""Two stages side by side: players, waveform and spectrogram pictures, and level figures."""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import pyloudnorm

from haysay.graph_engine.run_view import Comparison
from haysay.graph_engine.values import Audio

from .audio_html import MAX_EMBED_SECONDS, audio_tag, clip
from .tables import STYLE


def _db(x: float) -> float:
    return float(20 * np.log10(max(x, 1e-10)))


def levels(audio: Audio, max_seconds: float = MAX_EMBED_SECONDS) -> dict[str, float | None]:
    """Duration (whole), and peak / RMS dBFS and integrated LUFS of the first `max_seconds`."""
    data, _ = clip(audio, max_seconds)
    lufs = None
    if data.shape[1] >= int(0.4 * audio.sample_rate):  # BS.1770 gating needs one 400 ms block
        value = pyloudnorm.Meter(audio.sample_rate).integrated_loudness(data.T.astype(np.float64))
        lufs = float(value) if np.isfinite(value) else None
    return {"duration_s": audio.duration, "sample_rate": audio.sample_rate, "channels": audio.channels,
            "peak_dbfs": _db(float(np.max(np.abs(data))) if data.size else 0.0),
            "rms_dbfs": _db(float(np.sqrt(np.mean(np.square(data, dtype=np.float64)))) if data.size else 0.0),
            "lufs": lufs}


def figure_jpeg(audios: list[tuple[str, Audio]], max_seconds: float = MAX_EMBED_SECONDS) -> bytes:
    """Waveforms (top row) and spectrograms (bottom row), one column per audio, as JPEG: a
    spectrogram of speech is ~300 kB as PNG, ~40 kB as JPEG, and the notebook stores it inline."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(audios), 5), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(audios), squeeze=False)
    for col, (label, audio) in enumerate(audios):
        data, _ = clip(audio, max_seconds)
        mono = data.mean(axis=0)
        t = np.arange(mono.size) / audio.sample_rate
        axes[0][col].plot(t, mono, linewidth=0.5)
        axes[0][col].set(title=label, xlabel="s", ylim=(-1, 1))
        if mono.size >= 256:
            nfft = 1024 if mono.size >= 1024 else 256
            with np.errstate(divide="ignore"):  # digital silence has zero power: -inf dB is drawn as the floor
                axes[1][col].specgram(mono, NFFT=nfft, Fs=audio.sample_rate, noverlap=nfft // 2)
        axes[1][col].set(xlabel="s", ylabel="Hz")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", pil_kwargs={"quality": 80})
    return buf.getvalue()


def measured(stage) -> dict[str, tuple[float, str]]:
    """{"node.figure": (value, unit)} of the analysis stages that judge this stage's audio (their
    `audio` input is wired from it): e.g. DNSMOS OVRL, WER, pitch error beside the levels."""
    from haysay.graph_engine.values import Metrics
    out: dict[str, tuple[float, str]] = {}
    for e in stage.run.doc.edges:
        src, dst = e.source.split(".", 1)[0], e.target
        nid, _, port = dst.partition(".")
        if src != stage.node or port != "audio" or nid not in stage.run.result.stages:
            continue
        judge = stage.run[nid]
        if judge.status not in ("done", "cached"):
            continue
        for value in judge.outputs.values():
            if isinstance(value, Metrics):
                out.update({f"{nid}.{k}": (v, value.units.get(k, "")) for k, v in value.values.items()})
    return out


def comparison_html(cmp: Comparison, tag=audio_tag) -> str:
    stages = [cmp.a, cmp.b]
    audios = [(s.node, s.audio) for s in stages]
    figs = [levels(a) for _, a in audios]
    cols = "".join(f"<th>{html.escape(label)}</th>" for label, _ in audios)
    players = "".join(f"<td>{tag(a, label)}</td>" for label, a in audios)

    def fmt(v, unit):
        return "n/a" if v is None else (f"{v:.2f} {unit}".strip() if isinstance(v, float) else f"{v} {unit}".strip())
    rows = "".join(f"<tr><th>{name}</th>" + "".join(f"<td>{fmt(f[key], unit)}</td>" for f in figs) + "</tr>"
                   for name, key, unit in (("duration", "duration_s", "s"), ("sample rate", "sample_rate", "Hz"),
                                           ("channels", "channels", ""), ("peak", "peak_dbfs", "dBFS"),
                                           ("RMS", "rms_dbfs", "dBFS"), ("loudness", "lufs", "LUFS")))
    figures = [measured(s) for s in stages]
    for name in sorted({k for f in figures for k in f}):
        rows += f"<tr><th>{html.escape(name)}</th>" + "".join(
            f"<td>{fmt(*f[name]) if name in f else 'n/a'}</td>" for f in figures) + "</tr>"
    jpeg = base64.b64encode(figure_jpeg(audios)).decode("ascii")
    return (STYLE + f'<table class="hs-table hs-compare"><tr><th></th>{cols}</tr><tr><th>listen</th>{players}</tr>'
            + rows + "</table>" + f'<img class="hs-figure" src="data:image/jpeg;base64,{jpeg}"/>'
            + f'<div class="hs-note">figures and players cover at most the first {MAX_EMBED_SECONDS:g} s</div>')
