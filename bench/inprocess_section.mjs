// Section 1, in process: effect-wsgi's core and class shim against CPython's
// wsgiref.handlers.SimpleHandler, the same three apps, rounds interleaved between the
// processes so all see the same machine load. Each variant runs in a process of its own,
// as CPython does: a server uses one of them, and the shapes one variant gives the core's
// call sites (its services, its state block) would otherwise slow the others down.
import { fileURLToPath } from "node:url"
import { startWorker } from "./workers.mjs"

const here = fileURLToPath(new URL(".", import.meta.url))

const CASES = [
  { name: "hello", label: "hello world", target: 1.5 },
  { name: "big", label: "64 KiB in 16 × 4 KiB", target: 1.2 },
  { name: "input", label: "read 16 KiB `wsgi.input`", target: 1.2 }
]
const VARIANTS = ["provide", "runtime", "runWith", "shim"]
// A Layer built per request is what not to do: measured for reference, without a target.
const UNTARGETED = new Set(["provide"])

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const runInProcess = async ({ warmup, rounds, requests, log }) => {
  const python = startWorker("python3", [`${here}python_baseline.py`, "--serve"])
  const node = Object.fromEntries(VARIANTS.map((v) => [v, startWorker(process.execPath, [`${here}inprocess.mjs`, "--serve"])]))
  try {
    const { python: pythonVersion } = await python.ask({ cmd: "hello" })
    const { labels } = await node[VARIANTS[0]].ask({ cmd: "hello" })
    const floor = await node[VARIANTS[0]].ask({ cmd: "floor" })
    const rows = []
    for (const c of CASES) {
      log(`in process: ${c.label}: warm-up (${warmup} requests each)`)
      await python.ask({ cmd: "round", case: c.name, requests: warmup })
      for (const v of VARIANTS) await node[v].ask({ cmd: "round", variant: v, case: c.name, requests: warmup })
      const times = { python: [], ...Object.fromEntries(VARIANTS.map((v) => [v, []])) }
      const ratios = Object.fromEntries(VARIANTS.map((v) => [v, []]))
      const modes = {}
      for (let r = 0; r < rounds; r++) {
        // Each variant's round right after a round of CPython's, so each pair sees the same
        // machine load; the variants' order rotates from round to round.
        for (let k = 0; k < VARIANTS.length; k++) {
          const v = VARIANTS[(k + r) % VARIANTS.length]
          const python_us = (await python.ask({ cmd: "round", case: c.name, requests })).us
          const answer = await node[v].ask({ cmd: "round", variant: v, case: c.name, requests })
          times.python.push(python_us)
          times[v].push(answer.us)
          ratios[v].push(python_us / answer.us)
          modes[v] = answer.how
        }
      }
      const baseline = median(times.python)
      log(`in process: ${c.label}: CPython ${baseline.toFixed(2)} µs; ` +
        VARIANTS.map((v) => `${v} ${median(times[v]).toFixed(2)} µs`).join(", "))
      for (const v of VARIANTS) {
        const us = median(times[v])
        const ratio = median(ratios[v])
        rows.push({
          section: "In process",
          name: `${c.label}: ${labels[v]} (${modes[v]})`,
          result: `${us.toFixed(2)} µs/req`,
          baseline: `${pythonVersion} \`SimpleHandler\`: ${baseline.toFixed(2)} µs/req`,
          ratio: `${ratio.toFixed(2)}×`,
          target: UNTARGETED.has(v) ? "" : `≥ ${c.target}×`,
          pass: UNTARGETED.has(v) ? undefined : ratio >= c.target
        })
      }
    }
    return {
      rows,
      notes: [
        `In process: ${rounds} rounds of ${requests} requests per row after ${warmup} warm-up requests, each of our rounds right after one of CPython's, each variant in a process of its own (as CPython's); µs per request is the median of the rounds' means, and the ratio the median of the paired rounds' ratios; each request is timed alone (its services, handler and run, up to the end of the one \`await\` a caller makes on an async run; the harness's own async plumbing is left out), and every response is checked afterwards, untimed (status line, Date, Content-Length, body bytes)`,
        "In process, sinks: CPython writes into `io.BytesIO` (a copy: ≈ 0.2 µs of its hello, ≈ 2.4 µs of its 64 KiB); the core (through `Output.fromSink`) and the class write into a `{ write }` stdout keeping the Buffers they are given, as a socket's write queue does (copying into fresh ArrayBuffers costs V8 ≈ 19 µs per 64 KiB, which would measure its allocator, not the handler)",
        `What an Effect run costs here, whatever it runs (same run): \`Effect.runSync\` of a three-step program ${floor.runSync.toFixed(2)} µs, \`Effect.runPromise\` of one that awaits a resolved Promise ${floor.runPromise.toFixed(2)} µs; every row runs \`run(app)\` as an Effect and pays it, and a \`Layer\` built per request costs far more (build the context or runtime once per request from plain values, as the servers do)`,
        "The machine is shared: with CPU pressure from other work, every number moves, Node's more than CPython's (its GC and JIT helper threads starve first on 2 cores); compare runs whose pressure at start is low"
      ]
    }
  } finally {
    await Promise.all([python.close(), ...Object.values(node).map((worker) => worker.close())])
  }
}
