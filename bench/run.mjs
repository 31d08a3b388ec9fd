#!/usr/bin/env node
// `npm run bench`: effect-wsgi against baselines measured in the same run, as one markdown
// table of ratios with pass/short per target (issue 5). Plain ESM over ../dist/index.js
// (`npm run bench` builds it first through scripts/ensure.mjs).
//
//   node bench/run.mjs                       everything; records the run in bench/RESULTS.md
//   node bench/run.mjs --only inprocess,http --no-record
//   node bench/run.mjs --only footprint --no-record      start-up cost: RSS and first answer
//   node bench/run.mjs --only http2 --no-record          HTTP/2 (h2c) under h2load
//   node bench/run.mjs --rounds 5 --reps 1 --no-record          a quicker, rougher run
//   (--duration: seconds per wrk round, --reps: rounds per server and mode)
//   EFFECT_WSGI_BENCH_DIST=path/to/index.js node bench/run.mjs --no-record
//                                            measure another build (e.g. a patched copy)
//
// Progress goes to stderr; stdout gets the machine, the table and its notes.
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { runInProcess } from "./inprocess_section.mjs"
import { runHttp } from "./http_section.mjs"
import { runHttp2 } from "./http2_section.mjs"
import { runMemory } from "./memory_section.mjs"
import { runFootprint } from "./footprint_section.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))

const { values: options } = parseArgs({
  options: {
    only: { type: "string", default: "inprocess,http,http2,memory,footprint" },
    "no-record": { type: "boolean", default: false },
    warmup: { type: "string", default: "20000" },
    rounds: { type: "string", default: "15" },
    requests: { type: "string", default: "2000" },
    duration: { type: "string", default: "2" },
    reps: { type: "string", default: "7" },
    "http-warmup": { type: "string", default: "1" },
    connections: { type: "string", default: "50" },
    "memory-rate": { type: "string", default: "100" },
    "footprint-rounds": { type: "string", default: "5" },
    "footprint-requests": { type: "string", default: "2000" },
    help: { type: "boolean", default: false }
  }
})
if (options.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).join("\n"))
  process.exit(0)
}
const sections = new Set(options.only.split(","))
const ALL_SECTIONS = ["inprocess", "http", "http2", "memory", "footprint"]
for (const s of sections) if (!ALL_SECTIONS.includes(s)) throw new Error(`unknown section ${s}`)

const started = Date.now()
const log = (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`)

const tryRun = (command, args) => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trimEnd()
  } catch {
    return null
  }
}

const machine = () => {
  const cpuinfo = (() => {
    try {
      return readFileSync("/proc/cpuinfo", "utf8")
    } catch {
      return ""
    }
  })()
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown"
  return {
    date: new Date().toISOString(),
    nproc: tryRun("nproc", []) ?? String(os.availableParallelism()),
    free: tryRun("free", ["-h"]) ?? `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total`,
    cpu: model,
    node: process.version,
    python: tryRun("python3", ["--version"]) ?? "python3 missing",
    wrk: (tryRun("sh", ["-c", "wrk --version 2>&1 | head -1"]) || "wrk missing").replace(/ Copyright.*$/, "").replace(/^sh: .*not found$/, "wrk missing"),
    load: os.loadavg().map((x) => x.toFixed(2)).join(" "),
    pressure: cpuPressure()
  }
}

/** Linux's CPU pressure ("some" line: share of time runnable tasks waited for a CPU). */
const cpuPressure = () => {
  try {
    const some = readFileSync("/proc/pressure/cpu", "utf8").split("\n").find((l) => l.startsWith("some"))
    const values = Object.fromEntries([...some.matchAll(/avg(\d+)=([\d.]+)/g)].map((m) => [m[1], m[2]]))
    return `${values["10"]}% (10 s), ${values["60"]}% (60 s)`
  } catch {
    return "n/a"
  }
}

const rows = []
const notes = []
const section = async (name, run) => {
  if (!sections.has(name)) return
  try {
    const result = await run()
    rows.push(...result.rows)
    notes.push(...result.notes)
  } catch (error) {
    log(`${name}: FAILED: ${error instanceof Error ? error.stack : error}`)
    rows.push({ section: name, name: "(section failed)", result: String(error?.message ?? error).slice(0, 200), baseline: "", ratio: "", target: "", pass: false })
  }
}

const before = machine()
await section("inprocess", () =>
  runInProcess({ warmup: Number(options.warmup), rounds: Number(options.rounds), requests: Number(options.requests), log }))
await section("http", () =>
  runHttp({
    duration: Number(options.duration),
    reps: Number(options.reps),
    warmup: Number(options["http-warmup"]),
    connections: Number(options.connections),
    log
  }))
await section("http2", () =>
  runHttp2({ duration: Number(options.duration), reps: Number(options.reps), warmup: Number(options["http-warmup"]), log }))
await section("memory", () => runMemory({ rateMiBps: Number(options["memory-rate"]), log }))
await section("footprint", () =>
  runFootprint({ rounds: Number(options["footprint-rounds"]), requests: Number(options["footprint-requests"]), log }))
const elapsed = (Date.now() - started) / 1000
const after = machine()

const cell = (text) => String(text).replace(/\|/g, "\\|").replace(/\n/g, " ")
const verdict = (pass) => (pass === true ? "pass" : pass === false ? "**short**" : "—")
const table = [
  "| Section | Benchmark | Result | Baseline (same run) | Ratio | Target | |",
  "|---|---|---:|---|---:|---|---|",
  ...rows.map((r) => `| ${[r.section, r.name, r.result, r.baseline, r.ratio, r.target, verdict(r.pass)].map(cell).join(" | ")} |`)
].join("\n")

const passed = rows.filter((r) => r.pass === true).length
const short = rows.filter((r) => r.pass === false).length
const summary = `${passed} pass, ${short} short; the bench took ${elapsed.toFixed(0)} s`
const machineLines = [
  `- date: ${before.date}`,
  `- machine: \`nproc\` = ${before.nproc}; CPU: ${before.cpu}; load average at start ${before.load}, at the end ${after.load}`,
  `- CPU pressure (other work on the machine waiting for a CPU, /proc/pressure/cpu): at start ${before.pressure}; at the end (the bench's own load included) ${after.pressure}`,
  "- memory (`free -h`):",
  "",
  "```",
  before.free,
  "```",
  "",
  `- node ${before.node}, ${before.python}, ${before.wrk}`
]
const legend =
  "Ratios: in process, CPython's µs per request over ours (how many times faster we are); over HTTP, ours over raw `node:http` (req/s: higher is better; p99: lower is better); over HTTP/2, ours over raw `node:http2` (req/s)."
const output = [...machineLines, "", table, "", legend, "", ...notes.map((n) => `- ${n}`), "", summary].join("\n")
process.stdout.write(output + "\n")

if (!options["no-record"] && sections.size === ALL_SECTIONS.length) {
  // Keep the sections other scripts record (npm run soak writes "## Soak").
  const previous = existsSync(`${here}RESULTS.md`) ? readFileSync(`${here}RESULTS.md`, "utf8") : ""
  const soak = previous.indexOf("\n## Soak")
  writeFileSync(
    `${here}RESULTS.md`,
    [
      "# Benchmark results",
      "",
      "The latest full `npm run bench` (bench/run.mjs writes this file; `--no-record` to skip).",
      "Every ratio is against a baseline measured in the same run, on the same machine.",
      "",
      output,
      "",
      soak === -1 ? "" : previous.slice(soak + 1)
    ].join("\n")
  )
  log("recorded in bench/RESULTS.md")
}
