#!/usr/bin/env node
/**
 * `effect-wsgi serve FILE[:export]`: serve an app module over HTTP, in one process or in
 * supervised `node:cluster` workers. The working parts are in `src/internal/cli/`: the
 * arguments (`cliArgs.ts`), a lone process (`standalone.ts`), the supervisor
 * (`supervisor.ts`) and its workers (`worker.ts`).
 *
 * @since 0.1.0
 */
import cluster from "node:cluster"
import { availableParallelism } from "node:os"
import { isSupervised, parseArgs, usage } from "./internal/cli/cliArgs.js"
import { USAGE_ERROR } from "./internal/cli/exit.js"
import { removeStaleSocket } from "./internal/cli/listen.js"
import { serveStandalone } from "./internal/cli/standalone.js"
import { supervise } from "./internal/cli/supervisor.js"
import { runWorker } from "./internal/cli/worker.js"

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
  // A worker runs the same command line as its supervisor.
  if (cluster.isWorker) return runWorker(parsed)
  if (parsed.socketPath !== null) await removeStaleSocket(parsed.socketPath)
  if (isSupervised(parsed)) await supervise(parsed, parsed.workers === 0 ? availableParallelism() : parsed.workers)
  else await serveStandalone(parsed)
}

await main()
