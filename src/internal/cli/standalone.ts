/**
 * One server process with no supervisor (`--workers 1`, the default, and none of the
 * options that need one): serve until SIGINT/SIGTERM, then close gracefully and exit 0.
 */
import type { WSGIServer } from "../../Server.js"
import type { ServeCommand } from "./cliArgs.js"
import { say } from "./exit.js"
import { listenOrExit, loadOrExit } from "./listen.js"

/** Serve `command` in this process. */
export const serveStandalone = async (command: ServeCommand): Promise<void> => {
  let server: WSGIServer | null = null
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    // Asked to stop before listening: nothing is in flight.
    if (server === null) process.exit(0)
    server.close().then(
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
  server = await listenOrExit(command, app, { closeTimeout: command.gracefulTimeout * 1_000 })
  say(`serving ${command.file} on ${server.url} (pid ${process.pid})`)
}
