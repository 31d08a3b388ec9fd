/**
 * CPython's `BaseHandler` steps of the response head: `startResponse` and its checks, the
 * headers the gateway adds or fixes (Content-Length, Date, Server), and sending the head
 * once, to a sink that frames the response itself or as latin-1 bytes.
 */
import * as Effect from "effect/Effect"
import type { Handling, StepEffect } from "../../Handler.js"
import { ProtocolError } from "../../HandlerError.js"
import { HeaderPairs, Headers } from "../../Headers.js"
import type { HeaderList } from "../../Protocol.js"
import { httpDateNow } from "../httpDate.js"
import { isLatin1 } from "../latin1.js"
import { callOutput } from "./call.js"
import { userFailure } from "./failure.js"
import { hasUnsafeChar, isToken } from "../headerChars.js"
import { checkHeaders, checkStatus, copyHeaderList, isBodylessStatus } from "./responseChecks.js"

export const startResponse = (h: Handling, status: string, headers: HeaderList, excInfo?: unknown): void => {
  const state = h.state
  if (excInfo !== undefined && excInfo !== null && excInfo !== false) {
    // PEP 3333: too late to change the response; re-raise the app's error.
    if (state.headersSent) throw excInfo
  } else if (state.headers !== null) {
    throw new ProtocolError({ message: "Headers already set!" })
  }
  checkStatus(status)
  // Checked on a copy, so the app cannot change the list after it passed the checks.
  const copy = copyHeaderList(headers)
  checkHeaders(copy)
  state.status = status
  state.headers = new h.config.headersClass(copy)
}

/** `headers.has(name)`; on a plain Headers, a search by the lower-case name as given. */
const hasHeader = (headers: Headers, name: string, lowered: string): boolean =>
  HeaderPairs.isPlain(headers) ? HeaderPairs.find(headers, lowered) !== null : headers.has(name)

export const cleanupHeaders = (h: Handling): void => {
  if (!hasHeader(h.state.headers!, "Content-Length", "content-length")) h.steps.setContentLength(h)
}

export const setContentLength = (h: Handling): void => {
  const state = h.state
  // CPython sets it when the result has exactly one block (len(result) == 1).
  if (!Array.isArray(state.result) || state.result.length !== 1 || isBodylessStatus(state.status!)) return
  const headers = state.headers!
  const length = String(state.bytesSent)
  // `set` when absent is one push (the usual case: cleanupHeaders just looked).
  if (HeaderPairs.isPlain(headers) && HeaderPairs.find(headers, "content-length") === null) {
    HeaderPairs.of(headers).push(["Content-Length", length])
  } else {
    headers.set("Content-Length", length)
  }
}

/** The Date and Server headers an origin server adds unless the app set them. */
const gatewayHeaders = (h: Handling): HeaderList => {
  const { config, state } = h
  const headers = state.headers!
  const added: HeaderList = []
  if (!hasHeader(headers, "Date", "date")) added.push(["Date", httpDateNow(h.clock)])
  if (config.serverSoftware && !hasHeader(headers, "Server", "server")) added.push(["Server", config.serverSoftware])
  return added
}

/** The status line (or CGI `Status:`) and the headers the gateway adds, as text. */
const preambleText = (h: Handling): string => {
  const { config, state } = h
  if (!config.originServer) return `Status: ${state.status}\r\n`
  let text = `HTTP/${config.httpVersion} ${state.status}\r\n`
  for (const [name, value] of gatewayHeaders(h)) text += `${name}: ${value}\r\n`
  return text
}

/**
 * True when the head can only hold text `startResponse` already checked: the default steps
 * and Headers class (no override could have changed the headers since), and a latin-1
 * `serverSoftware`. Saves a scan of the whole head on every response.
 */
const headIsLatin1 = (h: Handling): boolean =>
  h.steps.startResponse === startResponse && h.steps.cleanupHeaders === cleanupHeaders &&
  h.steps.setContentLength === setContentLength && h.config.headersClass === Headers &&
  (h.config.serverSoftware === null || isLatin1(h.config.serverSoftware))

/**
 * Where an override could have changed the head since `startResponse` checked it (a step,
 * a `Headers` subclass, a `serverSoftware`), its pairs are checked once more as they go
 * out: no path puts a line break into the head.
 */
const headProblem = (h: Handling): ProtocolError | null => {
  if (headIsLatin1(h)) return null
  const software = h.config.serverSoftware
  if (software !== null && hasUnsafeChar(software)) {
    return new ProtocolError({ message: `serverSoftware contains a control or non-latin-1 character: ${JSON.stringify(software)}` })
  }
  for (const [name, value] of h.state.headers!.items()) {
    if (!isToken(name)) return new ProtocolError({ message: `Header name ${JSON.stringify(name)} is not an HTTP token` })
    if (hasUnsafeChar(value)) {
      return new ProtocolError({ message: `Header value of ${name} contains a control or non-latin-1 character: ${JSON.stringify(value)}` })
    }
  }
  return null
}

/** Encode and send head text (`text` may run user code: a `Headers` subclass). */
const writeText = (h: Handling, text: (h: Handling) => string): StepEffect => {
  let head: string
  try {
    head = text(h)
  } catch (cause) {
    return Effect.fail(userFailure(cause))
  }
  if (!headIsLatin1(h) && !isLatin1(head)) {
    return Effect.fail(new ProtocolError({ message: `response headers must be latin-1 text: ${JSON.stringify(head)}` }))
  }
  const problem = h.state.headers === null ? null : headProblem(h)
  if (problem !== null) return Effect.fail(problem)
  if (head.length === 0) return Effect.void
  const bytes = Buffer.from(head, "latin1")
  return callOutput(() => h.services.output.write(bytes))
}

export const sendPreamble = (h: Handling): StepEffect => Effect.suspend(() => writeText(h, preambleText))

/** The whole head: the preamble and the header block. */
const headText = (h: Handling): string => preambleText(h) + h.state.headers!.toString()

const headerBlock = (h: Handling): string => h.state.headers!.toString()

/**
 * The headers for a sink that frames the response itself: the gateway's, then the app's
 * (the pairs themselves on a plain Headers: the sink reads them, see `Output.sendHead`).
 */
const headList = (h: Handling): HeaderList => {
  const headers = h.state.headers!
  const pairs = HeaderPairs.isPlain(headers) ? HeaderPairs.of(headers) : headers.items()
  const list = h.config.originServer ? gatewayHeaders(h) : []
  for (let i = 0; i < pairs.length; i++) list.push(pairs[i]!)
  return list
}

/** The head goes out (when run inside a step): to a sink that frames it itself, or as bytes. */
const sendHead = (h: Handling): StepEffect => {
  const output = h.services.output
  if (output.sendHead !== undefined) {
    const problem = headProblem(h)
    if (problem !== null) return Effect.fail(problem)
    let headers: HeaderList
    try {
      headers = headList(h)
    } catch (cause) {
      return Effect.fail(userFailure(cause))
    }
    return callOutput(() => output.sendHead!(h.state.status!, headers))
  }
  // The status line and headers go out as one buffer unless sendPreamble was overridden.
  if (h.steps.sendPreamble === sendPreamble) return writeText(h, headText)
  return Effect.flatMap(h.steps.sendPreamble(h), () => writeText(h, headerBlock))
}

export const sendHeaders = (h: Handling): StepEffect =>
  Effect.suspend(() => Effect.map(sendHeadersNow(h), () => headSent(h)))

/**
 * `sendHeaders` for a default step already running (`write`, `finishContent`): the same
 * work without a frame of its own. The caller runs `headSent` once it succeeded, in the
 * continuation it has anyway.
 */
export const sendHeadersNow = (h: Handling): StepEffect => {
  const { config, state, steps } = h
  // Overridden steps (cleanupHeaders, clientIsModern) may throw: a failure like any other.
  try {
    steps.cleanupHeaders(h)
    state.headersSent = true
    h.suppressBody = config.originServer && state.environ?.["REQUEST_METHOD"] === "HEAD"
    if (config.originServer && !steps.clientIsModern(h)) return Effect.void
  } catch (cause) {
    return Effect.fail(userFailure(cause))
  }
  return sendHeadOnce(h)
}

/**
 * `sendHead`, remembering that it has not gone out until the caller says so (`headSent`):
 * the headers count as sent (CPython's rule: the response can no longer be replaced), but
 * a `write` run again after a failure (`Effect.retry` around the step) sends the head
 * again before its body.
 */
export const sendHeadOnce = (h: Handling): StepEffect => {
  h.headPending = true
  return sendHead(h)
}

/** The head went out. */
export const headSent = (h: Handling): void => {
  h.headPending = false
}

export const clientIsModern = (h: Handling): boolean => {
  const protocol = h.state.environ?.["SERVER_PROTOCOL"]
  return protocol === "HTTP/1.1" || protocol === "HTTP/1.0" || String(protocol ?? "").toUpperCase() !== "HTTP/0.9"
}
