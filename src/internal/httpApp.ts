/**
 * The runtime half of `toHttpApp`: everything that needs `@effect/platform` at run time.
 * `HttpApp.ts` loads this module with a dynamic `import()` the first time a `toHttpApp` app
 * handles a request, so importing the package does not load the platform.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import type { ErrorLogShape } from "../ErrorLog.js"
import { fromRecord } from "../EnvironSource.js"
import { runWith } from "../Handler.js"
import type { HandlerConfig } from "../HandlerConfig.js"
import { ClientDisconnected, ResponseAborted } from "../HandlerError.js"
import { fromStream } from "../Input.js"
import type { OutputShape } from "../Output.js"
import type { Application, HeaderList } from "../Protocol.js"
import { PullInputStream } from "./pullInput.js"
import { ReadableInputStream } from "./readableInput.js"
import { requestEnviron, splitTarget, unquoteLatin1 } from "./requestEnviron.js"

/** What `toHttpApp` settled when it was called. */
export interface Settings {
  readonly config: HandlerConfig
  readonly errorLog: ErrorLogShape
  /** How many body chunks may wait for the client before `write()` waits. */
  readonly capacity: number
}

/** What the head of the response will be, once the app has started it. */
interface Head {
  readonly status: string
  readonly headers: HeaderList
}

// The Node request behind an Effect request, when the server is NodeHttpServer: its raw
// headers keep the client's order and case, and its socket can be cut on an abort.
interface NodeSource {
  readonly rawHeaders: ReadonlyArray<string>
  readonly httpVersion: string
  readonly socket?: { destroy(): void; localPort?: number }
}

const nodeSource = (request: HttpServerRequest.HttpServerRequest): NodeSource | undefined => {
  const source = request.source as Partial<NodeSource> | null
  return source !== null && typeof source === "object" && Array.isArray(source.rawHeaders)
    ? (source as NodeSource)
    : undefined
}

/** The part of the original path a router stripped before handing the request on. */
const mountPrefix = (originalUrl: string, url: string): string => {
  if (originalUrl === url) return ""
  const original = splitTarget(originalUrl).path
  const rest = splitTarget(url).path
  return original.endsWith(rest) ? original.slice(0, original.length - rest.length) : ""
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

/** The HTTP response the platform sends, from the app's status and headers. */
const toResponse = (head: Head, body: Stream.Stream<Uint8Array, ResponseAborted>): HttpServerResponse.HttpServerResponse => {
  const code = Number(head.status.slice(0, 3))
  const headers: Record<string, string> = {}
  const setCookies: Array<string> = []
  let contentType: string | undefined
  let contentLength: number | undefined
  for (const [name, value] of head.headers) {
    const key = name.toLowerCase()
    if (key === "set-cookie") setCookies.push(value)
    else if (key === "content-type") contentType = value
    else if (key === "content-length") contentLength = Number(value)
    else headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  return HttpServerResponse.stream(body, {
    status: code,
    statusText: head.status.slice(4),
    headers,
    cookies: setCookies.length > 0 ? Cookies.fromSetCookie(setCookies) : Cookies.empty,
    ...(contentType === undefined ? {} : { contentType }),
    ...(contentLength === undefined || !Number.isSafeInteger(contentLength) ? {} : { contentLength })
  })
}

/** Handle one request of a `toHttpApp` app. */
export const handle = (
  app: Application,
  { capacity, config, errorLog }: Settings
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const node = nodeSource(request)
    const host = request.headers["host"] ?? ""
    const portMatch = /:(\d+)$/.exec(host)
    const environ = requestEnviron(
      {
        method: request.method,
        target: request.url,
        protocol: node === undefined ? "HTTP/1.1" : `HTTP/${node.httpVersion}`,
        rawHeaders: node === undefined ? Object.entries(request.headers).flat() : node.rawHeaders,
        remoteAddress: Option.getOrElse(request.remoteAddress, () => "")
      },
      {
        serverName: portMatch === null ? host || "localhost" : host.slice(0, portMatch.index),
        serverPort: portMatch === null ? String(node?.socket?.localPort ?? 80) : portMatch[1]!,
        serverSoftware: config.serverSoftware ?? "effect-wsgi"
      }
    )
    if (request.headers["transfer-encoding"] !== undefined) environ["wsgi.input_terminated"] = true
    // Mounted under a prefix (HttpRouter.mountApp): the prefix is the app's SCRIPT_NAME.
    const scriptName = mountPrefix(request.originalUrl, request.url)
    if (scriptName !== "") {
      environ["SCRIPT_NAME"] = unquoteLatin1(scriptName)
      environ["PATH_INFO"] = unquoteLatin1(splitTarget(request.url).path)
    }

    const head = yield* Deferred.make<Head>()
    const body = yield* Mailbox.make<Uint8Array, ResponseAborted>(capacity)
    const output: OutputShape = {
      sendHead: (status, headers) =>
        Effect.sync(() => {
          Deferred.unsafeDone(head, Exit.succeed({ status, headers }))
        }),
      write: (data) =>
        Effect.suspend(() => {
          // A copy: the app may reuse its buffer once write() returns.
          const chunk = data.slice()
          if (body.unsafeOffer(chunk)) return Effect.void
          return Effect.flatMap(body.offer(chunk), (taken) =>
            taken ? Effect.void : Effect.fail(new ClientDisconnected({ cause: new Error("the response stream was closed") })))
        }),
      flush: () => Effect.void
    }
    const input = node === undefined
      ? new PullInputStream(pullStream(request.stream))
      : new ReadableInputStream(request.source as Readable)

    const handled = runWith(
      app,
      { output, input: fromStream(input), errorLog, environSource: fromRecord(environ) },
      config
    ).pipe(
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.zipRight(
            error instanceof ResponseAborted
              // Cut the connection: a cleanly ended chunked body would look complete.
              ? Effect.sync(() => node?.socket?.destroy())
              : Effect.void,
            body.fail(error instanceof ResponseAborted ? error : new ResponseAborted({ message: error.message, cause: error }))
          ),
        onSuccess: () => body.end
      }),
      Effect.zipRight(Deferred.succeed(head, { status: "500 Internal Server Error", headers: [] }))
    )
    // The handler runs detached, so an interrupted response still closes the app's result.
    yield* Effect.forkDaemon(handled)
    const started = yield* Deferred.await(head)
    // A client that leaves stops the stream: shut the mailbox so the app's writes fail
    // as a disconnect instead of waiting forever.
    return toResponse(started, Stream.ensuring(Mailbox.toStream(body), body.shutdown))
  })
