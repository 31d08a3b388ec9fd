/**
 * The supervisor's side of the heartbeats (`watchdog.ts` sends them): reading the lines
 * of a worker's heartbeat pipe, the words for a worker blocked past `--timeout`, and the
 * periodic check that finds the workers whose heartbeats stopped.
 */
import type { Worker } from "node:cluster"
import type { Readable } from "node:stream"
import { seconds } from "./exit.js"
import type { Member } from "./member.js"
import { type Beat, HEARTBEAT_FD, parseBeat } from "./messages.js"

/** Before its first heartbeat a worker is still booting node: it gets this much more. */
const FIRST_BEAT_GRACE = 10_000

/** Call `onBeat` with each heartbeat that comes down `worker`'s heartbeat pipe. */
export const readBeats = (worker: Worker, onBeat: (beat: Beat) => void): void => {
  const beats = (worker.process.stdio as ReadonlyArray<Readable | null | undefined>)[HEARTBEAT_FD]
  if (beats !== null && beats !== undefined) {
    let rest = ""
    beats.setEncoding("latin1")
    beats.on("data", (chunk: string) => {
      rest += chunk
      for (let end = rest.indexOf("\n"); end !== -1; end = rest.indexOf("\n")) {
        const beat = parseBeat(rest.slice(0, end))
        rest = rest.slice(end + 1)
        if (beat !== null) onBeat(beat)
      }
    })
    beats.on("error", () => undefined) // the worker is gone; its exit says how
  }
}

/** Why a worker whose `beat` says it is blocked is killed: for how long, serving what. */
export const blockedReason = (beat: Beat): string => {
  const request = beat.request
  const others = (beat.inFlight ?? 0) - 1
  const serving = request === undefined
    ? "while serving no request"
    : `serving ${request.method} ${request.path} (${seconds(request.elapsed)})${others > 0 ? ` and ${others} more request${others === 1 ? "" : "s"}` : ""}`
  return `blocked for ${seconds(beat.blocked)} ${serving}`
}

/** Finds the workers whose heartbeats stopped, when called every `interval` milliseconds. */
export class SilenceCheck {
  private lastCheck = Date.now()

  constructor(private readonly timeoutMs: number, private readonly interval: number) {}

  /** Kill the workers whose heartbeats stopped (a stopped process, a dead watchdog). */
  check(members: ReadonlyMap<number, Member>, kill: (member: Member, why: string) => void): void {
    const now = Date.now()
    const late = now - this.lastCheck - this.interval
    this.lastCheck = now
    if (late > this.timeoutMs / 2) {
      // The primary itself was stopped or suspended: the silence is its own.
      for (const member of members.values()) member.lastBeat = now
      return
    }
    for (const member of members.values()) {
      const silent = now - member.lastBeat
      if (silent > this.timeoutMs + 2 * this.interval + (member.beaten ? 0 : FIRST_BEAT_GRACE)) {
        kill(member, `sent no heartbeat for ${seconds(silent)} (the process is stopped, or its watchdog thread failed)`)
      }
    }
  }
}
