// NiceGUI component: a running stage's streamed blocks, played as they arrive. Each block is fetched
// from `${base}/${i}.f32` (raw float32, headers X-Channels/X-Frames/X-Rate/X-Stage/X-Blocks) and
// started right where the one before ends on one AudioContext clock, so the blocks join without gaps
// (a block that comes late starts a moment after it came: a gap, counted). The state of each stream is
// kept in window.haysayStreams[base], outside the component, so a redrawn panel re-attaches to it.
const streams = (window.haysayStreams = window.haysayStreams || {});
const LEAD_S = 0.05; // how far ahead of "now" a block is started when the queue has run dry

function stop(s) {
  s.stopped = true;
  for (const src of s.sources) { try { src.stop(); } catch (e) { /* not started yet */ } }
  s.sources = [];
  if (s.ctx.state !== "closed") s.ctx.close();
}

function schedule(s, data, channels, frames, rate, stage) {
  const buffer = s.ctx.createBuffer(channels, frames, rate);
  for (let c = 0; c < channels; c++) buffer.copyToChannel(data.subarray(c * frames, (c + 1) * frames), c);
  const src = s.ctx.createBufferSource();
  src.buffer = buffer;
  src.connect(s.ctx.destination);
  const now = s.ctx.currentTime;
  if (s.at < now + LEAD_S) {
    if (s.scheduled > 0) s.gaps += 1;
    s.at = now + LEAD_S;
  }
  src.start(s.at);
  s.at += frames / rate;
  s.sources.push(src);
  src.onended = () => { s.sources = s.sources.filter((x) => x !== src); };
  s.buffers.push(buffer);
  s.stages.push(stage); // the stage's status when this block was scheduled
  s.scheduled += 1;
  s.seconds += frames / rate;
}

async function pump(s) {
  while (!s.stopped) {
    let r;
    try {
      r = await fetch(`${s.base}/${s.next}.f32`, { cache: "no-store", credentials: "same-origin" });
    } catch (e) { s.error = String(e); break; }
    const stage = r.headers.get("X-Stage") || "unknown";
    const count = Number(r.headers.get("X-Blocks") || 0);
    s.stage = stage;
    if (r.status === 200) {
      const data = new Float32Array(await r.arrayBuffer());
      if (s.stopped) break;
      schedule(s, data, Number(r.headers.get("X-Channels")), Number(r.headers.get("X-Frames")),
               Number(r.headers.get("X-Rate")), stage);
      s.next += 1;
      continue;
    }
    if (r.status !== 204) { s.error = `HTTP ${r.status}`; break; }
    if (!["queued", "running"].includes(stage) && s.next >= count) break; // the stage ended, all taken
    await new Promise((res) => setTimeout(res, 150));
  }
  s.ended = true;
}

function openStream(base) {
  for (const other of Object.values(streams)) { // one stream plays at a time; an older one's audio is let go
    if (other.base === base) continue;
    if (!other.stopped) stop(other);
    delete streams[other.base];
  }
  const s = { base, ctx: new AudioContext(), next: 0, at: 0, scheduled: 0, gaps: 0, seconds: 0, stage: "",
              stages: [], buffers: [], sources: [], ended: false, stopped: false, error: "" };
  streams[base] = s;
  if (s.ctx.state === "suspended") s.ctx.resume().catch(() => {});
  pump(s);
  return s;
}

export default {
  template: `
    <div class="hs-player hs-stream" :data-base="base" :data-scheduled="scheduled" :data-first-stage="firstStage"
         :data-state="state">
      <div v-if="label" class="hs-player-label">{{ label }}</div>
      <div class="hs-stream-row">
        <span class="hs-stream-text">{{ text }}</span>
        <button v-if="!stopped && !(ended && done)" type="button" class="hs-stream-stop" @click="halt">stop</button>
        <button v-if="suspended" type="button" class="hs-stream-stop" @click="resume">play</button>
      </div>
    </div>`,
  props: { base: String, label: String },
  data() {
    return { scheduled: 0, firstStage: "", state: "waiting", text: "waiting for the first block…",
             stopped: false, ended: false, done: false, suspended: false };
  },
  mounted() {
    this.s = streams[this.base] || openStream(this.base);
    this.timer = setInterval(() => this.sync(), 100);
    this.sync();
  },
  beforeUnmount() {
    clearInterval(this.timer); // the audio plays on: the stream's state is the page's
  },
  methods: {
    sync() {
      const s = this.s;
      const ahead = Math.max(0, s.at - s.ctx.currentTime);
      this.scheduled = s.scheduled;
      this.firstStage = s.stages.length ? s.stages[0] : "";
      this.stopped = s.stopped;
      this.ended = s.ended;
      this.done = s.ended && ahead === 0;
      this.suspended = s.ctx.state === "suspended" && !s.stopped;
      this.state = s.error ? "error" : s.stopped ? "stopped" : this.done ? "played" : s.ended ? "received"
        : s.scheduled ? "playing" : "waiting";
      const got = `${s.scheduled} block${s.scheduled === 1 ? "" : "s"}, ${s.seconds.toFixed(1)} s`;
      this.text = s.error ? `stream failed: ${s.error}`
        : s.stopped ? `stopped (${got})`
        : this.done ? `played ${got}${s.gaps ? `, ${s.gaps} gap${s.gaps === 1 ? "" : "s"}` : ""}`
        : s.scheduled ? `live: ${got} received while the stage ${s.ended ? "ran" : "runs"}`
        : s.ended ? "nothing was streamed" : "waiting for the first block…";
    },
    halt() { stop(this.s); this.sync(); },
    resume() { this.s.ctx.resume(); },
  },
};
