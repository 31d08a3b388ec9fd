// Section 3, memory: a 1 GiB streamed response (a generator of 64 KiB chunks) from
// makeServer to a client that reads slowly (a node:net socket, paused to hold a fixed
// rate); the server process samples its RSS, and the peak growth must stay ≤ 64 MiB.
// MEMFLAGS="--max-semi-space-size=1" (node flags for the server) shows how much of the
// peak is chunks already sent but not yet collected by V8.
import { fork } from "node:child_process"
import net from "node:net"
import { fileURLToPath } from "node:url"
import { messagesOf, stopForked } from "./workers.mjs"
import { loadDist } from "./dist.mjs"
import { STREAM_CHUNK as CHUNK, STREAM_CHUNKS as CHUNKS, streamFill as fillByte } from "./apps.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))
const TOTAL = CHUNK * CHUNKS
const TARGET_MIB = 64
const MiB = 1024 * 1024

/** Read the whole response at `rateMiBps`, checking the status, length and every chunk's fill. */
const slowRead = (port, rateMiBps, log) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    let head = Buffer.alloc(0)
    let headerDone = false
    let bodyBytes = 0
    let pauses = 0
    let started = 0
    let lastLog = 0
    const fail = (error) => {
      socket.destroy()
      reject(error)
    }
    const deadline = setTimeout(() => fail(new Error(`memory: the response did not end within ${(TOTAL / MiB / rateMiBps + 60).toFixed(0)} s`)), (TOTAL / MiB / rateMiBps + 60) * 1000)
    const body = (chunk) => {
      // Check the fill byte at the start and the end of every 64 KiB block this chunk touches.
      const from = bodyBytes
      const to = bodyBytes + chunk.length
      if (to > TOTAL) return fail(new Error(`memory: more than ${TOTAL} body bytes`))
      for (let block = Math.floor(from / CHUNK); block * CHUNK < to; block++) {
        for (const offset of [block * CHUNK, block * CHUNK + CHUNK - 1]) {
          if (offset >= from && offset < to && chunk[offset - from] !== fillByte(block)) {
            return fail(new Error(`memory: wrong byte at offset ${offset}`))
          }
        }
      }
      bodyBytes = to
      // Hold the rate: pause until the clock catches up with what was read.
      const ahead = (bodyBytes / (rateMiBps * MiB)) * 1000 - (Date.now() - started)
      if (ahead > 5) {
        pauses++
        socket.pause()
        setTimeout(() => socket.resume(), ahead)
      }
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now()
        log(`memory: ${(bodyBytes / MiB).toFixed(0)} MiB read`)
      }
    }
    socket.on("connect", () => {
      started = Date.now()
      lastLog = started
      socket.write("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    })
    socket.on("data", (chunk) => {
      if (headerDone) return body(chunk)
      head = Buffer.concat([head, chunk])
      const end = head.indexOf("\r\n\r\n")
      if (end < 0) return
      const lines = head.subarray(0, end).toString("latin1").split("\r\n")
      if (!/^HTTP\/1\.[01] 200 /.test(lines[0])) return fail(new Error(`memory: status line ${JSON.stringify(lines[0])}`))
      const length = lines.find((l) => /^content-length:/i.test(l))?.split(":")[1].trim()
      if (length !== String(TOTAL)) return fail(new Error(`memory: Content-Length ${length}, expected ${TOTAL}`))
      headerDone = true
      const rest = head.subarray(end + 4)
      head = null
      if (rest.length > 0) body(rest)
    })
    socket.on("end", () => {
      clearTimeout(deadline)
      if (bodyBytes !== TOTAL) return reject(new Error(`memory: the body ended after ${bodyBytes} of ${TOTAL} bytes`))
      resolve({ seconds: (Date.now() - started) / 1000, pauses })
    })
    socket.on("error", (error) => {
      clearTimeout(deadline)
      reject(error)
    })
  })

export const runMemory = async ({ rateMiBps, log }) => {
  const { makeServer } = await loadDist()
  if (typeof makeServer !== "function") {
    log("memory: skipped: makeServer not built yet")
    return {
      rows: [{ section: "Memory", name: "1 GiB to a slow reader: `makeServer` peak RSS growth", result: "skipped: makeServer not built yet", baseline: "", ratio: "", target: `≤ ${TARGET_MIB} MiB`, pass: null }],
      notes: []
    }
  }
  const child = fork(`${here}memory_server.mjs`, [], { execArgv: ["--expose-gc", ...(process.env.MEMFLAGS ? process.env.MEMFLAGS.split(" ") : [])], stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = messagesOf(child, `memory server`)
  try {
    const { port } = await next()
    log(`memory: reading 1 GiB at ${rateMiBps} MiB/s`)
    const read = await slowRead(port, rateMiBps, log)
    child.send({ cmd: "report" })
    const report = await next()
    const growth = (report.peak - report.baseline) / MiB
    const maxGrowth = (report.maxRss - report.baseline) / MiB
    log(`memory: ${read.seconds.toFixed(1)} s, peak RSS growth ${growth.toFixed(1)} MiB (${report.samples} samples; getrusage max RSS − baseline ${maxGrowth.toFixed(1)} MiB)`)
    return {
      rows: [{
        section: "Memory",
        name: "1 GiB (16 384 × 64 KiB from a generator) to a slow reader: `makeServer` peak RSS growth",
        result: `${growth.toFixed(1)} MiB`,
        baseline: `RSS when the app was called: ${(report.baseline / MiB).toFixed(0)} MiB`,
        ratio: "",
        target: `≤ ${TARGET_MIB} MiB`,
        pass: growth <= TARGET_MIB
      }],
      notes: [
        `Memory: the client read the 1 GiB body at ${rateMiBps} MiB/s (${read.seconds.toFixed(1)} s, paused ${read.pauses} times) and checked the status, Content-Length, length and every chunk's fill byte; the server sampled its RSS ${report.samples} times (every 10 ms and at every chunk); getrusage's max RSS − the baseline says ${maxGrowth.toFixed(1)} MiB; ArrayBuffer memory peaked at ${(report.peakArrayBuffers / MiB).toFixed(1)} MiB, most of it chunks already sent and not yet collected by V8 (the server holds at most two: the one node:http is writing and the one held back)`
      ]
    }
  } finally {
    await stopForked(child)
  }
}
