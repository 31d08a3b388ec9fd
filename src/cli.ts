#!/usr/bin/env node
/**
 * `effect-wsgi serve FILE[:export]`: serve an app module over HTTP, on one process or a
 * `node:cluster` of workers.
 *
 * @since 0.1.0
 */
import cluster from "node:cluster"
import { availableParallelism } from "node:os"
import type { Application } from "./Protocol.js"
import { makeServer } from "./Server.js"
import { validator } from "./Validate.js"
import { type ServeCommand, parseArgs, usage } from "./internal/cli/cliArgs.js"
import { AppLoadError, loadApp } from "./internal/cli/loadApp.js"

/** Exit code of a command-line mistake (bad option, missing file or export). */
const USAGE_ERROR = 2

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

/** One server process: serve until SIGINT/SIGTERM, then close gracefully and exit 0. */
const serve = async (command: ServeCommand): Promise<void> => {
  const app = await load(command)
  const server = await makeServer(command.host, command.port, app, {
    accessLog: !command.quiet,
    ...(command.socketPath === null ? {} : { path: command.socketPath }),
    forwardedAllowIps: command.forwardedAllowIps,
    responseTimeout: command.responseTimeout
  })
  const role = cluster.isWorker ? `worker ${process.pid}` : `pid ${process.pid}`
  process.stderr.write(`effect-wsgi: serving ${command.file} on ${server.url} (${role})\n`)
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`effect-wsgi: close failed: ${String(error)}\n`)
        process.exit(1)
      }
    )
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  // A cluster primary asks its workers to stop with a message (signals may not reach them).
  process.on("message", (message) => {
    if (message === "effect-wsgi:stop") stop()
  })
}

/** The cluster primary: keep `count` workers up, replace any that dies, stop them on a signal. */
const supervise = async (command: ServeCommand, count: number): Promise<void> => {
  await load(command) // fail fast, in the primary, on a bad file or export
  let stopping = false
  const start = (): void => {
    cluster.fork()
  }
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    process.stderr.write(`effect-wsgi: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`)
    start()
  })
  const stop = (): void => {
    if (stopping) return
    stopping = true
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) process.exit(0)
    for (const worker of workers) worker?.send("effect-wsgi:stop")
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
  if (workers > 1 && cluster.isPrimary) await supervise(command, workers)
  else await serve(command)
}

await main()
