// Section 4, footprint (issue 13): what a serving process costs before it does anything.
// Each round forks a fresh makeServer hello-world process and a fresh raw node:http one
// (bench/footprint_server.mjs, in alternating order) and measures, from the parent:
//   - the first answer: ms from fork() to the complete first response (node's own start-up
//     included, the same for both; the target is on ours alone);
//   - the RSS each holds after `requests` keep-alive requests (ours − raw is the footprint).
// Rows give the median of the rounds.
import { fork } from "node:child_process"
import http from "node:http"
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

/** Start one server process, time its first answer, load it, read its memory, stop it. */
const measure = async (kind, requests) => {
  const started = performance.now()
  const child = fork(`${here}footprint_server.mjs`, [kind], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = messagesOf(child, `footprint server (${kind})`)
  try {
    const { port, listeningMs } = await next()
    await get(port, false)
    const firstMs = performance.now() - started
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
    let sent = 1
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (sent < requests) {
        sent++
        await get(port, agent)
      }
    }))
    agent.destroy()
    child.send({ cmd: "report" })
    const memory = await next()
    return { firstMs, listeningMs, ...memory }
  } finally {
    await stopForked(child)
  }
}

export const runFootprint = async ({ rounds, requests, log }) => {
  const ours = []
  const raw = []
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so neither always meets a warmer (or busier) machine.
    for (const kind of round % 2 ? ["raw", "makeServer"] : ["makeServer", "raw"]) {
      const result = await measure(kind, requests)
      ;(kind === "raw" ? raw : ours).push(result)
    }
    const o = ours.at(-1)
    const r = raw.at(-1)
    log(`footprint: round ${round + 1}/${rounds}: first answer ${o.firstMs.toFixed(0)} ms (raw ${r.firstMs.toFixed(0)} ms), RSS ${(o.rss / MiB).toFixed(1)} MiB (raw ${(r.rss / MiB).toFixed(1)} MiB)`)
  }
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
      }
    ],
    notes: [
      `Footprint: medians of ${rounds} rounds, each a fresh makeServer hello-world process and a fresh raw node:http one (bench/footprint_server.mjs, forked with IPC, --expose-gc), in alternating order. RSS is read after ${requests} keep-alive requests over ${CONNECTIONS} connections, as the process holds it (over raw: ${range(extra, 1)} MiB); after a forced full GC it is +${median(extraGc).toFixed(1)} MiB over raw, and the V8 heap ${median(mib(ours, "heapAfterGc")).toFixed(1)} MiB (raw ${median(mib(raw, "heapAfterGc")).toFixed(1)} MiB). The first answer is timed in the parent from fork() to the end of the first response (ours ${range(ours.map((x) => x.firstMs))} ms, raw ${range(raw.map((x) => x.firstMs))} ms); node's own start-up is in both: the raw process listens ${median(raw.map((x) => x.listeningMs)).toFixed(0)} ms after its start, ours ${median(ours.map((x) => x.listeningMs)).toFixed(0)} ms`
    ]
  }
}
