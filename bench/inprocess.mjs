#!/usr/bin/env node
// In-process timings of effect-wsgi: the Effect core (three ways of running it) and the
// SimpleHandler class shim, on the three apps of bench/apps.mjs.
//
// Every request gets fresh services (output, input, environ source) and is timed on its
// own (performance.now() around building its services and running it, up to the end of
// the one `await` a caller makes on an async run); its response is then checked (status line, Date, Content-Length, body bytes) outside the timed part,
// exactly as bench/python_baseline.py does for CPython. µs per request is the median of
// the rounds' means, after a warm-up.
//
//   node bench/inprocess.mjs                  human-readable
//   node bench/inprocess.mjs --json           one JSON object (what bench/run.mjs reads)
//   node bench/inprocess.mjs --only runtime:hello --requests 200000 --rounds 1
//                                              one variant, e.g. under `node --cpu-prof`
//   node bench/inprocess.mjs --serve          worker mode for bench/run.mjs: JSON commands
//                                              a line ({"cmd":"round","variant":"shim",
//                                              "case":"hello","requests":2000}) → {"us": …}
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { Effect, FiberRefs, Runtime } from "effect"
import { cases, verifyResponse } from "./apps.mjs"
import { loadDist } from "./dist.mjs"

const { EnvironSource, ErrorLog, Input, Output, SimpleHandler, context, layer, run, runWith } = await loadDist()

const { values: options } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    serve: { type: "boolean", default: false },
    only: { type: "string" },
    warmup: { type: "string", default: "5000" },
    rounds: { type: "string", default: "11" },
    requests: { type: "string", default: "2000" }
  }
})
const WARMUP = Number(options.warmup)
const ROUNDS = Number(options.rounds)
const REQUESTS = Number(options.requests)

// One error log for every core request, one wsgi.errors stream for every shim request
// (CPython's baseline shares one StringIO the same way); both must stay empty.
const errorLog = ErrorLog.memory()
const shimErrors = {
  text: "",
  write(text) {
    this.text += text
  },
  writelines(lines) {
    for (const line of lines) this.text += line
  },
  flush() {}
}

// The response sinks: the core (through `Output.fromSink`) and the class both write into a
// `{ write(chunk) }` stdout that keeps the Buffers it is given (`Buffer#slice` is a view),
// as a socket's write queue does. (`Output.memory()`, the test sink, copies every chunk.)
// Python's BytesIO copies instead; in CPython that costs ≈ 0.2 µs per hello and ≈ 2.4 µs
// per 64 KiB. Copying into fresh ArrayBuffers in V8 costs ≈ 19 µs per 64 KiB (the
// allocator and the GC it triggers), which would measure V8 rather than the handler.
//
// The chunks are kept in a list of class instances, not in an array made per request: V8
// may decide to allocate the objects of an array literal's site straight into the old
// generation (allocation-site pretenuring), and it did so for `chunks = []` in some runs.
// Each request's array, born old and soon dead, then kept its young chunks alive through
// every young collection until the next full one: the rows that hit it (the class's
// most often) read 1.5–2× slower, a lottery of the harness, not of the handler. V8 never
// pretenures what `new` makes of a class.
class ChunkNode {
  next = null
  constructor(chunk) {
    this.chunk = chunk
  }
}
class ChunkSink {
  first = null
  last = null
  write(chunk) {
    const node = new ChunkNode(chunk.slice())
    if (this.last === null) this.first = node
    else this.last.next = node
    this.last = node
  }
  /** The chunks, in order. */
  get chunks() {
    const chunks = []
    for (let node = this.first; node !== null; node = node.next) chunks.push(node.chunk)
    return chunks
  }
}

/**
 * Everything a sink got, as one buffer (for the checks, untimed), copied into one scratch
 * buffer that lives as long as the process: a fresh 64 KiB buffer per request (what
 * `Buffer.concat` makes) is memory from malloc that the process sometimes touches anew on
 * every request, and external memory that counts towards V8's next collection. Either
 * moved the timed part of the 64 KiB rows between ~9 and ~13 µs from one process to the
 * next.
 */
let scratch = Buffer.alloc(128 * 1024)
const responseOf = (output) => {
  let length = 0
  for (let node = output.first; node !== null; node = node.next) {
    const chunk = node.chunk
    if (length + chunk.length > scratch.length) {
      const larger = Buffer.alloc(2 * (length + chunk.length))
      scratch.copy(larger, 0, 0, length)
      scratch = larger
    }
    scratch.set(chunk, length)
    length += chunk.length
  }
  return scratch.subarray(0, length)
}

/** The services of one request, as plain values. */
const servicesFor = (c) => {
  const sink = new ChunkSink()
  return {
    sink,
    output: Output.fromSink(sink),
    input: Input.fromBytes(c.body),
    errorLog,
    environSource: EnvironSource.fromRecord(c.environ)
  }
}

const fail = (what, exit) => {
  throw new Error(`${what}: the handler failed: ${String(Exit.isExit(exit) ? JSON.stringify(exit.toJSON()) : exit)}`)
}

/**
 * The variants: each `(c, watch)` serves one request of case `c` and gives back its output
 * sink (or a Promise of it). The timed part is between `watch.start()` and `watch.stop()`:
 * the request's services, handler and run, up to the end of the one `await` a caller
 * makes on an async run (the harness's own async plumbing is not in it).
 */
export const variants = {
  // What an Effect user writes: the services as a layer, provided to `run(app)`.
  provide: {
    label: "core `run(app)` + `Effect.provide(layer)`",
    how: { sync: "`Effect.runSync`", async: "`Effect.runPromise`" },
    sync: (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      Effect.runSync(Effect.provide(run(c.app), layer(services)))
      watch.stop()
      return services.sink
    },
    async: async (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      await Effect.runPromise(Effect.provide(run(c.app), layer(services)))
      watch.stop()
      return services.sink
    }
  },
  // The cheap way to give `run(app)` its services: a runtime over a hand-made context.
  runtime: {
    label: "core `run(app)` on `Runtime.make(context)`",
    how: { sync: "`Runtime.runSync`", async: "`Runtime.runPromise`" },
    sync: (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      Runtime.runSync(runtimeFor(services))(run(c.app))
      watch.stop()
      return services.sink
    },
    async: async (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      await Runtime.runPromise(runtimeFor(services))(run(c.app))
      watch.stop()
      return services.sink
    }
  },
  // The core as an Effect with plain service values, run as any Effect is.
  runWith: {
    label: "core `runWith(app, services)`",
    how: { sync: "`Effect.runSync`", async: "`Effect.runPromise`" },
    sync: (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      Effect.runSync(runWith(c.app, services))
      watch.stop()
      return services.sink
    },
    async: async (c, watch) => {
      watch.start()
      const services = servicesFor(c)
      await Effect.runPromise(runWith(c.app, services))
      watch.stop()
      return services.sink
    }
  },
  // The class API: `await new SimpleHandler(stdin, stdout, stderr, environ).run(app)`.
  shim: {
    label: "class `SimpleHandler` (in-memory sink)",
    how: { async: "`await handler.run(app)`" },
    async: async (c, watch) => {
      watch.start()
      const stdout = new ChunkSink()
      await new SimpleHandler(Input.fromBytes(c.body).stream, stdout, shimErrors, c.environ, {
        multithread: true,
        multiprocess: false
      }).run(c.app)
      watch.stop()
      return stdout
    }
  }
}

/** The timed part of one request. */
class Stopwatch {
  started = 0
  elapsed = 0
  start() {
    this.started = performance.now()
  }
  stop() {
    this.elapsed = performance.now() - this.started
  }
}

// The services' context as the package makes it (`Handler.context`), in a runtime of its own.
const runtimeFor = (services) =>
  Runtime.make({
    context: context(services),
    runtimeFlags: Runtime.defaultRuntimeFlags,
    fiberRefs: FiberRefs.empty()
  })

/** One timed request of `variant` on `case`; its response is checked after, untimed. */
const makeRequest = (variantName, caseName) => {
  const c = cases[caseName]
  const variant = variants[variantName]
  if (c === undefined || variant === undefined) throw new Error(`unknown variant:case ${variantName}:${caseName}`)
  const what = `${variantName} ${caseName}`
  const isAsync = c.async || variant.sync === undefined
  const serve = isAsync ? variant.async : variant.sync
  const watch = new Stopwatch()
  const one = isAsync
    ? async () => {
      const output = await serve(c, watch)
      verifyResponse(responseOf(output), c.expect, what)
      return watch.elapsed
    }
    : () => {
      const output = serve(c, watch)
      verifyResponse(responseOf(output), c.expect, what)
      return watch.elapsed
    }
  return { one, isAsync, what }
}

const requestsMade = new Map()

/** Mean µs per request over `requests` requests (every response checked). */
export const runRound = async (variantName, caseName, requests) => {
  const key = `${variantName}:${caseName}`
  let request = requestsMade.get(key)
  if (request === undefined) requestsMade.set(key, (request = makeRequest(variantName, caseName)))
  const { one, isAsync, what } = request
  let total = 0
  if (isAsync) for (let i = 0; i < requests; i++) total += await one()
  else for (let i = 0; i < requests; i++) total += one()
  if (errorLog.text() !== "" || shimErrors.text !== "") {
    throw new Error(`${what}: wsgi.errors got ${JSON.stringify((errorLog.text() + shimErrors.text).slice(0, 500))}`)
  }
  return (total * 1000) / requests
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * What running any Effect costs here, whatever it does: `Effect.runSync` of a three-step
 * program, and `Effect.runPromise` of one that waits on a resolved Promise (µs, median of
 * 11 rounds of 20 000). A row that runs `run(app)` as an Effect pays this on top of the handler.
 */
const effectFloor = async () => {
  const sync = Effect.flatMap(Effect.succeed(1), (n) => Effect.map(Effect.succeed(n + 1), (m) => m * 2))
  const waits = Effect.promise(() => Promise.resolve(1))
  const roundOf = async (one) => {
    const start = performance.now()
    for (let i = 0; i < 20000; i++) await one()
    return ((performance.now() - start) * 1000) / 20000
  }
  const syncRounds = []
  const asyncRounds = []
  for (let r = 0; r < 12; r++) {
    syncRounds.push(await roundOf(() => Effect.runSync(sync)))
    asyncRounds.push(await roundOf(() => Effect.runPromise(waits)))
  }
  return { runSync: median(syncRounds.slice(1)), runPromise: median(asyncRounds.slice(1)) }
}

/** Worker mode for bench/run.mjs: one JSON command a line on stdin, one JSON answer a line. */
const serveCommands = async () => {
  const { createInterface } = await import("node:readline")
  for await (const line of createInterface({ input: process.stdin })) {
    let answer
    try {
      const command = JSON.parse(line)
      answer = command.cmd === "hello"
        ? { node: process.version, labels: Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, v.label])) }
        : command.cmd === "floor"
        ? await effectFloor()
        : {
          us: await runRound(command.variant, command.case, command.requests),
          how: variants[command.variant].how[requestsMade.get(`${command.variant}:${command.case}`).isAsync ? "async" : "sync"]
        }
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error) }
    }
    process.stdout.write(JSON.stringify(answer) + "\n")
  }
}

if (options.serve) {
  await serveCommands()
} else {
  const selected = options.only === undefined
    ? Object.keys(cases).flatMap((caseName) => Object.keys(variants).map((variantName) => [variantName, caseName]))
    : options.only.split(",").map((item) => item.split(":"))
  const results = { node: process.version, cases: {} }
  for (const [variantName, caseName] of selected) {
    await runRound(variantName, caseName, WARMUP)
    const rounds = []
    for (let r = 0; r < ROUNDS; r++) rounds.push(await runRound(variantName, caseName, REQUESTS))
    const result = { median_us: median(rounds), rounds_us: rounds, requests: ROUNDS * REQUESTS }
    ;(results.cases[caseName] ??= {})[variantName] = result
    if (!options.json) {
      console.log(`${caseName.padEnd(6)} ${variantName.padEnd(8)} ${result.median_us.toFixed(2).padStart(7)} µs/request  (rounds ${rounds.map((x) => x.toFixed(2)).join(" ")})`)
    }
  }
  if (options.json) process.stdout.write(JSON.stringify(results) + "\n")
}
