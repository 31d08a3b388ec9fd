/**
 * systemd's readiness protocol (`sd_notify`): `READY=1` once the app is served,
 * `RELOADING=1` … `READY=1` around a SIGHUP reload, `STOPPING=1` when stopping, each with a
 * `STATUS=` line, sent to the datagram socket named by `NOTIFY_SOCKET`.
 *
 * Node cannot send a unix datagram (`node:dgram` is UDP only, `node:net` stream only), so
 * the messages go through systemd's own `systemd-notify` program, as a child process, with
 * `--pid` of this process: run as root it sends with this process's credentials (so the
 * default `NotifyAccess=main` accepts it); otherwise the sender is the child, and the unit
 * needs `NotifyAccess=all` (systemd ignores the message otherwise). systemd-notify 246 and
 * later wait until systemd has read each message (`BARRIER=1`). Without `systemd-notify` on the PATH
 * nothing is sent and the log says so once; a `Type=notify` unit would then time out, so
 * `docs/deploy.md` uses `Type=simple` unless the program is there.
 */
import { execFile } from "node:child_process"
import { say } from "./exit.js"

/** Sends the readiness messages; every method does nothing when systemd did not ask. */
export interface Notifier {
  /** True when `NOTIFY_SOCKET` was set. */
  readonly enabled: boolean
  /** Send `KEY=value` assignments, in order after those sent before. */
  send(...assignments: ReadonlyArray<string>): Promise<void>
}

/**
 * The notifier of this process: reads `NOTIFY_SOCKET` and removes it from the environment
 * (as `sd_notify`'s `unset_environment`), so workers and the app's own children do not
 * speak for the service.
 */
export const makeNotifier = (env: NodeJS.ProcessEnv = process.env, program = "systemd-notify"): Notifier => {
  const socket = env["NOTIFY_SOCKET"]
  delete env["NOTIFY_SOCKET"]
  if (socket === undefined || socket === "") return { enabled: false, send: () => Promise.resolve() }
  let queue = Promise.resolve()
  let missing = false
  const run = (assignments: ReadonlyArray<string>): Promise<void> =>
    new Promise((resolve) => {
      if (missing) return resolve()
      execFile(program, [`--pid=${process.pid}`, ...assignments], { env: { ...env, NOTIFY_SOCKET: socket }, timeout: 5_000 }, (error) => {
        if (error !== null && (error as NodeJS.ErrnoException).code === "ENOENT") {
          missing = true
          say(`NOTIFY_SOCKET is set but ${program} is not installed: systemd is not told when the app is ready`)
        } else if (error !== null) {
          say(`${program} ${assignments.join(" ")} failed: ${error.message.trim()}`)
        }
        resolve()
      })
    })
  return {
    enabled: true,
    // One at a time: READY must not overtake the RELOADING sent before it.
    send: (...assignments) => (queue = queue.then(() => run(assignments)))
  }
}
