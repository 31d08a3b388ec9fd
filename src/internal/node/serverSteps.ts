/**
 * What a server adds to the core (CPython's `ServerHandler`): the access log line when a
 * response closes, a body over the limit as a one-line notice and a 413 page; and the apps
 * that refuse a request before the real app runs.
 */
import * as Effect from "effect/Effect"
import type { Steps } from "../../Handler.js"
import type { Application } from "../../Protocol.js"
import { callUser } from "../core/call.js"
import { closeNow, defaultSteps } from "../core/steps.js"
import { formatLogLine } from "./accessLog.js"
import { RequestBodyTooLarge } from "./nodeInput.js"
import { NodeOutput } from "./nodeOutput.js"

const plainText: Array<[string, string]> = [["Content-Type", "text/plain"]]

/** An app that refuses the request with `status` (node:http closes the connection after it). */
export const refusal = (status: string, text: string): Application => {
  const body = Buffer.from(`${text}\n`, "latin1")
  return (_environ, startResponse) => {
    startResponse(status, plainText.map(([name, value]) => [name, value]))
    return [body]
  }
}

/** The status of a request whose body is over `maxBodySize`. */
export const STATUS_TOO_LARGE = "413 Content Too Large"
const tooLargeBody = Buffer.from("The request body is too large.\n", "latin1")

/**
 * The core's steps with a server's additions (CPython's `ServerHandler`). Without an access
 * log the server's `close` is the core's own, which the core then runs in place (no step of
 * its own per request).
 */
export const serverSteps = (accessLog: boolean): Steps => accessLog ? loggingSteps : quietSteps

const quietSteps: Steps = {
  ...defaultSteps,
  // A body over the limit is the client's doing: one line, no stack trace.
  logException: (h, error) => {
    if (!(error instanceof RequestBodyTooLarge)) return defaultSteps.logException(h, error)
    return Effect.sync(() => {
      const output = h.services.output
      const peer = output instanceof NodeOutput ? output.request.socket?.remoteAddress ?? "-" : "-"
      try {
        h.services.errorLog.stream.write(`${formatLogLine(peer, `code 413, message ${error.message}`)}\n`)
      } catch {
        // The error stream itself failed: nothing better to do with a notice.
      }
    })
  },
  errorOutput: (h, error) => {
    if (!(error instanceof RequestBodyTooLarge)) return defaultSteps.errorOutput(h, error)
    return callUser(() => {
      h.startResponse(STATUS_TOO_LARGE, plainText.map(([name, value]) => [name, value]), error)
      return [tooLargeBody]
    })
  }
}

const loggingSteps: Steps = {
  ...quietSteps,
  // CPython's ServerHandler.close: the access log line, then the usual close.
  close: (h) =>
    Effect.suspend(() => {
      const output = h.services.output
      if (output instanceof NodeOutput) {
        output.policy.logAccess(output, h.state.status, h.state.bytesSent)
      }
      return closeNow(h)
    })
}
