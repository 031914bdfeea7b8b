"""A notebook player for a streaming stage: its blocks play while the run is still going.

    player = StreamPlayer("vc")        # show it (last line of a cell, or display(player))
    run = p.run(on_event=player)       # vc.rvc with stream on: the first second plays before the run ends

The kernel keeps every block it was given and sends each one to the page at once, as a binary comm
message (float32 samples), also while the cell still runs; the page keeps them per widget, so a view
shown later (or a second view) has them too, and schedules them on one Web Audio clock, each right after
the one before, as the studio's stream player does. A page that lost them (a reload) asks the kernel
for them again when it is idle. Nothing of the audio is widget
state, so a saved notebook holds a reference, not the blocks. Browsers start Web Audio only after a
click where autoplay is blocked: the blocks then wait, and the Play button starts them from the first.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from haysay.graph_engine.streaming import BlockEvent

ESM = """
const STORES = new WeakMap();   // model -> the blocks it was sent, for every view of it, early or late
function storeOf(model) {
  let store = STORES.get(model);
  if (!store) {
    store = { blocks: new Map(), listeners: new Set() };
    STORES.set(model, store);
    model.on("msg:custom", (msg, buffers) => {
      if (!msg || msg.kind !== "block" || store.blocks.has(msg.index)) return;
      const raw = buffers[0];
      const bytes = raw.buffer ? raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) : raw;
      store.blocks.set(msg.index, { rate: msg.rate, channels: msg.channels, frames: msg.frames,
                                    data: new Float32Array(bytes) });
      store.listeners.forEach((f) => f());
    });
  }
  return store;
}
export default {
  initialize({ model }) { storeOf(model); },
  render({ model, el }) {
    const store = storeOf(model), have = store.blocks;
    el.classList.add("hs-stream-player");
    const button = document.createElement("button");
    button.textContent = "\u25B6 Play live";
    button.className = "hs-stream-play";
    const label = document.createElement("span");
    label.className = "hs-stream-label";
    label.style.marginLeft = "0.6em";
    el.append(button, label);
    let ctx = null, next = 0, played = 0;
    const sources = [];
    const show = () => {
      let frames = 0, secs = 0;
      have.forEach((b) => { frames += b.frames; secs += b.frames / b.rate; });
      el.dataset.hsBlocks = String(have.size); el.dataset.hsFrames = String(frames);
      el.dataset.hsScheduled = String(played); el.dataset.hsAudio = ctx ? ctx.state : "none";
      label.textContent = `${model.get("node") || "stream"}: ${have.size} block${have.size === 1 ? "" : "s"}, ` +
        `${secs.toFixed(1)} s received` + (model.get("done") ? " (done)" : "") +
        (ctx && ctx.state === "running" ? "" : " \u00b7 click Play to listen");
    };
    const schedule = () => {            // the blocks in order, from the next one not yet played
      if (ctx && ctx.state === "running") {
        while (have.has(played)) {
          const b = have.get(played);
          const buf = ctx.createBuffer(b.channels, b.frames, b.rate);
          for (let c = 0; c < b.channels; c++) buf.copyToChannel(b.data.subarray(c * b.frames, (c + 1) * b.frames), c);
          const src = ctx.createBufferSource();
          src.buffer = buf; src.connect(ctx.destination);
          next = Math.max(next, ctx.currentTime + 0.05);
          src.start(next); sources.push(src);
          next += b.frames / b.rate; played += 1;
        }
      }
      show();
    };
    const start = async () => {
      if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
      if (ctx.state !== "running") { try { await ctx.resume(); } catch (e) { /* stays suspended */ } }
      schedule();
    };
    button.addEventListener("click", start);
    store.listeners.add(schedule);
    model.on("change:done", show);
    start();                             // plays at once where autoplay is allowed
    model.send({ ready: true });         // a view of a model made before this page (a reload): the blocks again
    return () => { store.listeners.delete(schedule); model.off("change:done", show);
                   sources.forEach((s) => { try { s.stop(); } catch (e) { /* not started */ } });
                   if (ctx) ctx.close(); };
  },
};
"""


def _widget_class():
    import anywidget
    import traitlets

    class StreamPlayer(anywidget.AnyWidget):
        """Plays a streaming stage's blocks as they arrive; call it with the run's events (on_event=player)."""
        _esm = ESM
        node = traitlets.Unicode("").tag(sync=True)
        done = traitlets.Bool(False).tag(sync=True)

        def __init__(self, node: str = "", **kwargs):
            super().__init__(node=node, **kwargs)
            self.blocks: list[BlockEvent] = []
            self._lock = threading.Lock()
            self.on_msg(self._on_msg)

        def __call__(self, event: Any) -> None:
            """A run's StageEvent: its block when it is one of this player's node (any node if none was named);
            the node's 'done' marks the stream complete."""
            if self.node and getattr(event, "node", None) != self.node:
                return
            block = getattr(event, "block", None)
            if block is not None:
                self.feed(block)
            elif getattr(event, "status", None) == "done" and self.blocks:
                self.done = True

        def feed(self, block: BlockEvent) -> None:
            with self._lock:
                if block.index != len(self.blocks):
                    raise ValueError(f"block {block.index} arrived where block {len(self.blocks)} was due")
                self.blocks.append(block)
            self._send_block(block)  # the page keeps it for every view, shown now or later

        @property
        def audio(self):
            """The blocks received so far, as one Audio (None before the first)."""
            from haysay.graph_engine.values import Audio

            if not self.blocks:
                return None
            return Audio(np.concatenate([b.audio.data for b in self.blocks], axis=1), self.blocks[0].audio.sample_rate)

        def _send_block(self, block: BlockEvent) -> None:
            data = np.ascontiguousarray(block.audio.data, np.float32)  # channel after channel
            self.send({"kind": "block", "index": block.index, "start": block.start, "rate": block.audio.sample_rate,
                       "channels": int(data.shape[0]), "frames": int(data.shape[1])}, buffers=[data.tobytes()])

        def _on_msg(self, _widget, content: dict, _buffers) -> None:
            if not isinstance(content, dict) or content.get("ready") is not True:
                return
            with self._lock:
                missed = list(self.blocks)
            for block in missed:  # a page that did not get them (reloaded): all again; duplicates are skipped
                self._send_block(block)

    return StreamPlayer


_CLASS = None


def StreamPlayer(node: str = "", **kwargs):  # noqa: N802 - a class to its users; built on first use
    """A player for the streaming stage `node` (see the module docstring); needs the notebook extra."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _widget_class()
    return _CLASS(node, **kwargs)
