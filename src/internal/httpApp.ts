/**
 * The runtime half of `toHttpApp`: everything that needs `@effect/platform` at run time.
 * `HttpApp.ts` loads this module with a dynamic `import()` the first time a `toHttpApp` app
 * handles a request, so importing the package does not load the platform.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import type { ErrorLogShape } from "../ErrorLog.js"
import { fromRecord } from "../EnvironSource.js"
import { runWith } from "../Handler.js"
import type { HandlerConfig } from "../HandlerConfig.js"
import { ClientDisconnected, type HandlerError, ResponseAborted } from "../HandlerError.js"
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

/** The app's status and headers as the platform's response options. */
const responseOptions = (status: string, headerList: HeaderList): HttpServerResponse.Options => {
  const headers: Record<string, string> = {}
  const setCookies: Array<string> = []
  let contentType: string | undefined
  let contentLength: number | undefined
  for (const [name, value] of headerList) {
    const key = name.toLowerCase()
    if (key === "set-cookie") setCookies.push(value)
    else if (key === "content-type") contentType = value
    else if (key === "content-length") contentLength = Number(value)
    else headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  return {
    status: Number(status.slice(0, 3)),
    statusText: status.slice(4),
    headers,
    cookies: setCookies.length > 0 ? Cookies.fromSetCookie(setCookies) : Cookies.empty,
    ...(contentType === undefined ? {} : { contentType }),
    ...(contentLength === undefined || !Number.isSafeInteger(contentLength) ? {} : { contentLength })
  }
}

/** Bodies up to this size are sent whole when the app finishes before the next event-loop turn. */
const WHOLE_BODY_LIMIT = 64 * 1024

const streamClosed = (): ClientDisconnected =>
  new ClientDisconnected({ cause: new Error("the response stream was closed") })

/**
 * The `Output` of one request, and the response the platform gets from it. While the app
 * runs without waiting, its chunks are kept; if it finishes so (the usual case), the
 * response is its whole body. Once it waits on something (or the body passes 64 KiB),
 * the response becomes a stream: what was kept first, then each chunk as it is written,
 * with backpressure (`capacity` chunks may wait for the client).
 */
class ResponseChannel implements OutputShape {
  private status: string | null = null
  private headers: HeaderList = []
  private kept: Array<Uint8Array> = []
  private keptBytes = 0
  private mailbox: Mailbox.Mailbox<Uint8Array, ResponseAborted> | null = null
  private releaseScheduled = false
  private done = false

  constructor(
    private readonly capacity: number,
    private readonly ready: Deferred.Deferred<HttpServerResponse.HttpServerResponse>
  ) {}

  sendHead(status: string, headers: HeaderList): Effect.Effect<void> {
    return Effect.sync(() => {
      this.status = status
      this.headers = headers
      this.scheduleRelease()
    })
  }

  write(data: Uint8Array): Effect.Effect<void, ClientDisconnected> {
    return Effect.suspend(() => {
      // A copy: the app may reuse its buffer once write() returns.
      const chunk = data.slice()
      const mailbox = this.mailbox
      if (mailbox === null) {
        this.kept.push(chunk)
        this.keptBytes += chunk.length
        if (this.keptBytes > WHOLE_BODY_LIMIT) return this.startStreaming()
        return Effect.void
      }
      if (mailbox.unsafeOffer(chunk)) return Effect.void
      return Effect.flatMap(mailbox.offer(chunk), (taken) => (taken ? Effect.void : Effect.fail(streamClosed())))
    })
  }

  flush(): Effect.Effect<void> {
    return Effect.void
  }

  /** The app is done (`exit`): the whole response, or the end of the stream. */
  end(exit: Exit.Exit<void, HandlerError>, cut: () => void): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.done = true
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      const aborted = failure._tag === "Some"
        ? failure.value instanceof ResponseAborted
          ? failure.value
          : new ResponseAborted({ message: failure.value.message, cause: failure.value })
        : null
      const mailbox = this.mailbox
      if (mailbox !== null) {
        if (aborted === null) return mailbox.end
        // Cut the connection: a cleanly ended chunked body would look complete.
        cut()
        return Effect.asVoid(mailbox.fail(aborted))
      }
      if (this.status === null) {
        Deferred.unsafeDone(this.ready, Exit.succeed(HttpServerResponse.empty({ status: 500 })))
      } else if (aborted === null) {
        const body = this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept)
        const options = responseOptions(this.status, this.headers)
        Deferred.unsafeDone(this.ready, Exit.succeed(HttpServerResponse.raw(body, withType(options))))
      } else {
        // What the app wrote goes out, then the connection is cut.
        Deferred.unsafeDone(
          this.ready,
          Exit.succeed(
            HttpServerResponse.stream(
              Stream.concat(Stream.fromIterable(this.kept), Stream.fail(aborted)).pipe(Stream.ensuring(Effect.sync(cut))),
              responseOptions(this.status, this.headers)
            )
          )
        )
      }
      return Effect.void
    })
  }

  /** From now on the response is a stream: the kept chunks, then the ones still to come. */
  private startStreaming(): Effect.Effect<void> {
    return Effect.map(Mailbox.make<Uint8Array, ResponseAborted>(this.capacity), (mailbox) => {
      this.openStream(mailbox)
    })
  }

  private openStream(mailbox: Mailbox.Mailbox<Uint8Array, ResponseAborted>): void {
    if (this.mailbox !== null || this.status === null) return
    this.mailbox = mailbox
    const kept = this.kept
    this.kept = []
    // A client that leaves stops the stream: shut the mailbox so the app's writes fail as
    // a disconnect instead of waiting forever.
    const body = Stream.concat(Stream.fromIterable(kept), Mailbox.toStream(mailbox)).pipe(Stream.ensuring(mailbox.shutdown))
    Deferred.unsafeDone(this.ready, Exit.succeed(HttpServerResponse.stream(body, responseOptions(this.status, this.headers))))
  }

  /** If the app is still running on the next turn of the event loop, start streaming. */
  private scheduleRelease(): void {
    if (this.releaseScheduled) return
    this.releaseScheduled = true
    setImmediate(() => {
      if (this.done || this.mailbox !== null) return
      Effect.runFork(Effect.map(Mailbox.make<Uint8Array, ResponseAborted>(this.capacity), (mailbox) => this.openStream(mailbox)))
    })
  }
}

/** The app's Content-Type, or none at all (the platform's default would add one). */
const withType = (options: HttpServerResponse.Options): HttpServerResponse.Options =>
  options.contentType === undefined ? options : { ...options, headers: { ...options.headers as Record<string, string>, "content-type": options.contentType } }

/** Handle one request of a `toHttpApp` app: the app runs in a fiber of the request's own. */
export const handle = (
  app: Application,
  { capacity, config, errorLog }: Settings
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
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
    const input = node === undefined
      ? new PullInputStream(pullStream(request.stream))
      : new ReadableInputStream(request.source as Readable)
    const ready = Deferred.unsafeMake<HttpServerResponse.HttpServerResponse>(FiberId.none)
    const response = new ResponseChannel(capacity, ready)
    const cut = (): void => node?.socket?.destroy()
    const handled = Effect.flatMap(
      Effect.exit(runWith(app, { output: response, input: fromStream(input), errorLog, environSource: fromRecord(environ) }, config)),
      (exit) => response.end(exit, cut)
    )
    return Effect.withFiberRuntime<HttpServerResponse.HttpServerResponse>((requestFiber) => {
      // Started at once on the request's runtime: an app that finishes without waiting
      // (the usual case) has its whole response ready before this returns.
      const child = Runtime.runFork(
        Runtime.make({
          context: requestFiber.currentContext,
          fiberRefs: requestFiber.getFiberRefs(),
          runtimeFlags: Runtime.defaultRuntimeFlags
        })
      )(handled)
      // Otherwise it lives as long as the request's fiber: a client that leaves (or a
      // server that shuts down) interrupts it, which stops the app's body and closes its
      // result once.
      if (child.unsafePoll() === null) requestFiber.addObserver(() => child.unsafeInterruptAsFork(requestFiber.id()))
      return Deferred.await(ready)
    })
  })
