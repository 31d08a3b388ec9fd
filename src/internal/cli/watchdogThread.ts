/**
 * A worker's watchdog thread: every interval, one heartbeat line to the supervisor with
 * how long the worker's event loop has not ticked and the process's resident memory; once
 * the loop has missed two beats, also the request it is most likely stuck on. Runs on a
 * thread of its own so it keeps beating while the main thread is blocked.
 */
import { writeSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { workerData } from "node:worker_threads"
import { readBoard, readTicks } from "./board.js"
import { type Beat, formatBeat } from "./messages.js"
import type { WatchdogData } from "./watchdog.js"

const { buffer, interval, fd } = workerData as WatchdogData

let ticks = readTicks(buffer)
// A monotonic clock: a suspended machine does not look like a blocked loop on waking.
let tickedAt = performance.now()

const beat = (): void => {
  const now = performance.now()
  const seen = readTicks(buffer)
  if (seen !== ticks) {
    ticks = seen
    tickedAt = now
  }
  let blocked = Math.round(now - tickedAt)
  let line: Beat = { blocked, rss: process.memoryUsage.rss() }
  if (blocked >= 2 * interval) {
    const reading = readBoard(buffer)
    const newest = reading.newest
    if (newest === null) line = { ...line, inFlight: reading.inFlight }
    else {
      const elapsed = Date.now() - newest.startedAt
      // No request begins while the loop is blocked, so the block began after the newest
      // one did: it is no longer than that request's age (the ticks only bound it to
      // within a beat).
      blocked = Math.min(blocked, elapsed)
      line = { blocked, rss: line.rss, inFlight: reading.inFlight, request: { method: newest.method, path: newest.path, elapsed } }
    }
  }
  try {
    writeSync(fd, formatBeat(line))
  } catch (error) {
    // A full pipe (a busy supervisor) loses one beat; any other error means the
    // supervisor is gone (EPIPE), and the worker goes with it.
    if ((error as NodeJS.ErrnoException).code !== "EAGAIN") clearInterval(timer)
  }
}

const timer = setInterval(beat, interval)
// One at once: the supervisor hears of a worker (and its memory) as soon as it boots.
beat()
