#!/usr/bin/env node
// After `tsc`: node's ESM loader costs ~1 ms per file on this kind of machine, paid by
// every process at start (each `--workers` worker too). So the build joins files:
//
// - The library (what a user imports: dist/index.js, and the demo): our ~70 modules become
//   one, with Effect and @effect/* left out, so Effect users share one Effect. tsc's
//   per-module files stay beside it for the command's bundle below and the .d.ts files.
// - The `effect-wsgi` command (dist/internal/cli/main.js): the command and all it imports,
//   Effect included, in one module in its own folder, and the watchdog thread beside it
//   (it is loaded by URL relative to main.js).
//
// Lazily loaded parts (toHttpApp's runtime, TLS, HTTP/2, the PROXY protocol) stay lazy:
// each bundle splits them into chunks of their own.
import { build } from "esbuild"
import { rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist")
const cli = join(dist, "internal", "cli")

const common = {
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // No keepNames: it wraps every closure made per request in a defineProperty call (+1.5 µs
  // per in-process hello request, measured). test/footprint.test.ts checks instead that
  // what the package exports keeps its name.
  logLevel: "warning"
}

// Chunk names change with their content: the last build's go first.
rmSync(join(dist, "chunks"), { recursive: true, force: true })
await build({
  ...common,
  entryPoints: [join(dist, "index.js"), join(dist, "demo.js")],
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  // Reads tsc's maps, so stack traces still point into src/.
  sourcemap: true,
  external: ["effect", "effect/*", "@effect/*", "tsx", "tsx/*"]
})

await build({
  ...common,
  entryPoints: [join(cli, "main.js"), join(cli, "watchdogThread.js")],
  outdir: cli,
  // Loaded only for TypeScript apps, and resolved from the package as it is installed.
  external: ["tsx", "tsx/*"]
})

// tsc's source maps describe the files the command's bundle replaced.
for (const name of ["main.js.map", "watchdogThread.js.map"]) rmSync(join(cli, name), { force: true })
