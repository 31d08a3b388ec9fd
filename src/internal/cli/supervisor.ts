/**
 * The supervisor: the `node:cluster` primary that keeps `--workers` worker processes
 * serving (`worker.ts`), and replaces them without dropping a request.
 *
 * - A worker whose event loop stays blocked `--timeout` seconds (its watchdog thread's
 *   heartbeats say so, and which request it was serving), or whose heartbeats stop, is
 *   killed (SIGKILL) and replaced; any other death is reported with its code or signal.
 * - A worker is *replaced* (recycled after `--max-requests`, past `--max-rss`, or on a
 *   reload) by starting its successor first and draining it once the successor listens:
 *   the primary holds the listening socket, so new connections go to the workers still
 *   listening, and the drained one finishes what it has.
 * - Signals: HUP reloads (new workers, one at a time, on freshly loaded code), TTIN/TTOU
 *   add/remove a worker, TERM/INT drain them all, with `--graceful-timeout` before SIGKILL.
 *
 * - With `--reload`, a file change reloads the same way, from a standby worker that has
 *   booted already (everything loaded but the app), so new code serves in a fraction of
 *   the time a new process takes.
 *
 * - Sockets inherited by the primary (`--bind fd://N`, systemd's `LISTEN_FDS`) are given
 *   to each worker as an extra stdio descriptor, which it listens on itself (see
 *   `sockets.ts` for why not through cluster's handle).
 * - With `NOTIFY_SOCKET` (systemd), `READY=1` is sent once every worker first listens,
 *   `RELOADING=1` … `READY=1` around a SIGHUP reload, `STOPPING=1` on stop (`notify.ts`).
 *
 * `reconcile` is the one place that decides what to start and what to drain. A worker as
 * it is seen, and the moves on one (activate, drain, kill), are in `member.ts`; reading and
 * checking heartbeats in `heartbeats.ts`; the delays after failed starts in
 * `restartBackoff.ts`; the `--reload` file watch in `reloadOnChange.ts`.
 */
import cluster, { type Worker } from "node:cluster"
import { DEFAULT_TIMEOUT, type ServeCommand } from "./cliArgs.js"
import { LISTEN_FAILED, mebibytes, say, seconds } from "./exit.js"
import { describeExit, OomCounter } from "./exitReason.js"
import { blockedReason, readBeats, SilenceCheck } from "./heartbeats.js"
import { loadOrExit } from "./listen.js"
import { activateMember, drainMember, killMember, type Member, newMember } from "./member.js"
import { asMessage, type Beat, STANDBY_ENV, WORKER_STDIO } from "./messages.js"
import { makeNotifier, type Notifier } from "./notify.js"
import { reloadOnChange } from "./reloadOnChange.js"
import { retryDelay, StartRetry } from "./restartBackoff.js"
import { resolveBinds, type WorkerBinds, workerBinds } from "./sockets.js"
import { beatInterval } from "./watchdog.js"

/** What `reconcile` did. */
interface Moves {
  readonly started: number
  readonly drained: ReadonlyArray<Member>
}

class Supervisor {
  private readonly members = new Map<number, Member>()
  private desired: number
  private generation = 0
  private stopping = false
  private exitCode = 0
  /** The SIGHUP reload in progress, to say when it is done. */
  private reloading = false
  /** Failed starts in a row, and the timer of the next attempt. */
  private readonly retry = new StartRetry()
  /** Standby workers that died in a row (each next one waits longer). */
  private standbyFailures = 0
  private readonly timeoutMs: number
  private readonly interval: number
  private readonly silence: SilenceCheck
  private readonly oom = new OomCounter()
  /** systemd's readiness messages, and whether READY=1 went out once already. */
  private readonly notifier: Notifier = makeNotifier()
  private ready = false

  constructor(private readonly command: ServeCommand, workers: number, private readonly binds: WorkerBinds) {
    this.desired = workers
    this.timeoutMs = (command.timeout ?? DEFAULT_TIMEOUT) * 1_000
    this.interval = beatInterval(this.timeoutMs)
    this.silence = new SilenceCheck(this.timeoutMs, this.interval)
  }

  /** Listen for the workers and the signals, and start the workers. */
  start(): void {
    cluster.setupPrimary({ stdio: [...WORKER_STDIO, ...this.binds.stdio] })
    cluster.on("exit", (worker, code, signal) => this.exited(worker, code, signal))
    cluster.on("message", (worker, message) => this.message(worker, message))
    process.on("SIGINT", () => this.stop())
    process.on("SIGTERM", () => this.stop())
    process.on("SIGHUP", () => this.reload("SIGHUP"))
    process.on("SIGTTIN", () => this.resize(+1))
    process.on("SIGTTOU", () => this.resize(-1))
    if (this.timeoutMs > 0) setInterval(() => this.silence.check(this.members, killMember), this.interval).unref()
    if (this.command.reload) reloadOnChange(this.command, () => this.reload("change"))
    this.reconcile()
    say(`primary ${process.pid} started ${this.desired} workers`)
  }

  // --- decisions ---------------------------------------------------------------------

  /**
   * Make the workers what they should be: drain the retiring workers that serving
   * successors replace, drain (or stop) workers beyond `--workers`, and start the missing
   * ones: all at once, but one at a time while replacing (the old ones serve meanwhile).
   */
  private reconcile(): Moves {
    if (this.stopping) return { started: 0, drained: [] }
    const drained: Array<Member> = []
    const live = [...this.members.values()].filter((member) => member.state !== "draining" && member.state !== "standby")
    const isCurrent = (member: Member): boolean => member.generation === this.generation && !member.retiring
    const current = live.filter(isCurrent)
    const serving = current.filter((member) => member.state === "serving")
    const starting = current.filter((member) => member.state === "starting")
    // Oldest first (the map keeps the order they were started in).
    const retiring = live.filter((member) => !isCurrent(member) && member.state === "serving")
    for (let excess = serving.length + retiring.length - this.desired; excess > 0 && retiring.length > 0; excess--) {
      drained.push(this.drain(retiring.shift()!))
    }
    let surplus = current.length - this.desired
    for (const member of [...starting].reverse()) {
      if (surplus <= 0) break
      this.drain(member)
      starting.splice(starting.indexOf(member), 1)
      surplus--
    }
    for (const member of serving) {
      if (surplus <= 0) break
      drained.push(this.drain(member))
      surplus--
    }
    let started = 0
    const missing = this.desired - Math.min(this.desired, current.length)
    if (!this.retry.pending && missing > 0) {
      const count = retiring.length > 0 ? (starting.length === 0 ? 1 : 0) : missing
      for (; started < count; started++) this.startWorker()
    }
    if (this.reloading && retiring.length === 0 && starting.length === 0 && started === 0 && live.every(isCurrent)) {
      this.reloading = false
      say(`reload done: ${serving.length} worker${serving.length === 1 ? "" : "s"} on the new code`)
      void this.notifier.send("READY=1", `STATUS=${serving.length} workers serving (reloaded)`)
    }
    if (!this.ready && serving.length >= this.desired) {
      this.ready = true
      void this.notifier.send("READY=1", `STATUS=${serving.length} workers serving`)
    }
    return { started, drained }
  }

  /**
   * Start a worker: with `--reload`, the standby that has booted already (the new code is
   * served in a fraction of the time), else a new process.
   */
  private startWorker(): void {
    const standby = [...this.members.values()].find((member) => member.state === "standby")
    if (standby === undefined) {
      this.fork(false)
      return
    }
    standby.state = "starting"
    standby.generation = this.generation
    // One still booting is activated once ready: it is ahead of a process forked now.
    if (standby.ready) activateMember(standby)
    // The next one boots meanwhile (activating costs little CPU: the app's import only),
    // ready for the next save, also when this one's code does not load.
    this.keepStandby()
  }

  /** With `--reload`, keep one standby booted (not while stopping). */
  private keepStandby(): void {
    if (!this.command.reload || this.stopping) return
    if ([...this.members.values()].some((member) => member.state === "standby")) return
    this.fork(true)
  }

  private fork(standby: boolean): void {
    const worker = cluster.fork({ ...this.binds.env, ...(standby ? { [STANDBY_ENV]: "1" } : {}) })
    const member = newMember(worker, this.generation, standby)
    this.members.set(worker.id, member)
    readBeats(worker, (beat) => this.heartbeat(member, beat))
  }

  /** Ask `member` to finish its requests and exit; kill it at the graceful deadline. */
  private drain(member: Member): Member {
    return drainMember(member, this.command.gracefulTimeout)
  }

  private retire(member: Member, why: string): void {
    member.recycled = true
    member.retiring = true
    say(`worker ${member.pid} ${why}; replacing it`)
    this.reconcile()
  }

  // --- what workers say ----------------------------------------------------------------

  private listening(worker: Worker): void {
    const member = this.members.get(worker.id)
    if (member === undefined || member.state !== "starting") return
    member.state = "serving"
    this.retry.succeeded()
    this.reconcile()
    // The first standby boots once the first worker listens (booting is what costs).
    this.keepStandby()
  }

  private message(worker: Worker, value: unknown): void {
    const member = this.members.get(worker.id)
    const message = asMessage(value)
    if (member === undefined || message === null) return
    if (message.effectWsgi === "listening") this.listening(worker)
    else if (message.effectWsgi === "ready") {
      member.ready = true
      this.standbyFailures = 0
      if (member.state === "starting") activateMember(member)
    }
    else if (message.effectWsgi === "recycle" && !member.recycled && member.state === "serving") {
      this.retire(member, `served ${message.served} requests (--max-requests ${this.command.maxRequests}${this.command.maxRequestsJitter > 0 ? ` + up to ${this.command.maxRequestsJitter}` : ""})`)
    } else if (message.effectWsgi === "draining" && member.state !== "draining") {
      // Stopped by a SIGTERM of its own: it drains already; start its successor.
      this.drain(member)
      this.reconcile()
    }
  }

  private heartbeat(member: Member, beat: Beat): void {
    member.lastBeat = Date.now()
    member.beaten = true
    member.lastRss = beat.rss
    if (member.killedBecause !== null) return
    if (this.timeoutMs > 0 && beat.blocked >= this.timeoutMs) {
      killMember(member, blockedReason(beat))
      return
    }
    const maxRss = this.command.maxRss
    if (maxRss > 0 && beat.rss > maxRss * 1_048_576 && !member.recycled && member.state === "serving") {
      this.retire(member, `uses ${mebibytes(beat.rss)} (--max-rss ${maxRss})`)
    }
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    const member = this.members.get(worker.id)
    if (member === undefined) return
    this.members.delete(worker.id)
    if (member.deadline !== null) clearTimeout(member.deadline)
    // Read at every exit, so the count compared at a SIGKILL is the one just before it.
    const oom = this.oom.verdict()
    if (this.stopping) {
      if (member.killedBecause !== null) say(`worker ${member.pid} ${member.killedBecause}; killed (SIGKILL)`)
      if (this.members.size === 0) process.exit(this.exitCode)
      return
    }
    if (code === LISTEN_FAILED) {
      say(`worker ${member.pid} cannot listen; stopping`)
      this.exitCode = LISTEN_FAILED
      this.stop()
      return
    }
    if (member.killedBecause === null && member.state === "draining" && code === 0) {
      this.reconcile() // drained as asked
      return
    }
    if (member.state === "standby") {
      // Nothing was in flight: say so, and boot another a little later.
      say(`standby worker ${member.pid} ${member.killedBecause ?? describeExit({ code, signal, lastRss: member.lastRss, oom: signal === "SIGKILL" ? oom : "unknown" })}`)
      this.standbyFailures++
      setTimeout(() => this.keepStandby(), retryDelay(this.standbyFailures))
      return
    }
    const what = member.killedBecause === null
      ? `worker ${member.pid} ${describeExit({ code, signal, lastRss: member.lastRss, oom: signal === "SIGKILL" ? oom : "unknown" })}`
      : `worker ${member.pid} ${member.killedBecause}; killed (SIGKILL)`
    const separator = member.killedBecause === null ? ";" : ","
    if (member.state === "starting" && member.killedBecause === null) {
      this.failedStart(member, what)
      return
    }
    const { started } = this.reconcile()
    say(started > 0 ? `${what}${separator} starting another` : what)
  }

  /**
   * A worker died before it listened: its code does not load (it printed why) or crashes
   * at once. On a reload or a recycle, the workers it was to replace keep serving; else
   * the next attempt waits, longer each time, instead of forking in a tight loop.
   */
  private failedStart(member: Member, what: string): void {
    const replaced = [...this.members.values()].filter(
      (other) => other.state === "serving" && (other.generation !== this.generation || other.retiring)
    )
    if (member.generation === this.generation && replaced.length > 0) {
      for (const other of this.members.values()) {
        other.generation = this.generation
        other.retiring = false
      }
      this.reloading = false
      say(`${what} before listening; the ${replaced.length} worker${replaced.length === 1 ? "" : "s"} it was to replace keep${replaced.length === 1 ? "s" : ""} serving`)
      return
    }
    if (member.generation !== this.generation) return // an older reload's: superseded anyway
    const delay = this.retry.schedule(() => this.reconcile())
    say(`${what} before listening; starting another in ${seconds(delay)}`)
  }

  // --- what the operator says ----------------------------------------------------------

  /** Start every worker anew on freshly loaded code (SIGHUP, or a file changed with --reload). */
  reload(cause: "SIGHUP" | "change"): void {
    if (this.stopping) return
    this.generation++
    this.retry.cancel()
    // Workers loading the old code are of no use any more; a standby still booting (to be
    // activated once ready) loads the code as it is then, so it is of this generation.
    for (const member of this.members.values()) {
      if (member.state !== "starting") continue
      if (member.loading) this.drain(member)
      else member.generation = this.generation
    }
    if (cause === "SIGHUP") {
      this.reloading = true
      void this.notifier.send("RELOADING=1", "STATUS=reloading")
      say(`SIGHUP: starting ${this.desired} worker${this.desired === 1 ? "" : "s"} on freshly loaded code, one at a time; each old one finishes its requests`)
    }
    this.reconcile()
  }

  private resize(delta: number): void {
    if (this.stopping) return
    const signal = delta > 0 ? "SIGTTIN" : "SIGTTOU"
    const next = Math.max(1, this.desired + delta)
    if (next === this.desired) {
      say(`${signal}: already down to 1 worker`)
      return
    }
    this.desired = next
    const { drained } = this.reconcile()
    const what = drained.length > 0 ? ` (draining worker ${drained.map((member) => member.pid).join(", ")})` : ""
    say(`${signal}: ${next} worker${next === 1 ? "" : "s"}${what}`)
  }

  private stop(): void {
    if (this.stopping) return
    this.stopping = true
    void this.notifier.send("STOPPING=1", "STATUS=stopping")
    this.retry.cancel()
    if (this.members.size === 0) process.exit(this.exitCode)
    for (const member of this.members.values()) if (member.state !== "draining") this.drain(member)
  }
}

/** Run this process as the supervisor of `workers` workers serving `command`. */
export const supervise = async (command: ServeCommand, workers: number): Promise<void> => {
  await loadOrExit(command) // fail fast, in the primary, on a bad file or export
  new Supervisor(command, workers, workerBinds(resolveBinds(command))).start()
}
