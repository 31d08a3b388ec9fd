/**
 * The `effect-wsgi` command (see `src/cli.ts`): read the arguments and the configuration,
 * then serve in one process, supervise workers, or be a worker.
 *
 * The build bundles this module with all it imports (Effect included) into one file in
 * `dist/internal/cli/` (`scripts/bundle.mjs`).
 */
import cluster from "node:cluster"
import { availableParallelism } from "node:os"
import { isSupervised, parseArgs, usage } from "./cliArgs.js"
import { checkConfig, ConfigError, resolveArgs, type ResolvedArgs } from "./config.js"
import { readCertificatesOrExit } from "./certificates.js"
import { USAGE_ERROR } from "./exit.js"
import { removeStaleSocket } from "./listen.js"
import { serveStandalone } from "./standalone.js"
import { supervise } from "./supervisor.js"
import { runWorker } from "./worker.js"

const main = async (): Promise<void> => {
  let resolved: ResolvedArgs
  try {
    resolved = await resolveArgs(process.argv.slice(2), process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`effect-wsgi: ${error.message}\n`)
    return process.exit(USAGE_ERROR)
  }
  const parsed = parseArgs(resolved.argv)
  if (parsed.command === "help") {
    process.stdout.write(usage)
    return
  }
  if (parsed.command === "error") {
    // --check-config's answer is the problem alone, not the usage text after it.
    process.stderr.write(`effect-wsgi: ${parsed.message}\n${resolved.mode === "check" ? "" : usage}`)
    process.exit(USAGE_ERROR)
  }
  if (resolved.mode === "print") {
    const { command: _, ...options } = parsed
    process.stdout.write(`${JSON.stringify(options, null, 2)}\n`)
    return
  }
  if (resolved.mode === "check") {
    const problems = await checkConfig(parsed)
    for (const problem of problems) process.stderr.write(`effect-wsgi: ${problem}\n`)
    if (problems.length > 0) process.exit(USAGE_ERROR)
    process.stdout.write(`effect-wsgi: ${resolved.configFile ?? "the command line"} and ${parsed.file} are fine\n`)
    return process.exit(0)
  }
  // A worker runs the same command line as its supervisor.
  if (cluster.isWorker) return runWorker(parsed)
  // Unreadable certificate files stop the command here, not each worker in turn.
  readCertificatesOrExit(parsed)
  for (const bind of parsed.binds) if (bind.kind === "unix") await removeStaleSocket(bind.path)
  if (isSupervised(parsed)) await supervise(parsed, parsed.workers === 0 ? availableParallelism() : parsed.workers)
  else await serveStandalone(parsed)
}

await main()
