/**
 * Every app a server or handler test runs goes through `underTest`, so the whole suite can
 * run a second time with each app wrapped in `validator` (WSGI_VALIDATE=1, the "validated"
 * vitest project): that run shows the gateways themselves keep PEP 3333.
 *
 * In that run a test fails when the validator reported anything while it ran, a
 * `ValidationError` or a `WSGIWarning`, even one the gateway caught and turned into a 500
 * page the test was happy with. The reports come from the validator's diagnostics channel,
 * synchronously, so they are pinned to the test that caused them.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { afterAll, afterEach } from "vitest"
import type { Application } from "../../src/Protocol.js"
import { validator, validatorChannel } from "../../src/Validate.js"

/** True in the validated run (WSGI_VALIDATE=1). For `describe.skipIf(validating)`. */
export const validating = process.env["WSGI_VALIDATE"] === "1"

/** Options of `underTest`. */
export interface UnderTestOptions {
  /**
   * False for a test that breaks PEP 3333 on purpose (an app that sends a bad status, a
   * fake server that hands over a broken environ): the validator would rightly refuse it,
   * so it runs unwrapped in the validated run too.
   */
  readonly validate?: boolean
}

/** The app as the test wrote it, or wrapped in `validator` when WSGI_VALIDATE=1. */
export const underTest = (app: Application, options: UnderTestOptions = {}): Application =>
  validating && options.validate !== false ? validator(app) : app

const reported: Array<Error> = []
const record = (message: unknown): void => {
  reported.push(message instanceof Error ? message : new Error(String(message)))
}

/** V8's `gc()`, reached without a command-line flag. */
const collectGarbage = (): void => {
  setFlagsFromString("--expose-gc")
  ;(runInNewContext("gc") as () => void)()
}

if (validating) {
  // This module is evaluated once per test file, so these hooks belong to the file's root
  // suite: they run after every test of every file that imports underTest.
  subscribe(validatorChannel, record)
  afterEach(async () => {
    // A gateway may still be closing the body of the last response (the client already had
    // all of it); give that a turn before reading the record.
    await new Promise<void>((resolve) => setImmediate(resolve))
    // Bodies dropped unclosed are only seen when collected: collect now, then let the
    // finalizers run, so a leak is blamed on this test.
    collectGarbage()
    await new Promise<void>((resolve) => setTimeout(resolve, 5))
    if (reported.length === 0) return
    const found = reported.splice(0)
    throw new Error(
      `validator reported ${found.length} PEP 3333 problem(s) during this test:\n` +
        found.map((error) => `  ${error.name}: ${error.message}`).join("\n")
    )
  })
  // Test files share a worker process; the next file subscribes its own recorder.
  afterAll(() => {
    unsubscribe(validatorChannel, record)
  })
}
