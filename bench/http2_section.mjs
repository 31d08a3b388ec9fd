// Section "http2": makeServer({ h2c: true }) against a raw node:http2 server, hello world
// over cleartext HTTP/2 (prior knowledge), load from h2load (Debian's nghttp2-client).
// Each server runs alone in a child process (bench/http2_server.mjs); h2load runs in its
// own, loads one server at a time, in rounds whose order rotates, as the HTTP section does.
import { spawn, spawnSync } from "node:child_process"
import http2 from "node:http2"
import { fileURLToPath } from "node:url"
import { loadDist } from "./dist.mjs"
import { startBenchServer } from "./workers.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))
const HELLO = "Hello, world!"
/** h2load's load: clients (connections) and streams in flight on each. */
const CLIENTS = 10
const STREAMS = 10
const TARGET = 0.8

const KINDS = [
  { kind: "raw", label: "raw `node:http2` (compatibility API: `res.writeHead`, `res.end`)", needs: null },
  { kind: "makeServer", label: "`makeServer({ h2c: true })`", needs: "makeServer" },
  { kind: "stream", label: "reference: `node:http2` core API (`stream.respond`, `stream.end`)", needs: null, reference: true }
]

export const h2loadAvailable = () => spawnSync("h2load", ["--version"], { encoding: "utf8" }).error === undefined

/** Start one server child: its port, cpu() and stop(). */
const startServer = (kind) => startBenchServer(`${here}http2_server.mjs`, kind)

/** Five requests on one session: each 200 with "Hello, world!". */
const sampleCheck = async (port) => {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    for (let i = 0; i < 5; i++) {
      const { status, body } = await new Promise((resolve, reject) => {
        const stream = session.request({ ":path": "/" })
        let status = 0
        let body = ""
        stream.on("response", (headers) => (status = headers[":status"]))
        stream.setEncoding("utf8")
        stream.on("data", (chunk) => (body += chunk))
        stream.on("end", () => resolve({ status, body }))
        stream.on("error", reject)
      })
      if (status !== 200 || body !== HELLO) throw new Error(`h2 sample check: ${status} ${JSON.stringify(body.slice(0, 100))}`)
    }
  } finally {
    session.close()
  }
}

/** Run h2load for `seconds` (after `warmup` s); the numbers of its summary. */
const h2load = (port, { seconds, warmup }) =>
  new Promise((resolve, reject) => {
    const args = ["-t1", `-c${CLIENTS}`, `-m${STREAMS}`, `-D${seconds}`, `--warm-up-time=${warmup}`, `http://127.0.0.1:${port}/`]
    const child = spawn("h2load", args, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`h2load exited ${code}: ${out.slice(-500)}`))
      const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)
      const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out)
      const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)
      const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)
      if (rps === null || requests === null || codes === null) return reject(new Error(`h2load printed no summary: ${out.slice(-500)}`))
      resolve({
        rps: Number(rps[1]),
        done: Number(requests[3]),
        succeeded: Number(requests[4]),
        failed: Number(requests[5]) + Number(requests[6]) + Number(requests[7]),
        non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
        mean: mean?.[1] ?? "?"
      })
    })
  })

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const runHttp2 = async ({ duration, reps, warmup, log }) => {
  if (!h2loadAvailable()) {
    const message = "skipped: `h2load` is missing; install it with `apt-get install -y nghttp2-client` (Debian) and run the bench again"
    log(`http2: ${message}`)
    return { rows: [{ section: "HTTP/2", name: "hello world, h2c", result: message, baseline: "", ratio: "", target: "", pass: null }], notes: [] }
  }
  const lib = await loadDist()
  const version = spawnSync("h2load", ["--version"], { encoding: "utf8" }).stdout.trim()
  const results = {}
  const servers = {}
  const rows = []
  const notes = [
    `HTTP/2: ${version}, \`h2load -t1 -c${CLIENTS} -m${STREAMS} -D${duration} --warm-up-time=${warmup}\` over h2c (prior knowledge); each server in its own child process, all offering 100 concurrent streams, answered a sample check first (node's http2 client: 200, "Hello, world!") and is warmed up by one h2load run; then ${reps} rounds, one server loaded at a time in an order that rotates; a ratio is the median over the rounds of the ratio within each round, the rounds' lowest and highest in brackets; “server CPU” is the server process's user + system time during its measured runs divided by the requests h2load completed`
  ]
  try {
    for (const { kind, needs } of KINDS) {
      if (needs !== null && typeof lib[needs] !== "function") {
        results[kind] = { skipped: `skipped: ${needs} not built yet` }
        continue
      }
      const server = (servers[kind] = await startServer(kind))
      await sampleCheck(server.port)
      await h2load(server.port, { seconds: warmup, warmup: 0 })
      results[kind] = { runs: [], cpu: 0, problems: [] }
    }
    const live = KINDS.map((k) => k.kind).filter((kind) => servers[kind] !== undefined)
    for (let rep = 0; rep < reps; rep++) {
      for (let k = 0; k < live.length; k++) {
        const kind = live[(k + rep) % live.length]
        const r = results[kind]
        const cpuBefore = await servers[kind].cpu()
        const run = await h2load(servers[kind].port, { seconds: duration, warmup })
        r.cpu += (await servers[kind].cpu()) - cpuBefore
        r.runs.push(run)
        if (run.failed > 0) r.problems.push(`${run.failed} failed/errored/timed-out requests`)
        if (run.non2xx > 0) r.problems.push(`${run.non2xx} non-2xx answers`)
        log(`http2: ${kind}: round ${rep + 1}: ${run.rps.toFixed(0)} req/s, mean ${run.mean}`)
      }
    }
    for (const kind of live) {
      await sampleCheck(servers[kind].port)
      const r = results[kind]
      r.rps = median(r.runs.map((run) => run.rps))
      r.cpu /= r.runs.reduce((sum, run) => sum + run.done, 0)
    }
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()))
  }
  const raw = results.raw
  for (const { kind, label, reference } of KINDS) {
    const r = results[kind]
    if (r.skipped !== undefined) {
      rows.push({ section: "HTTP/2", name: `hello, h2c: ${label}`, result: r.skipped, baseline: "", ratio: "", target: "", pass: null })
      continue
    }
    const ok = r.problems.length === 0
    if (!ok) notes.push(`http2 ${kind}: ${[...new Set(r.problems)].join("; ")}`)
    if (kind === "raw") {
      rows.push({ section: "HTTP/2", name: `hello, h2c: ${label} (baseline)`, result: `${r.rps.toFixed(0)} req/s (server CPU ${r.cpu.toFixed(1)} µs/req)`, baseline: "", ratio: "1×", target: "", pass: ok ? null : false })
      continue
    }
    const ratios = r.runs.map((run, i) => run.rps / raw.runs[i].rps)
    const ratio = median(ratios)
    rows.push({
      section: "HTTP/2",
      name: `hello, h2c: ${label}, req/s`,
      result: `${r.rps.toFixed(0)} req/s (server CPU ${r.cpu.toFixed(1)} µs/req)`,
      baseline: `raw \`node:http2\`: ${raw.rps.toFixed(0)} req/s (${raw.cpu.toFixed(1)} µs/req)`,
      ratio: `${ratio.toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
      target: reference ? "" : `≥ ${TARGET}×`,
      pass: reference ? (ok ? null : false) : ok && ratio >= TARGET
    })
  }
  return { rows, notes }
}
