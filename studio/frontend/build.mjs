// Builds the two browser bundles in ../bundle:
//  - index.js (+ index.css) from src/index.mjs: the studio's libraries for
//    NiceGUI, with `vue` external (NiceGUI's own Vue instance).
//  - notebook_canvas.js from src/notebook_canvas.mjs: the same canvas
//    component as one self-contained ES module for anywidget, Vue and the
//    stylesheets bundled in (Jupyter has no import map and no NiceGUI).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const common = {
  outdir: join(here, "../bundle"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "eof",
  logLevel: "info",
};

await build({
  ...common,
  entryPoints: [join(here, "src/index.mjs")],
  entryNames: "index",
  external: ["vue"],
  define: { "process.env.NODE_ENV": '"production"' },
});

await build({
  ...common,
  entryPoints: [join(here, "src/notebook_canvas.mjs")],
  entryNames: "notebook_canvas",
  loader: { ".css": "text" },  // injected as a <style> by the widget itself
  define: {
    "process.env.NODE_ENV": '"production"',
    // Vue's esm-bundler build reads these compile-time flags
    __VUE_OPTIONS_API__: "true",
    __VUE_PROD_DEVTOOLS__: "false",
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
  },
});
