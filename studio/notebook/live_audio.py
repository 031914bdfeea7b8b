"""Players that fetch their audio from the kernel, so a saved notebook holds a reference, not the audio.

Where a notebook runs with a live kernel and widget front end (JupyterLab, Notebook 7,
VS Code), a player, a stage's table and a run's table are shown as one small widget
(`AudioRefs`): its state is the table's HTML with empty <audio> elements, and on first
render the page asks the kernel for each clip's WAV (a binary comm message) and plays
it from a blob URL. The output saved with the notebook is then a widget reference and a
one-line note, a few hundred bytes instead of an embedded clip.

Where nothing can fetch (an nbclient / `nbconvert --execute` run, which executes without
stdin and keeps no front end), the display embeds the compressed preview of audio_html.py,
so exported HTML plays. `AUDIO_MODE` ("auto", "live", "embed"; env HAYSAY_NOTEBOOK_AUDIO)
overrides the choice.
"""
from __future__ import annotations

import html
import os
from typing import Any, Callable

from haysay.graph_engine.values import Audio

from .audio_html import clip, wav_bytes

MAX_LIVE_SECONDS = 600.0  # a clip sent to the page is the whole stage up to 10 min (16-bit WAV, ~115 MB stereo 48 kHz)
AUDIO_MODE = os.environ.get("HAYSAY_NOTEBOOK_AUDIO", "auto")

ESM = """
export default { render({ model, el }) {
  el.classList.add("hs-live-audio");
  el.innerHTML = model.get("html");
  const players = new Map([...el.querySelectorAll("audio[data-hs-ref]")].map((a) => [a.dataset.hsRef, a]));
  const urls = [];
  const onMsg = (msg, buffers) => {
    const a = msg && msg.kind === "audio" ? players.get(String(msg.ref)) : undefined;
    if (!a || a.dataset.hsState === "loaded") return;
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
    urls.push(url);
    a.src = url;
    a.dataset.hsState = "loaded";
  };
  model.on("msg:custom", onMsg);
  for (const ref of players.keys()) model.send({ fetch: Number(ref) });
  return () => { model.off("msg:custom", onMsg); urls.forEach((u) => URL.revokeObjectURL(u)); };
} };
"""


def _widget_class():
    import anywidget
    import traitlets

    class AudioRefs(anywidget.AnyWidget):
        """HTML whose <audio data-hs-ref=i> elements play clip i, sent from the kernel when the page asks."""
        _esm = ESM
        html = traitlets.Unicode("").tag(sync=True)

        def __init__(self, markup: str, audios: list[Audio], **kwargs):
            super().__init__(html=markup, **kwargs)
            self._audios = audios
            self.on_msg(self._on_msg)

        def _on_msg(self, _widget, content: dict, _buffers) -> None:
            ref = content.get("fetch") if isinstance(content, dict) else None
            if not isinstance(ref, int) or not 0 <= ref < len(self._audios):
                return
            audio = self._audios[ref]
            data, cut = clip(audio, MAX_LIVE_SECONDS)
            self.send({"kind": "audio", "ref": ref, "mime": "audio/wav", "cut": cut},
                      buffers=[wav_bytes(data, audio.sample_rate)])

    return AudioRefs


_CLASS = None


def audio_refs(markup_of: Callable[[Callable[[Audio, str], str]], str]):
    """An AudioRefs widget: `markup_of(tag)` builds the HTML, calling `tag(audio, label)` for each player."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _widget_class()
    audios: list[Audio] = []

    def tag(audio: Audio, label: str = "", max_seconds: float = 0.0) -> str:
        audios.append(audio)
        title = f' title="{html.escape(label)}"' if label else ""
        return f'<audio controls preload="auto" data-hs-ref="{len(audios) - 1}"{title}></audio>'

    markup = markup_of(tag)
    return _CLASS(markup, audios)


def live_frontend() -> bool:
    """True inside an IPython kernel that a front end drives interactively (stdin allowed), as
    JupyterLab does and nbclient (allow_stdin=False) does not."""
    if AUDIO_MODE in ("live", "embed"):
        return AUDIO_MODE == "live"
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


def live_bundle(obj: Any, markup_of: Callable[[Callable], str]) -> dict[str, Any]:
    """The widget's mime bundle: its view, a text repr, and a one-line note for viewers without widgets."""
    widget = audio_refs(markup_of)
    n = len(widget._audios)
    note = (f'<div class="hs-note">{html.escape(repr(obj))}: {n} player{"s" if n != 1 else ""} fed by the kernel '
            "(run the cell to hear them; <code>jupyter nbconvert --execute</code> embeds previews)</div>")
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    return {**data, "text/plain": repr(obj), "text/html": note}


KINDS: dict[type, Callable[[Any], Callable[[Callable], str]]] = {}


def bundle_for(obj: Any) -> dict[str, Any]:
    """What displaying `obj` shows: the live AudioRefs widget with a live front end, else the embedding
    mime bundle. Also for places that store a bundle themselves (an Output widget's outputs)."""
    markup = next((KINDS[c] for c in type(obj).__mro__ if c in KINDS), None)
    if markup is not None and live_frontend():
        try:
            return live_bundle(obj, markup(obj))
        except ImportError:  # no anywidget: the notebook extra is missing, embed instead
            pass
    bundle = obj._repr_mimebundle_() if hasattr(obj, "_repr_mimebundle_") else {"text/plain": repr(obj)}
    return bundle[0] if isinstance(bundle, tuple) else bundle


def register(shell, kinds: dict[type, Callable[[Any], Callable[[Callable], str]]]) -> None:
    """Install an IPython display hook for each type: a live AudioRefs widget with a live front end,
    the embedding mime bundle otherwise."""
    from IPython.display import display

    KINDS.update(kinds)

    def show(obj):
        display(bundle_for(obj), raw=True)

    formatter = shell.display_formatter.ipython_display_formatter
    for cls in kinds:
        formatter.for_type(cls, show)
