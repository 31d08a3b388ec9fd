/**
 * A worker process under the supervisor (`supervisor.ts`): serve the app, mark each
 * request on the watchdog's board, ask to be recycled after `--max-requests`, and drain
 * when told to (stop accepting, answer each connection's next request with
 * `Connection: close`, exit 0 once every connection is closed). A standby (`--reload`)
 * boots, then waits to be activated before it loads the app.
 */
import cluster from "node:cluster"
import { randomInt } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Server as NetServer } from "node:net"
import type { BoardWriter } from "./board.js"
import { watchCertificateFiles } from "./certificates.js"
import { DEFAULT_TIMEOUT, type ServeCommand } from "./cliArgs.js"
import { say } from "./exit.js"
import { type CliServer, listenOrExit, loadOrExit, urls } from "./listen.js"
import { prepareLoad } from "./loadApp.js"
import { asMessage, type Message, STANDBY_ENV } from "./messages.js"
import { resolveBinds } from "./sockets.js"
import { startWatchdog } from "./watchdog.js"

/**
 * How long a draining worker leaves its idle keep-alive connections open (at most; half
 * the graceful timeout when that is shorter). Closing one at the moment its client sends
 * the next request on it loses that request, so they are not closed at once: a busy one
 * gets its next request within this time, answered with `Connection: close`.
 */
const IDLE_GRACE = 1_000

const send = (message: Message): void => {
  // The channel may be gone already (the supervisor exited): nothing to tell then.
  if (process.connected) process.send!(message, undefined, undefined, () => undefined)
}

/** Run this process as a worker serving `command`. */
export const runWorker = async (command: ServeCommand): Promise<void> => {
  const timeoutMs = (command.timeout ?? DEFAULT_TIMEOUT) * 1_000
  // Started before the app loads: an app that blocks while loading is caught too.
  const board: BoardWriter | null = timeoutMs > 0 ? startWatchdog(timeoutMs) : null
  const gracefulMs = command.gracefulTimeout * 1_000
  // What the supervisor resolved (its inherited sockets renumbered to this process's fds).
  const binds = resolveBinds(command)
  let servers: ReadonlyArray<CliServer> | null = null
  let listening = false
  let draining = false

  /**
   * Exit once the primary acknowledged cluster's disconnect: it may have handed this worker
   * a connection just before it saw the server close, and such a connection is handed back
   * to another worker only while this process is alive to answer; exiting at once loses it
   * (its client waits forever).
   */
  const leave = (): void => {
    if (!process.connected) process.exit(0)
    process.once("disconnect", () => process.exit(0))
    cluster.worker!.disconnect()
  }

  const drain = (): void => {
    if (draining) return
    draining = true
    // Not listening yet: nothing is in flight. (Told while listening, it drains once it
    // listens: the primary may count on it already.)
    if (!listening) process.exit(0)
    if (servers === null) return
    // One server per --bind: leave once every one is closed.
    let open = servers.length
    const closed = (): void => {
      if (--open === 0) leave()
    }
    for (const server of servers) closeServer(server, closed)
    // The supervisor kills a worker still busy at its deadline; this is for a worker told
    // to stop by someone else (a SIGTERM of its own), whose supervisor set no deadline.
    setTimeout(() => {
      for (const server of servers ?? []) {
        const http = server.server
        if ("closeAllConnections" in http) http.closeAllConnections()
      }
      process.exit(0)
    }, gracefulMs + 1_000).unref()
  }

  /** Stop `server` accepting, finish its connections, then call `closed`. */
  const closeServer = (server: CliServer, closed: () => void): void => {
    const http = server.server
    if (!("closeIdleConnections" in http)) {
      // node:http2's servers (--http2, --h2c): close() sends GOAWAY and lets the streams in
      // flight finish; the supervisor's deadline bounds it.
      void server.close().then(closed, closed)
      return
    }
    // net.Server's close, not node:http's: that one also closes idle connections at once,
    // racing a client that is sending its next request on one. The callback comes once
    // every connection is closed.
    NetServer.prototype.close.call(http, closed)
    setTimeout(() => http.closeIdleConnections(), Math.min(IDLE_GRACE, gracefulMs / 2)).unref()
    // Once more just before the deadline: a response that was in flight went out
    // keep-alive, and its idle connection should not cost the worker a SIGKILL.
    setTimeout(() => http.closeIdleConnections(), gracefulMs - Math.min(IDLE_GRACE, gracefulMs / 4)).unref()
  }

  let activate: () => void = () => undefined
  const activated = new Promise<void>((resolve) => (activate = resolve))
  process.on("message", (value) => {
    const kind = asMessage(value)?.effectWsgi
    if (kind === "drain") drain()
    else if (kind === "activate") activate()
  })
  process.on("SIGTERM", () => {
    if (!draining) send({ effectWsgi: "draining" })
    drain()
  })
  // A terminal's Ctrl-C, or its hangup, reaches the whole process group: the supervisor
  // decides what happens to its workers.
  process.on("SIGINT", () => undefined)
  process.on("SIGHUP", () => undefined)

  if (process.env[STANDBY_ENV] === "1") {
    // A standby of --reload: everything loaded but the app, which may change until then.
    await prepareLoad(command.file)
    send({ effectWsgi: "ready" })
    await activated
  }
  const app = await loadOrExit(command)
  listening = true
  const serving = await listenOrExit(command, binds, app, { closeTimeout: gracefulMs })
  servers = serving
  // cluster's own "listening" does not come for an inherited socket (listened on here,
  // not through the primary), nor once for all the binds: this says every one listens.
  send({ effectWsgi: "listening" })
  // Under the supervisor SIGHUP replaces the workers, which read the files anew.
  watchCertificateFiles(command, serving, false)
  if (draining) {
    draining = false
    drain()
    return
  }
  const limit = command.maxRequests > 0 ? command.maxRequests + randomInt(command.maxRequestsJitter + 1) : 0
  let served = 0
  const onClose = function (this: ServerResponse): void {
    board!.end(this)
  }
  // Runs before the gateway's listener, once per request: a few stores, no allocation.
  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    if (board !== null) {
      board.begin(response, request.method ?? "", request.url ?? "")
      response.on("close", onClose)
    }
    if (draining) response.shouldKeepAlive = false
    else if (++served === limit) send({ effectWsgi: "recycle", served })
  }
  // node:http2's compat objects (--http2, --h2c) carry what the board and the recycling
  // need (a "close" event, a settable shouldKeepAlive), so the one listener serves all three.
  for (const server of serving) {
    const net = server.server as NetServer
    net.prependListener("request", onRequest as (...args: Array<unknown>) => void)
    net.prependListener("checkContinue", onRequest as (...args: Array<unknown>) => void)
  }
  say(`serving ${command.file} on ${urls(serving)} (worker ${process.pid})`)
}
