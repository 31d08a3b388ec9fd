#!/usr/bin/env node
/**
 * `effect-wsgi serve FILE[:export]`: serve an app module over HTTP, on one process or a
 * `node:cluster` of workers.
 *
 * @since 0.1.0
 */
import cluster, { type Worker } from "node:cluster"
import { lstatSync, unlinkSync } from "node:fs"
import { connect } from "node:net"
import { availableParallelism } from "node:os"
import type { Application } from "./Protocol.js"
import { makeServer, type WSGIServer } from "./Server.js"
import { validator } from "./Validate.js"
import { type ServeCommand, parseArgs, usage } from "./internal/cli/cliArgs.js"
import { AppLoadError, loadApp } from "./internal/cli/loadApp.js"

/** Exit code of a command-line mistake (bad option, missing file or export). */
const USAGE_ERROR = 2
/**
 * Exit code of a server that cannot listen (address in use, no permission). A cluster
 * primary whose worker exits with it stops instead of starting another, which would fail
 * the same way, forever.
 */
const LISTEN_FAILED = 3

const fail = (message: string): never => {
  process.stderr.write(`effect-wsgi: ${message}\n`)
  process.exit(USAGE_ERROR)
}

/** Load the app, or print the one-line reason and exit 2. */
const load = async (command: ServeCommand): Promise<Application> => {
  try {
    const app = await loadApp(command.file, command.exportName)
    return command.validate ? validator(app) : app
  } catch (error) {
    return fail(error instanceof AppLoadError ? error.message : String(error))
  }
}

/** What the command listens on, for messages. */
const address = (command: ServeCommand): string =>
  command.socketPath === null ? `${command.host}:${command.port}` : `unix:${command.socketPath}`

/**
 * A unix socket file left by a server that is gone (killed, crashed) makes listening fail
 * with EADDRINUSE, so a restarted server could never start again. Remove it when nothing
 * answers on it (as gunicorn does); a socket a live server listens on is left alone.
 */
const removeStaleSocket = async (path: string): Promise<void> => {
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

/** One server process: serve until SIGINT/SIGTERM, then close gracefully and exit 0. */
const serve = async (command: ServeCommand): Promise<void> => {
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
        process.stderr.write(`effect-wsgi: close failed: ${String(error)}\n`)
        process.exit(1)
      }
    )
  }
  // Listened for from the start: a stop that comes while the app loads is not lost.
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  // A cluster primary asks its workers to stop with a message (signals may not reach them).
  process.on("message", (message) => {
    if (message === "effect-wsgi:stop") stop()
  })
  const app = await load(command)
  try {
    server = await makeServer(command.host, command.port, app, {
      accessLog: !command.quiet,
      ...(command.socketPath === null ? {} : { path: command.socketPath }),
      forwardedAllowIps: command.forwardedAllowIps,
      responseTimeout: command.responseTimeout
    })
  } catch (error) {
    process.stderr.write(`effect-wsgi: cannot listen on ${address(command)}: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(LISTEN_FAILED)
  }
  const role = cluster.isWorker ? `worker ${process.pid}` : `pid ${process.pid}`
  process.stderr.write(`effect-wsgi: serving ${command.file} on ${server.url} (${role})\n`)
}

/** The cluster primary: keep `count` workers up, replace any that dies, stop them on a signal. */
const supervise = async (command: ServeCommand, count: number): Promise<void> => {
  await load(command) // fail fast, in the primary, on a bad file or export
  let stopping = false
  let exitCode = 0
  const start = (): void => {
    cluster.fork()
  }
  // Workers that listen (and so may have requests in flight); the others are still starting.
  const listening = new Set<number>()
  cluster.on("listening", (worker) => listening.add(worker.id))
  const alive = (): Array<Worker> =>
    Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead())
  cluster.on("exit", (worker, code, signal) => {
    listening.delete(worker.id)
    if (!stopping && code === LISTEN_FAILED) {
      process.stderr.write(`effect-wsgi: worker ${worker.process.pid} cannot listen; stopping\n`)
      exitCode = LISTEN_FAILED
      stop()
      return
    }
    if (stopping) {
      if (alive().length === 0) process.exit(exitCode)
      return
    }
    process.stderr.write(`effect-wsgi: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`)
    start()
  })
  const stop = (): void => {
    if (stopping) return
    stopping = true
    const workers = alive()
    if (workers.length === 0) process.exit(exitCode)
    for (const worker of workers) {
      // A worker still starting may not hear a message yet, and has nothing in flight.
      if (listening.has(worker.id) && worker.isConnected()) worker.send("effect-wsgi:stop")
      else worker.process.kill("SIGTERM")
    }
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  for (let i = 0; i < count; i++) start()
  process.stderr.write(`effect-wsgi: primary ${process.pid} started ${count} workers\n`)
}

const main = async (): Promise<void> => {
  const parsed = parseArgs(process.argv.slice(2))
  if (parsed.command === "help") {
    process.stdout.write(usage)
    return
  }
  if (parsed.command === "error") {
    process.stderr.write(`effect-wsgi: ${parsed.message}\n${usage}`)
    process.exit(USAGE_ERROR)
  }
  const command = parsed as ServeCommand
  const workers = command.workers === 0 ? availableParallelism() : command.workers
  if (command.socketPath !== null && cluster.isPrimary) await removeStaleSocket(command.socketPath)
  if (workers > 1 && cluster.isPrimary) await supervise(command, workers)
  else await serve(command)
}

await main()
