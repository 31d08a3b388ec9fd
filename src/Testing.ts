/**
 * In-memory services for tests: a request whose response and error log can be read back,
 * byte for byte.
 *
 * @since 0.1.0
 */
import type * as Layer from "effect/Layer"
import { fromRecord } from "./EnvironSource.js"
import { type MemoryErrorLog, memory as memoryErrorLog } from "./ErrorLog.js"
import { type HandlerServices, layer, type RequestServices } from "./Handler.js"
import { fromBytes } from "./Input.js"
import { type MemoryOutput, memory as memoryOutput } from "./Output.js"
import type { CgiVariables } from "./Protocol.js"
import { setupTestingDefaults } from "./Util.js"

/**
 * One in-memory request: its services, as a layer and as values, and what it produced.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestRequest {
  /** All five services. */
  readonly layer: Layer.Layer<HandlerServices>
  /** The same services as plain values (for `runWith`). */
  readonly services: RequestServices
  /** The response bytes. */
  readonly output: MemoryOutput
  /** What was written to `wsgi.errors`. */
  readonly errors: MemoryErrorLog
  /** The CGI variables of the request. */
  readonly environ: CgiVariables
}

/**
 * Make an in-memory request: `environ` completed by `setupTestingDefaults`, `body` as
 * `wsgi.input`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const request = (options: { readonly environ?: Readonly<CgiVariables>; readonly body?: Uint8Array | string } = {}): TestRequest => {
  const environ: CgiVariables = { QUERY_STRING: "", ...options.environ }
  setupTestingDefaults(environ)
  // The handler adds its own wsgi.* keys; keep only the CGI ones here.
  for (const key of Object.keys(environ)) if (key.startsWith("wsgi.")) delete environ[key]
  const output = memoryOutput()
  const errors = memoryErrorLog()
  const services: RequestServices = {
    output,
    input: fromBytes(options.body),
    errorLog: errors,
    environSource: fromRecord(environ)
  }
  return { layer: layer(services), services, output, errors, environ }
}
