/**
 * `validator(app)`: CPython's `wsgiref.validate`, the PEP 3333 lint middleware.
 *
 * Put it between a gateway and an application and it checks both sides of every request:
 * the environ and the streams the gateway hands over, and everything the application does
 * with them (its `startResponse` calls, its `write()` calls, the body it returns), and that
 * the gateway iterates and closes that body as PEP 3333 says. It changes nothing about the
 * request or the response (except that the body is wrapped, so a gateway can no longer see
 * that it was an array or a `FileWrapper`).
 *
 * A breach is a thrown `ValidationError` whose message is CPython's `AssertionError` message
 * where CPython has one. A use that is legal but suspicious is a `WSGIWarning`, emitted
 * with `process.emitWarning`. Both are also published on the `validatorChannel`
 * diagnostics channel, so a test harness can see breaches that a gateway caught and turned
 * into a 500 page.
 *
 * @since 0.1.0
 */
import type { Application, HeaderList, ResponseBody, StartResponse, Write } from "./Protocol.js"
import { checkResult, type ResponseState, wrapBody } from "./internal/validate/body.js"
import { checkEnviron } from "./internal/validate/environ.js"
import { assert, isThenable } from "./internal/validate/report.js"
import { repr, tupleRepr } from "./internal/validate/repr.js"
import { checkContentType, checkExcInfo, checkHeaders, checkStatus, wrapWrite } from "./internal/validate/response.js"
import { ErrorWrapper, InputWrapper } from "./internal/validate/streams.js"

export { ValidationError, validatorChannel, WSGIWarning } from "./internal/validate/report.js"

/**
 * Wrap `application` in CPython's `wsgiref.validate` checks. Every request is checked on
 * both sides: the environ and its streams (the gateway), the `startResponse` and `write()`
 * calls and the returned body (the application), and the iteration and closing of that
 * body (the gateway again). A breach throws a `ValidationError` at the point it happens;
 * a suspicious use emits a `WSGIWarning`.
 *
 * Like CPython's, the validated app replaces `wsgi.input` and `wsgi.errors` in the environ
 * it was given with checking wrappers, and returns a wrapped body, so a gateway cannot
 * compute a Content-Length from a one-chunk array or send a `FileWrapper` natively behind
 * it. An async application stays async, a sync one sync.
 *
 * @example
 * ```ts
 * import { makeServer, validator } from "effect-wsgi"
 *
 * const server = await makeServer("127.0.0.1", 8000, validator(app))
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const validator = (application: Application): Application => {
  const lintApp = function(...args: Array<unknown>): ResponseBody | Promise<ResponseBody> {
    assert(args.length === 2, () => "Two arguments required")
    const [environ, startResponse] = args as [unknown, StartResponse]
    checkEnviron(environ)
    assert(
      typeof startResponse === "function",
      () => `startResponse must be a function (got ${repr(startResponse)})`
    )

    const response: ResponseState = { started: false, headersSet: false }

    const startResponseWrapper = (...srArgs: Array<unknown>): Write => {
      assert(srArgs.length === 2 || srArgs.length === 3, () => `Invalid number of arguments: ${tupleRepr(srArgs)}`)
      const [status, headers] = srArgs
      const excInfo = srArgs.length === 3 ? srArgs[2] : undefined
      checkStatus(status)
      checkHeaders(headers)
      checkContentType(status as string, headers as HeaderList)
      checkExcInfo(excInfo)
      // PEP 3333: "it is a fatal error to call start_response without the exc_info argument
      // if start_response has already been called".
      assert(
        !response.headersSet || (excInfo !== undefined && excInfo !== null),
        () => "startResponse() called a second time without excInfo"
      )
      response.started = true
      const write: unknown = (startResponse as (...a: Array<unknown>) => unknown)(...srArgs)
      assert(typeof write === "function", () => `startResponse() must return the write() callable (got ${repr(write)})`)
      response.headersSet = true
      return wrapWrite(write as Write)
    }

    environ["wsgi.input"] = new InputWrapper(environ["wsgi.input"])
    environ["wsgi.errors"] = new ErrorWrapper(environ["wsgi.errors"])

    const result: unknown = application(environ, startResponseWrapper as StartResponse)
    if (isThenable(result)) {
      return Promise.resolve(result).then((value) => wrapBody(checkResult(value), response))
    }
    return wrapBody(checkResult(result), response)
  }
  return lintApp as Application
}
