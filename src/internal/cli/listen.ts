/**
 * What every serving process of the command line does the same way, alone or as a
 * worker: load the app, and listen with the command's options.
 */
import { lstatSync, unlinkSync } from "node:fs"
import { connect } from "node:net"
import type { Application } from "../../Protocol.js"
import type { Server } from "node:http"
import type { Http2SecureServer, Http2Server } from "node:http2"
import { makeServer, type ServerOptions, type WSGIServer } from "../../Server.js"
import { validator } from "../../Validate.js"
import { secureServerOptions } from "./certificates.js"
import type { ServeCommand } from "./cliArgs.js"
import { fail, LISTEN_FAILED, say } from "./exit.js"
import { AppLoadError, loadApp } from "./loadApp.js"
import { type Bind, formatBind } from "./sockets.js"

/** Load the app, or print the one-line reason and exit 2. */
export const loadOrExit = async (command: ServeCommand): Promise<Application> => {
  try {
    const app = await loadApp(command.file, command.exportName)
    return command.validate ? validator(app) : app
  } catch (error) {
    return fail(error instanceof AppLoadError ? error.message : String(error))
  }
}

/** Where `bind` listens, as `makeServer`'s host, port and options. */
const where = (bind: Bind): { host: string; port: number; options: ServerOptions } => {
  switch (bind.kind) {
    case "tcp":
      return { host: bind.host, port: bind.port, options: {} }
    case "unix":
      return { host: "", port: 0, options: { path: bind.path } }
    case "fd":
      return { host: "", port: 0, options: { fd: bind.fd } }
  }
}

/** The server a command listens with: node:http's, or node:http2's with --http2 or --h2c. */
export type CliServer = WSGIServer<Server | Http2Server | Http2SecureServer>

/**
 * Listen on each of `binds` as the command says (one server per address, all serving
 * `app`), or print why not and exit 3 (2 for unreadable certificate files).
 */
export const listenOrExit = async (
  command: ServeCommand,
  binds: ReadonlyArray<Bind>,
  app: Application,
  extra: ServerOptions = {}
): Promise<ReadonlyArray<CliServer>> => {
  // Read before listening: a certificate file that cannot be read is a usage error, not a listen failure.
  const secure = secureServerOptions(command)
  const servers: Array<CliServer> = []
  for (const bind of binds) {
    const { host, port, options } = where(bind)
    try {
      servers.push(await makeServer(host, port, app, {
        accessLog: !command.quiet,
        forwardedAllowIps: command.forwardedAllowIps,
        responseTimeout: command.responseTimeout,
        ...secure,
        ...extra,
        ...options
      }))
    } catch (error) {
      say(`cannot listen on ${formatBind(bind)}: ${error instanceof Error ? error.message : String(error)}`)
      return process.exit(LISTEN_FAILED)
    }
  }
  return servers
}

/** The servers' URLs, for the line that says where the app is served. */
export const urls = (servers: ReadonlyArray<CliServer>): string => servers.map((server) => server.url).join(", ")

/**
 * A unix socket file left by a server that is gone (killed, crashed) makes listening fail
 * with EADDRINUSE, so a restarted server could never start again. Remove it when nothing
 * answers on it (as gunicorn does); a socket a live server listens on is left alone.
 */
export const removeStaleSocket = async (path: string): Promise<void> => {
  try {
    if (!lstatSync(path).isSocket()) return
  } catch {
    return // nothing there
  }
  const stale = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once("connect", () => {
      probe.destroy()
      resolve(false)
    })
    probe.once("error", (error: Error & { code?: string }) => resolve(error.code === "ECONNREFUSED"))
  })
  if (stale) unlinkSync(path)
}
