#!/usr/bin/env node
// After `tsc`: bundle the `effect-wsgi` command (dist/internal/cli/main.js) with all it
// imports, Effect included, into one module in its own folder, and the watchdog thread
// beside it (it is loaded by URL relative to main.js). node's ESM loader costs ~1 ms per
// file on this kind of machine, and Effect alone is 150 files: each worker of `serve` would
// pay that at start. What a user imports (`effect-wsgi`, dist/index.js) is left as tsc
// made it, so Effect users share one Effect. Lazily loaded parts (TLS, HTTP/2, the PROXY
// protocol) stay lazy: they are split into chunks of their own.
import { build } from "esbuild"
import { rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "internal", "cli")

await build({
  entryPoints: [join(cli, "main.js"), join(cli, "watchdogThread.js")],
  outdir: cli,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Loaded only for TypeScript apps, and resolved from the package as it is installed.
  external: ["tsx", "tsx/*"],
  logLevel: "warning"
})

// tsc's source maps describe the files the bundles replaced.
for (const name of ["main.js.map", "watchdogThread.js.map"]) rmSync(join(cli, name), { force: true })
