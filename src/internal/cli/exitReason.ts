/**
 * Why a worker exited, in words: its exit code or signal, and for a SIGKILL nobody in
 * effect-wsgi sent, whether the kernel's OOM killer sent it. That can be told from the
 * cgroup's OOM kill count (its `oom_kill` goes up), so "out of memory" is said only when
 * it was; gunicorn says "Perhaps out of memory?" for every SIGKILL.
 */
import { readFileSync } from "node:fs"
import { mebibytes } from "./exit.js"

/**
 * The files that may hold this process's cgroup OOM kill count, best first: cgroup v2's
 * `memory.events`, v1's `memory.oom_control`, each at the cgroup's path and at the root
 * (inside a cgroup namespace the process's cgroup is the root).
 */
export const oomCountFiles = (procSelfCgroup: string): ReadonlyArray<string> => {
  const files: Array<string> = []
  for (const line of procSelfCgroup.split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? []
    if (path === undefined) continue
    const at = path.replace(/\/$/, "")
    if (controllers === "") files.push(`/sys/fs/cgroup${at}/memory.events`, "/sys/fs/cgroup/memory.events")
    else if (controllers!.split(",").includes("memory")) {
      files.push(`/sys/fs/cgroup/memory${at}/memory.oom_control`, "/sys/fs/cgroup/memory/memory.oom_control")
    }
  }
  return files
}

/** The `oom_kill` count in a `memory.events` or `memory.oom_control` text, or null. */
export const oomKillCount = (text: string): number | null => {
  const match = /^oom_kill (\d+)$/m.exec(text)
  return match === null ? null : Number(match[1])
}

/** How the OOM kill count moved across an exit. */
export type OomVerdict = { readonly before: number; readonly now: number } | "unchanged" | "unknown"

/** Reads the OOM kill count of this process's cgroup (its workers are in it too). */
export class OomCounter {
  private readonly file: string | null
  private last: number | null

  constructor() {
    let files: ReadonlyArray<string> = []
    try {
      files = oomCountFiles(readFileSync("/proc/self/cgroup", "latin1"))
    } catch {
      // Not Linux, or no /proc: no way to tell an OOM kill.
    }
    this.file = files.find((file) => OomCounter.readFile(file) !== null) ?? null
    this.last = this.read()
  }

  private static readFile(file: string): number | null {
    try {
      return oomKillCount(readFileSync(file, "latin1"))
    } catch {
      return null
    }
  }

  private read(): number | null {
    return this.file === null ? null : OomCounter.readFile(this.file)
  }

  /** How the count moved since the last call (so, when called at each kill, across that kill). */
  verdict(): OomVerdict {
    const before = this.last
    const now = this.read()
    this.last = now
    if (before === null || now === null) return "unknown"
    return now > before ? { before, now } : "unchanged"
  }
}

/** What is known of an exit effect-wsgi did not cause. */
export interface Exit {
  readonly code: number | null
  readonly signal: string | null
  /** Resident memory at the last heartbeat, in bytes (0: none came). */
  readonly lastRss: number
  /** For a SIGKILL: how the cgroup's OOM kill count moved. */
  readonly oom: OomVerdict
}

/** The words after "worker PID ": `exited with code 1`, `was killed by SIGKILL from outside effect-wsgi …`. */
export const describeExit = (exit: Exit): string => {
  const rss = exit.lastRss > 0 ? `last RSS ${mebibytes(exit.lastRss)}` : null
  const notes = (...parts: Array<string | null>): string => {
    const kept = parts.filter((part): part is string => part !== null)
    return kept.length === 0 ? "" : ` (${kept.join("; ")})`
  }
  if (exit.signal === "SIGKILL") {
    const oom = exit.oom
    if (typeof oom === "object") {
      return `was killed by the kernel's OOM killer${notes(`SIGKILL; the cgroup's oom_kill count went from ${oom.before} to ${oom.now}`, rss)}`
    }
    return `was killed by SIGKILL from outside effect-wsgi${notes(oom === "unchanged" ? "not by the OOM killer: the cgroup's oom_kill count did not change" : null, rss)}`
  }
  if (exit.signal !== null) return `was killed by ${exit.signal}${notes(rss)}`
  return `exited with code ${exit.code ?? "?"}`
}
