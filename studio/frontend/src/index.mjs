// The studio's browser libraries in one ES module. `vue` stays external so
// every component here shares NiceGUI's single Vue instance (one reactivity
// system, one app). The NiceGUI components in studio/elements import from it
// under the import-map name "haysay-studio". The node canvas and palette components
// are here too, so the notebook bundle (notebook_canvas.mjs) mounts the same ones.
import "@vue-flow/core/dist/style.css";
import "@vue-flow/core/dist/theme-default.css";
import "@vue-flow/controls/dist/style.css";
import "@vue-flow/minimap/dist/style.css";

export { VueFlow, Handle, Position, Panel, MarkerType, useVueFlow } from "@vue-flow/core";
export { MiniMap } from "@vue-flow/minimap";
export { Controls, ControlButton } from "@vue-flow/controls";
export { Background } from "@vue-flow/background";
export { default as NodeCanvas } from "./NodeCanvas.js";
export { default as NodePalette } from "./NodePalette.js";
export { default as WaveSurfer } from "wavesurfer.js";
export { default as SpectrogramPlugin } from "wavesurfer.js/dist/plugins/spectrogram.esm.js";
