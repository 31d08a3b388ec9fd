// Section 4, footprint (issue 13): what a serving process costs before it does anything.
// Each round starts a fresh makeServer hello-world process, a fresh raw node:http one
// (bench/footprint_server.mjs, forked) and a fresh `effect-wsgi serve` (the command as a
// user runs it), in an order that alternates, and measures, from the parent:
//   - the first answer: ms from fork() to the complete first response (node's own start-up
//     included, the same for both; the target is on ours alone);
//   - the RSS each holds after `requests` keep-alive requests (ours − raw is the footprint).
// Rows give the median of the rounds.
import { fork, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import http from "node:http"
import net from "node:net"
import { fileURLToPath } from "node:url"
import { messagesOf, stopForked } from "./workers.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))
const RSS_TARGET_MIB = 30
const FIRST_TARGET_MS = 300
const CONNECTIONS = 8
const MiB = 1024 * 1024

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const range = (xs, digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`

/** One GET; resolves with the status once the whole body is read. */
const get = (port, agent) =>
  new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path: "/", agent }, (response) => {
      const chunks = []
      response.on("data", (chunk) => chunks.push(chunk))
      response.on("end", () => {
        const body = Buffer.concat(chunks).toString("latin1")
        if (response.statusCode !== 200 || body !== "Hello, world!") {
          reject(new Error(`footprint: answer ${response.statusCode} ${JSON.stringify(body.slice(0, 80))}`))
        } else resolve()
      })
      response.on("error", reject)
    })
    request.on("error", reject)
  })

/** `count` more keep-alive requests over CONNECTIONS connections. */
const load = async (port, count) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  let sent = 0
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (sent < count) {
      sent++
      await get(port, agent)
    }
  }))
  agent.destroy()
}

/** Start one server process, time its first answer, load it, read its memory, stop it. */
const measure = async (kind, requests) => {
  const started = performance.now()
  const child = fork(`${here}footprint_server.mjs`, [kind], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = messagesOf(child, `footprint server (${kind})`)
  try {
    const { port, listeningMs } = await next()
    await get(port, false)
    const firstMs = performance.now() - started
    await load(port, requests - 1)
    child.send({ cmd: "report" })
    const memory = await next()
    return { firstMs, listeningMs, ...memory }
  } finally {
    await stopForked(child)
  }
}

/** A port nothing listens on now (the CLI is told where to listen). */
const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })

/** A process's resident set, from /proc (the CLI has no channel to report it). */
const rssOf = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024

/**
 * `effect-wsgi serve bench/apps.mjs:hello`, as a user starts it: the first answer is timed
 * from spawn() by asking every 2 ms until one comes; RSS is read from /proc after the load.
 */
const measureServe = async (requests) => {
  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, [`${here}../dist/cli.js`, "serve", `${here}apps.mjs:hello`, "--bind", `127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"]
  })
  let stderr = ""
  child.stderr.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise((resolve) => child.once("exit", resolve))
  try {
    for (;;) {
      const answered = await get(port, false).then(() => true, () => false)
      if (answered) break
      if (child.exitCode !== null || performance.now() - started > 10_000) throw new Error(`footprint: effect-wsgi serve did not answer: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const firstMs = performance.now() - started
    await load(port, requests - 1)
    return { firstMs, rss: rssOf(child.pid) }
  } finally {
    child.kill("SIGTERM")
    await exited
  }
}

export const runFootprint = async ({ rounds, requests, log }) => {
  const ours = []
  const raw = []
  const serve = []
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so neither always meets a warmer (or busier) machine.
    for (const kind of round % 2 ? ["raw", "makeServer", "serve"] : ["serve", "makeServer", "raw"]) {
      const result = kind === "serve" ? await measureServe(requests) : await measure(kind, requests)
      ;(kind === "raw" ? raw : kind === "serve" ? serve : ours).push(result)
    }
    const o = ours.at(-1)
    const r = raw.at(-1)
    const c = serve.at(-1)
    log(`footprint: round ${round + 1}/${rounds}: first answer ${o.firstMs.toFixed(0)} ms (serve ${c.firstMs.toFixed(0)} ms, raw ${r.firstMs.toFixed(0)} ms), RSS ${(o.rss / MiB).toFixed(1)} MiB (serve ${(c.rss / MiB).toFixed(1)} MiB, raw ${(r.rss / MiB).toFixed(1)} MiB)`)
  }
  const serveExtra = serve.map((c, i) => (c.rss - raw[i].rss) / MiB)
  const serveFirst = median(serve.map((x) => x.firstMs))
  const mib = (results, key) => results.map((x) => x[key] / MiB)
  const extra = ours.map((o, i) => (o.rss - raw[i].rss) / MiB)
  const extraGc = ours.map((o, i) => (o.rssAfterGc - raw[i].rssAfterGc) / MiB)
  const oursRss = median(mib(ours, "rss"))
  const rawRss = median(mib(raw, "rss"))
  const footprint = median(extra)
  const oursFirst = median(ours.map((x) => x.firstMs))
  const rawFirst = median(raw.map((x) => x.firstMs))
  return {
    rows: [
      {
        section: "Footprint",
        name: `\`makeServer\` process RSS over raw node:http after ${requests} requests`,
        result: `+${footprint.toFixed(1)} MiB (${oursRss.toFixed(1)} MiB)`,
        baseline: `raw node:http: ${rawRss.toFixed(1)} MiB`,
        ratio: `${(oursRss / rawRss).toFixed(2)}×`,
        target: `≤ +${RSS_TARGET_MIB} MiB`,
        pass: footprint <= RSS_TARGET_MIB
      },
      {
        section: "Footprint",
        name: "`makeServer` first answer after start (ms)",
        result: `${oursFirst.toFixed(0)} ms`,
        baseline: `raw node:http: ${rawFirst.toFixed(0)} ms`,
        ratio: `${(oursFirst / rawFirst).toFixed(2)}×`,
        target: `≤ ${FIRST_TARGET_MS} ms`,
        pass: oursFirst <= FIRST_TARGET_MS
      },
      {
        section: "Footprint",
        name: `\`effect-wsgi serve app.mjs:hello\` process RSS over raw node:http after ${requests} requests`,
        result: `+${median(serveExtra).toFixed(1)} MiB (${median(mib(serve, "rss")).toFixed(1)} MiB)`,
        baseline: `raw node:http: ${rawRss.toFixed(1)} MiB`,
        ratio: `${(median(mib(serve, "rss")) / rawRss).toFixed(2)}×`,
        target: `≤ +${RSS_TARGET_MIB} MiB`,
        pass: median(serveExtra) <= RSS_TARGET_MIB
      },
      {
        section: "Footprint",
        name: "`effect-wsgi serve app.mjs:hello` first answer after start (ms)",
        result: `${serveFirst.toFixed(0)} ms`,
        baseline: `raw node:http: ${rawFirst.toFixed(0)} ms`,
        ratio: `${(serveFirst / rawFirst).toFixed(2)}×`,
        target: `≤ ${FIRST_TARGET_MS} ms`,
        pass: serveFirst <= FIRST_TARGET_MS
      }
    ],
    notes: [
      `Footprint: medians of ${rounds} rounds, each a fresh makeServer hello-world process and a fresh raw node:http one (bench/footprint_server.mjs, forked with IPC, --expose-gc), in alternating order. RSS is read after ${requests} keep-alive requests over ${CONNECTIONS} connections, as the process holds it (over raw: ${range(extra, 1)} MiB); after a forced full GC it is +${median(extraGc).toFixed(1)} MiB over raw, and the V8 heap ${median(mib(ours, "heapAfterGc")).toFixed(1)} MiB (raw ${median(mib(raw, "heapAfterGc")).toFixed(1)} MiB). The first answer is timed in the parent from fork() to the end of the first response (ours ${range(ours.map((x) => x.firstMs))} ms, raw ${range(raw.map((x) => x.firstMs))} ms); node's own start-up is in both: the raw process listens ${median(raw.map((x) => x.listeningMs)).toFixed(0)} ms after its start, ours ${median(ours.map((x) => x.listeningMs)).toFixed(0)} ms. makeServer imports the package as a library user does (dist/index.js, our code in one module, and Effect's modules one file each); \`effect-wsgi serve\` runs the command's bundle (scripts/bundle.mjs: the command and Effect in one module, node's ESM loader no longer visits ~250 files), spawned as a user starts it, its first answer asked for every 2 ms (${range(serve.map((x) => x.firstMs))} ms), its RSS read from /proc after the same load (over raw: ${range(serveExtra, 1)} MiB; no forced GC: it has no channel to ask)`
    ]
  }
}
