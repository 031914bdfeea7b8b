// NiceGUI component: an <audio> element driven by wavesurfer.js, with an
// optional spectrogram. The <audio> element stays in the page (with native
// controls) so the stage output can be played even before the waveform draws.
import { WaveSurfer, SpectrogramPlugin } from "haysay-studio";

export default {
  template: `
    <div class="hs-player" :data-src="src">
      <div v-if="label" class="hs-player-label">{{ label }}</div>
      <div ref="wave" class="hs-wave"></div>
      <div v-if="spectrogram" ref="spec" class="hs-spec"></div>
      <audio ref="audio" controls preload="auto" :src="src || undefined" class="hs-audio"></audio>
    </div>`,
  props: {
    src: String,
    label: String,
    spectrogram: Boolean,
    height: { type: Number, default: 72 },
    color: { type: String, default: "#43a047" },
  },
  emits: ["ready", "error"],
  mounted() {
    this.create();
  },
  beforeUnmount() {
    this.destroy();
  },
  watch: {
    src() { this.destroy(); this.$nextTick(() => this.create()); },
    spectrogram() { this.destroy(); this.$nextTick(() => this.create()); },
  },
  methods: {
    create() {
      if (!this.src) return;
      const plugins = [];
      if (this.spectrogram && this.$refs.spec) {
        plugins.push(SpectrogramPlugin.create({ container: this.$refs.spec, labels: true, height: 128, scale: "mel" }));
      }
      this.ws = WaveSurfer.create({
        container: this.$refs.wave, media: this.$refs.audio, url: this.src, height: this.height,
        waveColor: this.color, progressColor: "#1b5e20", cursorColor: "#333", normalize: false, plugins,
      });
      this.ready = false;
      this.ws.on("ready", (duration) => { this.ready = true; this.$emit("ready", { duration }); });
      this.ws.on("error", (err) => this.$emit("error", { message: String(err) }));
    },
    destroy() {
      if (this.ws) { this.ws.destroy(); this.ws = null; }
    },
    play() {
      // wavesurfer swaps the <audio> source for the fetched blob: playing before that is cut off
      if (this.ws && !this.ready) { this.ws.once("ready", () => this.ws.play()); return; }
      return this.$refs.audio.play();
    },
    pause() { this.$refs.audio.pause(); },
  },
};
