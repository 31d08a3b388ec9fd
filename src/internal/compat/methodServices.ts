/**
 * The four services of a `BaseHandler`, over the methods CPython's subclasses provide:
 * `getStdin`, `getStderr`, `_write`/`_flush` and `addCgiVars`.
 */
import * as Effect from "effect/Effect"
import * as ErrorLog from "../../ErrorLog.js"
import type { ErrorLogShape } from "../../ErrorLog.js"
import type { EnvironSourceShape } from "../../EnvironSource.js"
import { type ClientDisconnected, type InputError, OutputError } from "../../HandlerError.js"
import { type InputShape, readStream } from "../../Input.js"
import type { OutputShape } from "../../Output.js"
import type { CgiVariables, Environ, ErrorStream, InputStream } from "../../Protocol.js"
import { attemptCall } from "../core/call.js"
import { copyEnviron } from "../environCopy.js"
import { toOutputFailure } from "../sink.js"

/** What the services call on the handler: the primitives a `BaseHandler` subclass provides. */
export interface HandlerPrimitives {
  /** The environ of the request in hand. */
  environ: Environ | null
  /** The base of every environ. */
  readonly osEnviron: Readonly<CgiVariables>
  _write(data: Uint8Array): void | Promise<void>
  _flush(): void | Promise<void>
  getStdin(): InputStream
  getStderr(): ErrorStream
  addCgiVars(): void
}

/** `_write`/`_flush` as an output effect: anything they throw is an output failure. */
const fromOutputMethod = (call: () => void | PromiseLike<void>): Effect.Effect<void, OutputError | ClientDisconnected> =>
  attemptCall(call, toOutputFailure)

/** `wsgi.input`: the handler's `getStdin()`. */
export class HandlerInput implements InputShape {
  constructor(private readonly handler: HandlerPrimitives) {}
  get stream(): InputStream {
    return this.handler.getStdin()
  }
  read(size?: number): Effect.Effect<Uint8Array, InputError> {
    return Effect.suspend(() => readStream(this.handler.getStdin(), size))
  }
}

/** `wsgi.errors` is `getStderr()` itself, as in CPython, asked for when needed. */
export class HandlerErrorLog implements ErrorLogShape {
  constructor(private readonly handler: HandlerPrimitives) {}
  get stream(): ErrorStream {
    return this.handler.getStderr()
  }
  logException(error: unknown, tracebackLimit: number | null): Effect.Effect<void, OutputError> {
    return Effect.suspend(() => {
      let stderr: ErrorStream
      try {
        stderr = this.handler.getStderr()
      } catch (cause) {
        return Effect.fail(new OutputError({ message: "getStderr() failed", cause }))
      }
      return ErrorLog.fromStream(stderr).logException(error, tracebackLimit)
    })
  }
}

/** Output through the handler's `_write` and `_flush`. */
export class MethodOutput implements OutputShape {
  constructor(private readonly handler: HandlerPrimitives) {}
  write(data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    return fromOutputMethod(() => this.handler._write(data))
  }
  flush(): Effect.Effect<void, OutputError | ClientDisconnected> {
    return fromOutputMethod(() => this.handler._flush())
  }
}

/**
 * The request variables through the handler's `addCgiVars`, which adds them to
 * `this.environ` (a copy of `osEnviron`, as CPython's `setup_environ` makes before).
 */
export class MethodEnvironSource implements EnvironSourceShape {
  constructor(private readonly handler: HandlerPrimitives) {}
  readonly variables = Effect.suspend(() => {
    const handler = this.handler
    const before = handler.environ
    handler.environ = copyEnviron(handler.osEnviron) as Environ
    try {
      handler.addCgiVars()
      return Effect.succeed<CgiVariables>(handler.environ!)
    } catch (cause) {
      return Effect.die(cause)
    } finally {
      handler.environ = before
    }
  })
}
