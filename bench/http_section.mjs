// Section 2, over HTTP: makeServer and toNodeListener (in a plain node:http server)
// against raw node:http, hello world, keep-alive and `Connection: close`, load from wrk.
// Each server runs alone in a child process (bench/http_server.mjs); wrk runs in its own,
// and loads one server at a time.
import { spawn, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import net from "node:net"
import { fileURLToPath } from "node:url"
import { loadDist } from "./dist.mjs"
import { startBenchServer } from "./workers.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))
const HELLO = "Hello, world!"

// `reference` rows have no target. Measured in the same rounds, they show how near raw
// node:http a gateway can come at all: raw plus the read of the client's address every
// gateway needs (REMOTE_ADDR), and bench/bare_gateway.mjs, the least a gateway can do.
const KINDS = [
  { kind: "raw", label: "raw `node:http`", needs: null },
  { kind: "listener", label: "`toNodeListener(app)` in `node:http`", needs: "toNodeListener" },
  { kind: "makeServer", label: "`makeServer`", needs: "makeServer" },
  { kind: "rawPeer", label: "reference: raw `node:http` reading `socket.remoteAddress`", needs: null, reference: true },
  { kind: "bare", label: "reference: a bare hand-written gateway (bench/bare_gateway.mjs)", needs: null, reference: true },
  // Effect users: @effect/platform-node's HttpServer with a native route, and the app
  // through toHttpApp on the same kind of server (target: >= 0.8x the native route).
  { kind: "platform", label: "reference: `@effect/platform-node` HttpServer, a native `HttpServerResponse.text` route", needs: null, reference: true },
  { kind: "httpApp", label: "`toHttpApp(app)` in `@effect/platform-node`'s HttpServer", needs: "toHttpApp", against: "platform", rpsTarget: 0.8 }
]
const MODES = [
  // The targets of issue 13: keep-alive against raw node:http; Connection: close against
  // raw node:http that reads the peer's address (a gateway must, for REMOTE_ADDR).
  { mode: "keep-alive", headers: [], rpsTarget: 0.75, against: "raw" },
  { mode: "close", headers: ["Connection: close"], rpsTarget: 0.95, against: "rawPeer" }
]
const P99_TARGET = 1.5

export const wrkAvailable = () => spawnSync("wrk", ["--version"], { encoding: "utf8" }).error === undefined

/** Start one server child: its port, cpu() and stop(). */
const startServer = (kind) => startBenchServer(`${here}http_server.mjs`, kind)

/** Parse the HTTP/1.x responses in `bytes` (Content-Length or chunked bodies). */
const parseResponses = (bytes) => {
  const responses = []
  let at = 0
  while (at < bytes.length) {
    const end = bytes.indexOf("\r\n\r\n", at, "latin1")
    if (end < 0) break
    const head = bytes.subarray(at, end).toString("latin1").split("\r\n")
    const [, status] = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]) ?? []
    const headers = new Map(head.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]))
    let bodyStart = end + 4
    let body
    if (headers.has("content-length")) {
      const length = Number(headers.get("content-length"))
      if (bodyStart + length > bytes.length) break
      body = bytes.subarray(bodyStart, bodyStart + length)
      at = bodyStart + length
    } else if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const parts = []
      let p = bodyStart
      for (;;) {
        const lineEnd = bytes.indexOf("\r\n", p, "latin1")
        if (lineEnd < 0) return { responses, rest: bytes.subarray(at) }
        const size = parseInt(bytes.subarray(p, lineEnd).toString("latin1"), 16)
        if (size === 0) {
          const trailerEnd = bytes.indexOf("\r\n\r\n", lineEnd - 2, "latin1")
          if (trailerEnd < 0) return { responses, rest: bytes.subarray(at) }
          p = trailerEnd + 4
          break
        }
        parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
        p = lineEnd + 2 + size + 2
      }
      body = Buffer.concat(parts)
      at = p
    } else {
      body = bytes.subarray(bodyStart)
      at = bytes.length
    }
    responses.push({ status: Number(status), statusLine: head[0], headers, body: body.toString("latin1") })
  }
  return { responses, rest: bytes.subarray(at) }
}

/** Send `count` requests on one connection (keep-alive) or one (close); check the answers. */
const sampleCheck = (port, mode, count) =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    const chunks = []
    const request = mode === "close"
      ? "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
      : "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    const wanted = mode === "close" ? 1 : count
    let sent = 0
    let received = 0
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`${mode} sample check: no complete answer in 5 s`))
    }, 5000)
    const finish = (error, value) => {
      clearTimeout(timer)
      socket.destroy()
      error ? reject(error) : resolve(value)
    }
    const sizes = []
    const check = (all) => {
      const { responses } = parseResponses(all)
      for (const r of responses.slice(received)) {
        if (r.status !== 200 || r.body !== HELLO) {
          return finish(new Error(`${mode} sample check: got ${JSON.stringify(r.statusLine)} with body ${JSON.stringify(r.body.slice(0, 100))}`))
        }
      }
      received = responses.length
      return responses
    }
    socket.on("connect", () => {
      socket.write(request)
      sent = 1
    })
    socket.on("data", (chunk) => {
      chunks.push(chunk)
      const all = Buffer.concat(chunks)
      const responses = check(all)
      if (responses === undefined) return
      if (mode === "keep-alive") {
        if (received === sent && sent < wanted) {
          socket.write(request)
          sent++
        } else if (received === wanted) {
          // Every response of a keep-alive connection has the same size (fixed-width Date).
          let offset = 0
          for (let i = 0; i < responses.length; i++) {
            const next = i + 1 < responses.length ? all.indexOf("HTTP/1.", offset + 1, "latin1") : all.length
            sizes.push(next - offset)
            offset = next
          }
          finish(null, { size: sizes[sizes.length - 1], headers: responses[0].headers })
        }
      }
    })
    socket.on("end", () => {
      if (mode !== "close") return finish(new Error(`keep-alive sample check: the server closed the connection after ${received} responses`))
      const all = Buffer.concat(chunks)
      if (received !== 1) return finish(new Error(`close sample check: ${received} responses`))
      finish(null, { size: all.length, headers: parseResponses(all).responses[0].headers })
    })
    socket.on("error", (error) => finish(error))
  })

const fetchCheck = async (port) => {
  const response = await fetch(`http://127.0.0.1:${port}/`)
  const text = await response.text()
  if (response.status !== 200 || text !== HELLO) throw new Error(`fetch sample check: ${response.status} ${JSON.stringify(text.slice(0, 100))}`)
}

/** Run wrk; resolves with the numbers of its done() callback (bench/wrk_report.lua). */
const wrk = (port, { seconds, connections, headers, report }) =>
  new Promise((resolve, reject) => {
    const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "5s"]
    for (const h of headers) args.push("-H", h)
    if (report) args.push("--latency", "-s", `${here}wrk_report.lua`)
    args.push(`http://127.0.0.1:${port}/`)
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out.slice(-500)}`))
      if (!report) return resolve(null)
      const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "))
      if (line === undefined) return reject(new Error(`wrk printed no report: ${out.slice(-500)}`))
      resolve({ ...JSON.parse(line.slice(9)), text: out })
    })
  })

const ms = (us) => `${(us / 1000).toFixed(2)} ms`

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Ours against the baseline, round by round: run i of each was taken in the same round,
 * seconds apart, so a slow patch of a shared machine moves both. The median and range of
 * those ratios.
 */
const pairedRatio = (runs, baseRuns, value) => {
  const ratios = runs.map((run, i) => value(run) / value(baseRuns[i]))
  return { median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) }
}

/** The machine's CPU time counters (all CPUs), from /proc/stat; null where there is none. */
const cpuTimes = () => {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number)
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 }
  } catch {
    return null
  }
}

/** The share of CPU time the hypervisor gave to others between two readings. */
const stealShare = (before, after) =>
  before === null || after === null || after.total === before.total ? null : (after.steal - before.steal) / (after.total - before.total)

export const runHttp = async ({ duration, reps, warmup, connections, log }) => {
  if (!wrkAvailable()) {
    const message = "skipped: `wrk` is missing; install it with `apt-get install -y wrk` (Debian) and run the bench again"
    log(`http: ${message}`)
    return { rows: [{ section: "Over HTTP", name: "hello world, all servers", result: message, baseline: "", ratio: "", target: "", pass: null }], notes: [] }
  }
  const lib = await loadDist()
  const rows = []
  const notes = [
    `HTTP: wrk -t1 -c${connections}; per mode, each server in its own child process is warmed up by two wrk runs of ${warmup} s (so its connection-close paths are compiled before anything is counted too), then ${reps} rounds of ${duration} s each, one server loaded at a time in an order that rotates; ` +
      "a ratio is the median over the rounds of the ratio within each round (ours against its baseline's run of the same round, seconds apart, as the in-process rows pair their rounds; p99 against raw `node:http`, except `toHttpApp`'s, against the native route on the same Effect server, as its req/s), with the rounds' lowest and highest in brackets; req/s in the result column is over all rounds, p99 the median of the rounds' p99; " +
      "every server answered a sample check first (fetch, and raw HTTP/1.1 requests: status 200, body \"Hello, world!\"), wrk saw no socket errors and no non-2xx answers, and the bytes wrk read match its request count times the checked response size; “server CPU” is the server process’s user + system time during the measured run divided by the requests wrk completed",
    "HTTP reference rows (no target), served and measured in the same rounds as ours: raw `node:http` reading `socket.remoteAddress` (Node gets no address from accept(): reading it is a getpeername call per connection, which REMOTE_ADDR needs), and bench/bare_gateway.mjs, the least a PEP 3333 gateway on node:http does for this request (CPython's environ keys, REMOTE_ADDR included, start_response, the app, one writeHead and one end; no request checks, no error handling, no bodies). A gateway does all they do and more, so it cannot come nearer raw than they do, within the noise their brackets show"
  ]
  for (const { mode, headers, rpsTarget, against } of MODES) {
    const results = {}
    const servers = {}
    try {
      // Start every server of this mode (each alone in its process), check it, warm it up.
      for (const { kind, label, needs } of KINDS) {
        if (needs !== null && typeof lib[needs] !== "function") {
          log(`http ${mode}: ${kind}: skipped: ${needs} not built yet`)
          results[kind] = { skipped: `skipped: ${needs} not built yet` }
          continue
        }
        const server = (servers[kind] = await startServer(kind))
        await fetchCheck(server.port)
        server.sample = await sampleCheck(server.port, mode, 5)
        // Two runs: the first one's connections closing is itself code to warm up.
        await wrk(server.port, { seconds: warmup, connections, headers, report: false })
        await wrk(server.port, { seconds: warmup, connections, headers, report: false })
        results[kind] = { label, runs: [], cpu: 0, problems: [] }
      }
      // Then load one server at a time, in rounds whose order rotates, so a slow patch
      // of the machine does not land on one server only.
      const live = KINDS.map((k) => k.kind).filter((kind) => servers[kind] !== undefined)
      const stealBefore = cpuTimes()
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < live.length; k++) {
          const kind = live[(k + rep) % live.length]
          const server = servers[kind]
          const r = results[kind]
          const cpuBefore = await server.cpu()
          const run = await wrk(server.port, { seconds: duration, connections, headers, report: true })
          r.cpu += (await server.cpu()) - cpuBefore
          r.runs.push(run)
          if (run.status > 0) r.problems.push(`${run.status} non-2xx/3xx answers`)
          if (run.connect + run.read + run.write + run.timeout > 0) {
            r.problems.push(`socket errors: connect ${run.connect}, read ${run.read}, write ${run.write}, timeout ${run.timeout}`)
          }
          const perResponse = run.bytes / run.requests
          if (Math.abs(perResponse - server.sample.size) > 0.02 * server.sample.size) {
            r.problems.push(`wrk read ${perResponse.toFixed(1)} bytes per response, the checked response has ${server.sample.size}`)
          }
          log(`http ${mode}: ${kind}: round ${rep + 1}: ${(run.requests / (run.duration_us / 1e6)).toFixed(0)} req/s, p99 ${ms(run.p99_us)}`)
        }
      }
      const steal = stealShare(stealBefore, cpuTimes())
      if (steal !== null) notes.push(`${mode}: the hypervisor took ${(steal * 100).toFixed(1)}% of the machine's CPU time during the rounds (steal in /proc/stat)`)
      for (const kind of live) {
        await sampleCheck(servers[kind].port, mode, 5)
        const r = results[kind]
        const requests = r.runs.reduce((sum, run) => sum + run.requests, 0)
        r.rps = requests / (r.runs.reduce((sum, run) => sum + run.duration_us, 0) / 1e6)
        r.p99 = median(r.runs.map((run) => run.p99_us))
        r.cpu /= requests
        log(`http ${mode}: ${kind}: ${r.rps.toFixed(0)} req/s, p99 ${ms(r.p99)}, server CPU ${r.cpu.toFixed(1)} µs/req${r.problems.length ? ` — ${r.problems.join("; ")}` : ""}`)
      }
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()))
    }
    const raw = results.raw
    for (const { kind, label, reference, against: kindAgainst, rpsTarget: kindTarget } of KINDS) {
      const r = results[kind]
      if (kind === "raw") {
        rows.push({
          section: "Over HTTP",
          name: `hello, ${mode}: ${label} (baseline)`,
          result: `${r.rps.toFixed(0)} req/s, p99 ${ms(r.p99)}, server CPU ${r.cpu.toFixed(1)} µs/req`,
          baseline: "",
          ratio: "1×",
          target: "",
          pass: r.problems.length === 0 ? null : false
        })
        if (r.problems.length) notes.push(`raw ${mode}: ${r.problems.join("; ")}`)
        continue
      }
      if (r.skipped !== undefined) {
        rows.push({ section: "Over HTTP", name: `hello, ${mode}: ${label}`, result: r.skipped, baseline: "", ratio: "", target: "", pass: null })
        continue
      }
      const ok = r.problems.length === 0
      // Ours against this mode's target baseline; the reference rows against raw.
      const target = kindTarget ?? rpsTarget
      const base = reference ? raw : results[kindAgainst ?? against] ?? raw
      const baseLabel = base === raw ? "raw `node:http`" : KINDS.find((k) => results[k.kind] === base)?.label ?? "?"
      const rps = pairedRatio(r.runs, base.runs, (run) => run.requests / run.duration_us)
      // p99 against raw node:http (issue 5's target), except where the row's own baseline is
      // another server: toHttpApp's latency is the Effect platform's first, so it is held
      // against the native route on the same server, as its req/s is.
      const latencyBase = kindAgainst !== undefined ? base : raw
      const p99 = pairedRatio(r.runs, latencyBase.runs, (run) => run.p99_us)
      if (!ok) notes.push(`${kind} ${mode}: ${r.problems.join("; ")} (counted as short)`)
      // A reference row has no target: its p99 goes in the result column, not a row of its own.
      rows.push({
        section: "Over HTTP",
        name: `hello, ${mode}: ${label}, req/s`,
        result: `${r.rps.toFixed(0)} req/s${reference ? `, p99 ${ms(r.p99)}` : ""} (server CPU ${r.cpu.toFixed(1)} µs/req)`,
        baseline: `${baseLabel}: ${base.rps.toFixed(0)} req/s (${base.cpu.toFixed(1)} µs/req)`,
        ratio: `${rps.median.toFixed(2)}× (${rps.low.toFixed(2)}–${rps.high.toFixed(2)})`,
        target: reference ? "" : `≥ ${target}×`,
        pass: reference ? (ok ? null : false) : ok && rps.median >= target
      })
      if (reference) continue
      rows.push({
        section: "Over HTTP",
        name: `hello, ${mode}: ${label}, p99 latency`,
        result: ms(r.p99),
        baseline: `${latencyBase === raw ? "raw `node:http`" : baseLabel}: ${ms(latencyBase.p99)}`,
        ratio: `${p99.median.toFixed(2)}× (${p99.low.toFixed(2)}–${p99.high.toFixed(2)})`,
        target: `≤ ${P99_TARGET}×`,
        pass: ok && p99.median <= P99_TARGET
      })
    }
  }
  return { rows, notes }
}
