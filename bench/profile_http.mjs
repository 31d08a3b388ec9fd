#!/usr/bin/env node
// Where a server's CPU goes per request under wrk, next to a reference server's: `perf`
// samples the whole process (kernel, node's C++, V8's runtime and the JIT code), which
// `node --cpu-prof` cannot: V8's sampler charges the C++ and kernel time between two JS
// frames to the last native one (it put twice raw's time per request in `writev` for
// makeServer, where `strace` counts the same one writev per request at the same cost).
// Not part of `npm run bench`; needs `perf` and `wrk`.
//
//   node bench/profile_http.mjs makeServer                 keep-alive, against rawPeer
//   node bench/profile_http.mjs --close makeServer raw     Connection: close, against raw
//   (--seconds N: how long each server is sampled, 6 by default)
//
// Prints µs per request by where the time went (DSO), then the symbols whose time differs
// most between the two servers. Read them side by side, not as absolute costs: they
// include perf's own overhead, and perf's samples need not add up to the CPU time the
// kernel charged the process (/proc, printed too): on this machine they fell 2–50% short,
// by different amounts from one server and run to the next. What holds is each server's
// split between kernel, node's C++, JIT code and libc, and which symbols grow.
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { startBenchServer } from "./workers.mjs"

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: { close: { type: "boolean", default: false }, seconds: { type: "string", default: "6" } }
})
const [kind, reference = "rawPeer"] = positionals
if (kind === undefined) {
  console.error("usage: node bench/profile_http.mjs [--close] [--seconds N] KIND [REFERENCE]")
  process.exit(2)
}
for (const tool of ["perf", "wrk"]) {
  if (spawnSync(tool, ["--version"]).error !== undefined) {
    console.error(`${tool} is not installed`)
    process.exit(2)
  }
}
const FREQUENCY = 999
const seconds = Number(options.seconds)
const header = options.close ? ["-H", "Connection: close"] : []
const script = fileURLToPath(new URL("http_server.mjs", import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), "profile-http-"))

// User + system time of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
const CLOCK_TICKS = 100
const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return Number(fields[11]) + Number(fields[12])
}

const run = (command, args) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.once("error", reject)
    child.once("exit", () => resolve(out))
  })

/** Sample one server under load: µs per request by DSO and by symbol. */
const profile = async (name) => {
  // V8 also writes a log with the symbol file: keep it in the scratch folder.
  const server = await startBenchServer(script, name, ["--perf-basic-prof", "--no-logfile-per-isolate", `--logfile=${join(scratch, `${name}.v8.log`)}`])
  try {
    const url = `http://127.0.0.1:${server.port}/`
    await run("wrk", ["-t1", "-c50", "-d1s", ...header, url])
    const data = join(scratch, `${name}.data`)
    const cpuBefore = cpuTicks(server.pid)
    const recording = run("perf", ["record", "-e", "cpu-clock", "-F", String(FREQUENCY), "-p", String(server.pid), "-o", data, "--", "sleep", String(seconds)])
    const load = await run("wrk", ["-t1", "-c50", `-d${seconds}s`, ...header, url])
    await recording
    const cpuTime = (cpuTicks(server.pid) - cpuBefore) * (1e6 / CLOCK_TICKS)
    const requests = Number(/(\d+) requests in/.exec(load)?.[1] ?? NaN)
    const report = (sort) => execFileSync("perf", ["report", "-i", data, "--sort", sort, "--stdio"], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] })
    const samplesOf = (text) => Number(/# Samples: (\d+)(K?)/.exec(text)?.[1] ?? 0) * (/# Samples: \d+K/.test(text) ? 1000 : 1)
    const perRequest = (text, pattern) => {
      const samples = samplesOf(text)
      const rows = new Map()
      for (const line of text.split("\n")) {
        const match = pattern.exec(line)
        if (match === null) continue
        const name = match[2].replace(/\[JIT\] tid \d+/, "[JIT]")
        rows.set(name, (rows.get(name) ?? 0) + (Number(match[1]) / 100) * samples * (1e6 / FREQUENCY) / requests)
      }
      return rows
    }
    return {
      requests,
      cpu: cpuTime / requests,
      dso: perRequest(report("dso"), /^\s+([\d.]+)%\s+(.+?)\s*$/),
      symbols: perRequest(report("sym"), /^\s+([\d.]+)%\s+\[.\]\s+(.+?)\s*$/)
    }
  } finally {
    await server.stop()
    // --perf-basic-prof's symbol file, which node leaves behind.
    rmSync(`/tmp/perf-${server.pid}.map`, { force: true })
  }
}

const ours = await profile(kind)
const theirs = await profile(reference)
const fixed = (value) => (value ?? 0).toFixed(2).padStart(8)
console.log(`${options.close ? "Connection: close" : "keep-alive"}, ${seconds} s each: ${kind} ${ours.requests} requests, ${reference} ${theirs.requests}`)
const sum = (rows) => [...rows.values()].reduce((a, b) => a + b, 0)
console.log(`CPU per request: ${kind} ${ours.cpu.toFixed(1)} µs, ${reference} ${theirs.cpu.toFixed(1)} µs by /proc; perf's samples add up to ${sum(ours.dso).toFixed(1)} and ${sum(theirs.dso).toFixed(1)} µs`)
console.log(`\nµs per request by where the time went\n${reference.padStart(8)} ${kind.padStart(8)}`)
for (const name of new Set([...theirs.dso.keys(), ...ours.dso.keys()])) {
  console.log(`${fixed(theirs.dso.get(name))} ${fixed(ours.dso.get(name))}  ${name.replace(/\[JIT\] tid \d+/, "[JIT]")}`)
}
console.log(`\nthe symbols whose time differs most (µs per request)\n${reference.padStart(8)} ${kind.padStart(8)}     diff`)
const names = [...new Set([...theirs.symbols.keys(), ...ours.symbols.keys()])]
const difference = (name) => (ours.symbols.get(name) ?? 0) - (theirs.symbols.get(name) ?? 0)
for (const name of names.sort((a, b) => Math.abs(difference(b)) - Math.abs(difference(a))).slice(0, 30)) {
  console.log(`${fixed(theirs.symbols.get(name))} ${fixed(ours.symbols.get(name))} ${difference(name) >= 0 ? "+" : ""}${difference(name).toFixed(2).padStart(7)}  ${name.slice(0, 100)}`)
}
rmSync(scratch, { recursive: true, force: true })
