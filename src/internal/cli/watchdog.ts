/**
 * A worker's watchdog, main-thread side: the in-flight board, a timer that ticks on it
 * while the event loop runs, and the thread (`watchdogThread.ts`) that sends heartbeats to
 * the supervisor even when the loop is blocked, which the loop itself cannot.
 */
import { Worker } from "node:worker_threads"
import { BOARD_BYTES, BoardWriter } from "./board.js"
import { say } from "./exit.js"
import { HEARTBEAT_FD } from "./messages.js"

/** What the watchdog thread is started with. */
export interface WatchdogData {
  readonly buffer: SharedArrayBuffer
  /** Milliseconds between heartbeats. */
  readonly interval: number
  /** Where heartbeats go. */
  readonly fd: number
}

/**
 * Milliseconds between heartbeats for a `--timeout` of `timeoutMs`: a fifth of it, so a
 * block is seen within about 20 % of the timeout, and at most a second (a line a second
 * per worker costs nothing).
 */
export const beatInterval = (timeoutMs: number): number => Math.min(1_000, Math.max(50, Math.round(timeoutMs / 5)))

/**
 * The thread's code when the CLI runs from source under tsx (`--import tsx src/cli.ts`):
 * node 20 does not apply `--import` hooks to worker threads, so it loads the TypeScript
 * entry through tsx's API itself.
 */
const fromSource = (): string => {
  const entry = new URL("./watchdogThread.ts", import.meta.url).href
  const api = import.meta.resolve("tsx/esm/api")
  return `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`
}

/** Start the watchdog; the returned board is where the worker marks its requests. */
export const startWatchdog = (timeoutMs: number): BoardWriter => {
  const board = new BoardWriter(new SharedArrayBuffer(BOARD_BYTES))
  const interval = beatInterval(timeoutMs)
  const data: WatchdogData = { buffer: board.buffer, interval, fd: HEARTBEAT_FD }
  const thread = import.meta.url.endsWith(".ts")
    ? new Worker(fromSource(), { eval: true, workerData: data })
    : new Worker(new URL("./watchdogThread.js", import.meta.url), { workerData: data })
  // A thread that fails stops the heartbeats: the supervisor replaces the worker.
  thread.on("error", (error) => say(`worker ${process.pid}: watchdog thread failed: ${error.message}`))
  thread.unref()
  // Twice per heartbeat, so a timer that fires a little late does not look like a block.
  setInterval(() => board.tick(), Math.max(25, interval >> 1)).unref()
  return board
}
