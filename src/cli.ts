#!/usr/bin/env node
/**
 * `effect-wsgi serve FILE[:export]`: serve an app module over HTTP, in one process or in
 * supervised `node:cluster` workers. The working parts are in `src/internal/cli/`: the
 * command (`main.ts`), the arguments (`cliArgs.ts`), a lone process (`standalone.ts`), the
 * supervisor (`supervisor.ts`) and its workers (`worker.ts`).
 *
 * The build bundles `main.ts` with what it imports, Effect included, into one module: node's
 * ESM loader spends ~180 ms on Effect's 150 small files, and every worker would pay it
 * (first answer of `serve` measured 423–445 ms from many files, 242–248 ms bundled).
 *
 * @since 0.1.0
 */
import "./internal/cli/main.js"
