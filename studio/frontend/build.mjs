// Builds ../bundle/index.js (+ index.css) from src/index.mjs.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));

await build({
  entryPoints: [join(here, "src/index.mjs")],
  outdir: join(here, "../bundle"),
  entryNames: "index",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  external: ["vue"],
  minify: true,
  legalComments: "eof",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "info",
});
