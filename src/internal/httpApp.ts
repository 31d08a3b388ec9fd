/**
 * The runtime half of `toHttpApp`: everything that needs `@effect/platform` at run time
 * (the request side here, the response in `httpAppChannel.ts`).
 * `HttpApp.ts` loads this module with a dynamic `import()` the first time a `toHttpApp` app
 * handles a request, so importing the package does not load the platform.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type { Socket } from "node:net"
import type { Readable } from "node:stream"
import type { ErrorLogShape } from "../ErrorLog.js"
import { fromRecord } from "../EnvironSource.js"
import { runWith } from "../Handler.js"
import type { HandlerConfig } from "../HandlerConfig.js"
import { fromStream } from "../Input.js"
import type { Application } from "../Protocol.js"
import { type NodeResponse, ResponseChannel } from "./httpAppChannel.js"
import { formatLogLine } from "./node/accessLog.js"
import { ServerIdentities } from "./node/serverIdentity.js"
import { requestFlags } from "./core/requestRuntime.js"
import { PullInputStream } from "./pullInput.js"
import { ReadableInputStream } from "./readableInput.js"
import { mountPoint, requestEnviron, type ServerIdentity, unquoteLatin1 } from "./requestEnviron.js"

/** What `toHttpApp` settled when it was called. */
export interface Settings {
  readonly config: HandlerConfig
  readonly errorLog: ErrorLogShape
  /** How many body chunks may wait for the client before `write()` waits. */
  readonly capacity: number
}

// The Node request behind an Effect request, when the server is NodeHttpServer: its raw
// headers keep the client's order and case, and its socket says where the request came
// in and can be cut on an abort.
interface NodeSource {
  readonly rawHeaders: ReadonlyArray<string>
  readonly httpVersion: string
  readonly socket?: Socket
}

const nodeSource = (request: HttpServerRequest.HttpServerRequest): NodeSource | undefined => {
  const source = request.source as Partial<NodeSource> | null
  return source !== null && typeof source === "object" && Array.isArray(source.rawHeaders)
    ? (source as NodeSource)
    : undefined
}

/**
 * The `ServerResponse` NodeHttpServer will write (what its `toServerResponse` reads), so
 * the app's reason phrase and a connection that must close reach node before the head.
 */
const nodeResponseOf = (request: HttpServerRequest.HttpServerRequest): NodeResponse | undefined => {
  const response = (request as { readonly response?: unknown }).response
  return response !== null && typeof response === "object" && "statusMessage" in response && "shouldKeepAlive" in response
    ? (response as NodeResponse)
    : undefined
}

/** A pull source over an Effect stream, through the web-streams reader it converts to. */
const pullStream = (stream: Stream.Stream<Uint8Array, unknown>) => {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  return async (): Promise<Uint8Array | null> => {
    reader ??= Stream.toReadableStream(stream).getReader()
    const next = await reader.read()
    return next.done ? null : next.value
  }
}

// SERVER_NAME and SERVER_PORT of requests on node sockets, read once per server or connection.
const identities = new Map<string, ServerIdentities>()
const identitiesOf = (serverSoftware: string): ServerIdentities => {
  let found = identities.get(serverSoftware)
  if (found === undefined) identities.set(serverSoftware, found = new ServerIdentities(serverSoftware))
  return found
}

/**
 * The Host of a request that has no node socket: its Host header, else the authority of
 * the URL it was made for (a web `Request`'s own URL; its Host header is computed when it
 * is sent, so a Request built in process has none).
 */
const hostOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const header = request.headers["host"]
  if (header !== undefined) return header
  const url = (request.source as { readonly url?: unknown } | null)?.url
  if (typeof url !== "string") return ""
  try {
    return new URL(url).host
  } catch {
    return ""
  }
}

/**
 * SERVER_NAME and SERVER_PORT. On a node socket, CPython's rule, as makeServer and
 * toNodeListener follow it (the address the server listens on). A request from elsewhere
 * (a web handler) has no socket to ask: its host, as CGI allows.
 */
const serverIdentity = (node: NodeSource | undefined, host: string, serverSoftware: string): ServerIdentity => {
  if (node?.socket !== undefined) return identitiesOf(serverSoftware).of(node.socket)
  const portMatch = /:(\d+)$/.exec(host)
  return {
    serverName: portMatch === null ? host || "localhost" : host.slice(0, portMatch.index),
    serverPort: portMatch === null ? "80" : portMatch[1]!,
    serverSoftware
  }
}

/** The headers of a request that has no node socket, with its host when it sent none. */
const webHeaders = (request: HttpServerRequest.HttpServerRequest, host: string): ReadonlyArray<string> => {
  const raw = Object.entries(request.headers).flat()
  return request.headers["host"] === undefined && host !== "" ? ["host", host, ...raw] : raw
}

/** Handle one request of a `toHttpApp` app: the app runs in a fiber of the request's own. */
export const handle = (
  app: Application,
  { capacity, config, errorLog }: Settings
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
  // One step: the request is read from the fiber's context (every HttpServer provides it).
  Effect.withFiberRuntime((requestFiber) => {
    const request = Context.unsafeGet(requestFiber.currentContext, HttpServerRequest.HttpServerRequest)
    const node = nodeSource(request)
    const remoteAddress = Option.getOrElse(request.remoteAddress, () => "")
    const host = node === undefined ? hostOf(request) : ""
    const environ = requestEnviron(
      {
        method: request.method,
        target: request.url,
        protocol: node === undefined ? "HTTP/1.1" : `HTTP/${node.httpVersion}`,
        rawHeaders: node === undefined ? webHeaders(request, host) : node.rawHeaders,
        remoteAddress
      },
      serverIdentity(node, host, config.serverSoftware ?? "effect-wsgi")
    )
    // A body read to its end: chunked, or a web request's stream (its length is not told).
    if (node === undefined || request.headers["transfer-encoding"] !== undefined) environ["wsgi.input_terminated"] = true
    // Mounted under a prefix (HttpRouter.mountApp): the prefix is the app's SCRIPT_NAME.
    const mounted = mountPoint(request.originalUrl, request.url)
    if (mounted !== null) {
      environ["SCRIPT_NAME"] = unquoteLatin1(mounted.scriptName)
      environ["PATH_INFO"] = unquoteLatin1(mounted.pathInfo)
    }
    const input = node === undefined
      ? new PullInputStream(pullStream(request.stream))
      : new ReadableInputStream(request.source as Readable)
    const response = new ResponseChannel({
      method: request.method,
      capacity,
      node: node === undefined ? undefined : nodeResponseOf(request),
      socket: node?.socket,
      log: (message) => {
        try {
          errorLog.stream.write(`${formatLogLine(remoteAddress || "-", `${request.method} ${request.originalUrl.startsWith("/") ? request.originalUrl : request.url}: ${message}`)}\n`)
        } catch {
          // Nowhere left to report it.
        }
      }
    })
    // Started at once on the request's runtime: an app that finishes without waiting (the
    // usual case) has its whole response ready before this returns.
    const child = Runtime.runFork(
      Runtime.make({
        context: requestFiber.currentContext,
        fiberRefs: requestFiber.getFiberRefs(),
        runtimeFlags: requestFlags
      })
    )(runWith(app, { output: response, input: fromStream(input), errorLog, environSource: fromRecord(environ) }, config))
    const exit = child.unsafePoll()
    if (exit !== null) {
      response.end(exit)
      const ready = response.readyResponse
      if (ready !== null) return Effect.succeed(ready)
    } else {
      // Interrupted (the client left, the server stops): the response is dropped, not ended.
      child.addObserver((exit) => {
        if (!(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause))) response.end(exit)
      })
    }
    // Otherwise it lives as long as someone waits for its response: the request's fiber
    // until the head is ready, then the body's reader (which may be a web Response read
    // after the request's fiber is done). A client that leaves, or a server that shuts
    // down, interrupts it, which stops the app's body and closes its result once.
    response.stopWith(child)
    return Effect.onInterrupt(response.awaitResponse(), () => Fiber.interrupt(child))
  })
