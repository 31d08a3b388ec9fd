/**
 * A worker as the supervisor sees it (`Member`), and what the supervisor does to one:
 * activate a standby, drain it (with `--graceful-timeout` before SIGKILL), or kill it,
 * keeping why for the line its exit prints.
 */
import type { Worker } from "node:cluster"
import type { Drain } from "./messages.js"

/** One worker, as the supervisor sees it. */
export interface Member {
  readonly worker: Worker
  readonly pid: number
  /** The code it runs: the reload count when it was started. */
  generation: number
  /**
   * A standby (`--reload`: booted, waiting to load the app), starting (not listening
   * yet), serving, or draining (told to finish and exit).
   */
  state: "standby" | "starting" | "serving" | "draining"
  /** Booted as a standby and hears messages (one still booting may not). */
  ready: boolean
  /** Loading the app (a standby: once told to; else from the start), so it has the code of its generation. */
  loading: boolean
  /** To be replaced: a successor starts first, then it drains. */
  retiring: boolean
  /** A recycle (max requests, max RSS) was asked once: never again, even if it failed. */
  recycled: boolean
  /** Why the supervisor killed it, for the line its exit prints. */
  killedBecause: string | null
  /** Last heartbeat (or its start), and whether one came at all. */
  lastBeat: number
  beaten: boolean
  lastRss: number
  deadline: NodeJS.Timeout | null
}

/** The member of a worker just forked: a standby, or starting on the code of `generation`. */
export const newMember = (worker: Worker, generation: number, standby: boolean): Member => ({
  worker,
  pid: worker.process.pid ?? 0,
  generation,
  state: standby ? "standby" : "starting",
  ready: false,
  loading: !standby,
  retiring: false,
  recycled: false,
  killedBecause: null,
  lastBeat: Date.now(),
  beaten: false,
  lastRss: 0,
  deadline: null
})

/** Kill `member` (SIGKILL), once, keeping `why` for the line its exit prints. */
export const killMember = (member: Member, why: string): void => {
  if (member.killedBecause !== null) return
  member.killedBecause = why
  member.worker.process.kill("SIGKILL")
}

/** Tell `member` (a standby) to load the app and listen; kill it when it cannot be told. */
export const activateMember = (member: Member): void => {
  member.loading = true
  try {
    member.worker.send({ effectWsgi: "activate" })
  } catch {
    killMember(member, "could not be activated")
  }
}

/** Ask `member` to finish its requests and exit; kill it at the graceful deadline (`gracefulTimeout` seconds). */
export const drainMember = (member: Member, gracefulTimeout: number): Member => {
  // One still starting may not hear a message yet, and has nothing in flight.
  const listening = member.state === "serving"
  member.state = "draining"
  if (member.deadline === null) {
    member.deadline = setTimeout(
      () => killMember(member, `had not finished its requests after --graceful-timeout ${gracefulTimeout} s`),
      gracefulTimeout * 1_000
    )
  }
  const drain: Drain = { effectWsgi: "drain" }
  try {
    if (listening && member.worker.isConnected()) member.worker.send(drain)
    else member.worker.process.kill("SIGTERM")
  } catch {
    member.worker.process.kill("SIGTERM")
  }
  return member
}
