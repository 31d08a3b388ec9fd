/**
 * What every serving process of the command line does the same way, alone or as a
 * worker: load the app, and listen with the command's options.
 */
import { lstatSync, unlinkSync } from "node:fs"
import { connect } from "node:net"
import type { Application } from "../../Protocol.js"
import { makeServer, type ServerOptions, type WSGIServer } from "../../Server.js"
import { validator } from "../../Validate.js"
import type { ServeCommand } from "./cliArgs.js"
import { fail, LISTEN_FAILED, say } from "./exit.js"
import { AppLoadError, loadApp } from "./loadApp.js"

/** Load the app, or print the one-line reason and exit 2. */
export const loadOrExit = async (command: ServeCommand): Promise<Application> => {
  try {
    const app = await loadApp(command.file, command.exportName)
    return command.validate ? validator(app) : app
  } catch (error) {
    return fail(error instanceof AppLoadError ? error.message : String(error))
  }
}

/** What the command listens on, for messages. */
export const address = (command: ServeCommand): string =>
  command.socketPath === null ? `${command.host}:${command.port}` : `unix:${command.socketPath}`

/** Listen as the command says, or print why not and exit 3. */
export const listenOrExit = async (command: ServeCommand, app: Application, extra: ServerOptions = {}): Promise<WSGIServer> => {
  try {
    return await makeServer(command.host, command.port, app, {
      accessLog: !command.quiet,
      ...(command.socketPath === null ? {} : { path: command.socketPath }),
      forwardedAllowIps: command.forwardedAllowIps,
      responseTimeout: command.responseTimeout,
      ...extra
    })
  } catch (error) {
    say(`cannot listen on ${address(command)}: ${error instanceof Error ? error.message : String(error)}`)
    return process.exit(LISTEN_FAILED)
  }
}

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
