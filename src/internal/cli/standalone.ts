/**
 * One server process with no supervisor (`--workers 1`, the default, and none of the
 * options that need one): serve until SIGINT/SIGTERM, then close gracefully and exit 0.
 */
import { watchCertificateFiles } from "./certificates.js"
import type { ServeCommand } from "./cliArgs.js"
import { say } from "./exit.js"
import { type CliServer, listenOrExit, loadOrExit, urls } from "./listen.js"
import { makeNotifier } from "./notify.js"
import { resolveBinds } from "./sockets.js"

/** Serve `command` in this process. */
export const serveStandalone = async (command: ServeCommand): Promise<void> => {
  let servers: ReadonlyArray<CliServer> | null = null
  let closing = false
  const binds = resolveBinds(command)
  const notifier = makeNotifier()
  const stop = (): void => {
    if (closing) return
    closing = true
    void notifier.send("STOPPING=1")
    // Asked to stop before listening: nothing is in flight.
    if (servers === null) process.exit(0)
    Promise.all(servers.map((server) => server.close())).then(
      () => process.exit(0),
      (error: unknown) => {
        say(`close failed: ${String(error)}`)
        process.exit(1)
      }
    )
  }
  // Listened for from the start: a stop that comes while the app loads is not lost.
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  const app = await loadOrExit(command)
  const listening = await listenOrExit(command, binds, app, { closeTimeout: command.gracefulTimeout * 1_000 })
  servers = listening
  // No supervisor here to reload on SIGHUP: it re-reads the certificate files instead.
  watchCertificateFiles(command, listening, true)
  say(`serving ${command.file} on ${urls(listening)} (pid ${process.pid})`)
  void notifier.send("READY=1", `STATUS=serving on ${urls(listening)}`)
}
