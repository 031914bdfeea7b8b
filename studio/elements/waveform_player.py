"""WaveformPlayer: an <audio> element with a wavesurfer.js waveform and optional spectrogram."""
from __future__ import annotations

from nicegui import ui

from haysay.studio.bundle import BUNDLE_DIR


class WaveformPlayer(ui.element, component="waveform_player.js", esm={"haysay-studio": str(BUNDLE_DIR)}):
    """Plays `src` (a same-origin URL) and draws its waveform; `spectrogram=True` adds a mel spectrogram."""

    def __init__(self, src: str = "", *, label: str = "", spectrogram: bool = False, height: int = 72,
                 color: str = "#43a047") -> None:
        super().__init__()
        self._props["src"] = src
        self._props["label"] = label
        self._props["spectrogram"] = spectrogram
        self._props["height"] = height
        self._props["color"] = color

    def set_source(self, src: str, label: str | None = None) -> None:
        self._props["src"] = src
        if label is not None:
            self._props["label"] = label
        self.update()

    def play(self) -> None:
        self.run_method("play")

    def pause(self) -> None:
        self.run_method("pause")
