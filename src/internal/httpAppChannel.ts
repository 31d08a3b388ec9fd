/**
 * The response side of `toHttpApp`: the `Output` of one request, which becomes the
 * `HttpServerResponse` the platform sends (whole when the app finishes without waiting,
 * else a stream with backpressure), keeping to the Content-Length the app declared.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type { Socket } from "node:net"
import { ClientDisconnected, type HandlerError, ResponseAborted } from "../HandlerError.js"
import type { OutputShape } from "../Output.js"
import type { HeaderList } from "../Protocol.js"
import { requestRuntime } from "./core/requestRuntime.js"
import { carriesBody, overrunMessage, parseDeclaredLength, shortfallMessage } from "./declaredLength.js"

/** What of node's `ServerResponse` the channel sets before the platform writes the head. */
export interface NodeResponse {
  statusMessage: string
  shouldKeepAlive: boolean
  readonly socket: Socket | null
  once(event: "finish", listener: () => void): unknown
}


/**
 * True when the app's header list can go to the platform as it is (it lowercases the
 * names): no name repeats, none is Set-Cookie, and no `Connection: close` is to be added.
 */
const isPlainHead = (headerList: HeaderList, close: boolean): boolean => {
  if (close) return false
  for (let i = 0; i < headerList.length; i++) {
    const name = headerList[i]![0]
    if (name.length === 10 && name.toLowerCase() === "set-cookie") return false
    for (let j = 0; j < i; j++) {
      const other = headerList[j]![0]
      if (other.length === name.length && other.toLowerCase() === name.toLowerCase()) return false
    }
  }
  return true
}

/**
 * The app's response for the platform: its status, its headers as it gave them
 * (Content-Type and Content-Length among them, so the platform adds neither; repeated
 * names joined, Set-Cookie apart), and `body` (none: an empty body that keeps the head's
 * Content-Length, as a HEAD answer's).
 */
const responseOf = (
  status: string,
  headerList: HeaderList,
  close: boolean,
  body: HttpBody.HttpBody | null
): HttpServerResponse.HttpServerResponse => {
  const options = { status: Number(status.slice(0, 3)), statusText: status.slice(4) }
  if (isPlainHead(headerList, close)) {
    return body === null
      ? HttpServerResponse.empty({ ...options, headers: headerList })
      : HttpServerResponse.setBody(HttpServerResponse.empty({ ...options, headers: headerList }), body)
  }
  const headers: Record<string, string> = {}
  const setCookies: Array<string> = []
  for (const [name, value] of headerList) {
    const key = name.toLowerCase()
    if (key === "set-cookie") setCookies.push(value)
    else headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  if (close) headers["connection"] = "close"
  const head = HttpServerResponse.empty({
    ...options,
    headers,
    cookies: setCookies.length > 0 ? Cookies.fromSetCookie(setCookies) : Cookies.empty
  })
  return body === null ? head : HttpServerResponse.setBody(head, body)
}

/** Bodies up to this size are sent whole when the app finishes before the next event-loop turn. */
const WHOLE_BODY_LIMIT = 64 * 1024

const streamClosed = (): ClientDisconnected =>
  new ClientDisconnected({ cause: new Error("the response stream was closed") })

const EMPTY = new Uint8Array(0)

/**
 * Cut the connection once what was written to it is flushed: the client gets every byte
 * the app produced, and sees the response end short rather than complete.
 */
const cutWhenFlushed = (socket: Socket | undefined): Effect.Effect<void> =>
  socket === undefined
    ? Effect.void
    : Effect.async<void>((resume) => {
      const cut = () => {
        socket.destroy()
        resume(Effect.void)
      }
      if (socket.destroyed || socket.writableLength === 0) return cut()
      socket.once("close", cut)
      socket.write(EMPTY, cut)
    })

/** Where one request's response goes besides the platform: the log, and the node socket. */
export interface ChannelTarget {
  readonly method: string
  readonly capacity: number
  readonly node: NodeResponse | undefined
  readonly socket: Socket | undefined
  /** A line for `wsgi.errors` about this request. */
  log(message: string): void
}

/**
 * The `Output` of one request, and the response the platform gets from it. While the app
 * runs without waiting, its chunks are kept; if it finishes so (the usual case), the
 * response is its whole body. Once it waits on something (or the body passes 64 KiB),
 * the response becomes a stream: what was kept first, then each chunk as it is written,
 * with backpressure (`capacity` chunks may wait for the client).
 *
 * The body keeps to the Content-Length the app declared, as under makeServer: a surplus is
 * dropped and a body that ends short is sent as it is, each logged once, and the
 * connection then closes.
 */
export class ResponseChannel implements OutputShape {
  private status: string | null = null
  private headers: HeaderList = []
  private kept: Array<Uint8Array> = []
  private keptBytes = 0
  private mailbox: Mailbox.Mailbox<Uint8Array, ResponseAborted> | null = null
  private releaseScheduled = false
  private done = false
  /** The Content-Length the app declared, or -1. */
  private declared = -1
  /** Body bytes taken (after any surplus was dropped). */
  private taken = 0
  /** True once the body broke its declared length: the connection closes after it. */
  private mismatched = false

  /** The response for the platform, once it is ready (the first one given stands). */
  private response: HttpServerResponse.HttpServerResponse | null = null
  /** The request's fiber, waiting for the response. */
  private waiting: ((ready: Effect.Effect<HttpServerResponse.HttpServerResponse>) => void) | null = null

  constructor(private readonly target: ChannelTarget) {}

  /**
   * The response: at once when the app finished without waiting, else once it is ready.
   * (A callback, not a `Deferred`: making a Deferred costs ≈ 5 µs, measured, on every request.)
   */
  awaitResponse(): Effect.Effect<HttpServerResponse.HttpServerResponse> {
    return Effect.async((resume) => {
      if (this.response !== null) return resume(Effect.succeed(this.response))
      this.waiting = resume
      return Effect.sync(() => {
        this.waiting = null
      })
    })
  }

  /** The response is ready: give it to whoever waits. */
  private respond(response: HttpServerResponse.HttpServerResponse): void {
    if (this.response !== null) return
    this.response = response
    const waiting = this.waiting
    this.waiting = null
    waiting?.(Effect.succeed(response))
  }

  /** The response, when the app finished without waiting (it is then always ready). */
  get readyResponse(): HttpServerResponse.HttpServerResponse | null {
    return this.response
  }

  sendHead(status: string, headers: HeaderList): Effect.Effect<void> {
    return Effect.sync(() => {
      this.status = status
      this.headers = headers
      this.declared = -1
      for (const [name, value] of headers) {
        if (name.length === 14 && name.toLowerCase() === "content-length") this.declared = parseDeclaredLength(value)
      }
      // node writes its own reason phrase unless one is set before the head goes out.
      const node = this.target.node
      if (node !== undefined) node.statusMessage = status.slice(4)
      // An app still running synchronously is looked at when it stops (`stopWith`).
      if (this.app !== null) this.scheduleRelease()
    })
  }

  write(data: Uint8Array): Effect.Effect<void, ClientDisconnected> {
    return Effect.suspend(() => {
      if (this.declared >= 0 && this.taken + data.length > this.declared) data = this.overrun(data)
      if (data.length === 0) return Effect.void
      this.taken += data.length
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

  /**
   * The app is done (`exit`, not an interruption): the whole response, or the end of the
   * stream. Run as its fiber ends, outside it.
   */
  end(exit: Exit.Exit<void, HandlerError>): void {
    this.done = true
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    const aborted = failure._tag === "Some"
      ? failure.value instanceof ResponseAborted
        ? failure.value
        : new ResponseAborted({ message: failure.value.message, cause: failure.value })
      : null
    const status = this.status
    if (aborted === null && status !== null && this.declared > this.taken && carriesBody(this.target.method, Number(status.slice(0, 3)))) {
      this.target.log(shortfallMessage(this.taken, this.declared))
      this.mismatched = true
    }
    const mailbox = this.mailbox
    if (mailbox !== null) {
      if (aborted === null && this.mismatched) this.closeAfter()
      mailbox.unsafeDone(aborted === null ? Exit.void : Exit.fail(aborted))
    } else if (status === null) {
      this.respond(HttpServerResponse.empty({ status: 500 }))
    } else if (aborted === null) {
      if (this.mismatched) this.closeAfter()
      const kept = this.kept
      const body = kept.length === 0 ? null : HttpBody.raw(kept.length === 1 ? kept[0]! : Buffer.concat(kept))
      this.respond(responseOf(status, this.headers, this.mismatched, body))
    } else {
      // What the app wrote goes out, then the connection is cut.
      this.respondWithStream(status, Stream.concat(Stream.fromIterable(this.kept), Stream.fail(aborted)))
    }
  }

  /**
   * The app wrote more than its Content-Length: what fits is kept, the rest dropped; one
   * log line with the numbers; the connection closes after the response.
   */
  private overrun(data: Uint8Array): Uint8Array {
    if (!this.mismatched) {
      this.mismatched = true
      this.target.log(overrunMessage(this.declared, this.taken + data.length))
      this.closeAfter()
    }
    return data.subarray(0, Math.max(0, this.declared - this.taken))
  }

  /** The connection carries no response after this one (node closes it once it is sent). */
  private closeAfter(): void {
    const node = this.target.node
    if (node === undefined) return
    node.shouldKeepAlive = false
    // Also when the head already went out (a stream), which shouldKeepAlive no longer changes.
    const socket = node.socket
    node.once("finish", () => socket?.destroySoon())
  }

  /**
   * The fiber running the app, once it waits on something: the body's reader outlives it.
   * From then on, a started response that is still going on the next turn of the event
   * loop becomes a stream (an app that finishes without waiting never schedules that turn).
   */
  stopWith(fiber: Fiber.RuntimeFiber<void, unknown>): void {
    this.app = fiber
    if (this.status !== null) this.scheduleRelease()
  }

  private app: Fiber.RuntimeFiber<void, unknown> | null = null

  /**
   * The response is `body`: a stream that, if it fails, cuts the connection once flushed,
   * and whose reader, if it stops early (the client left), stops the app.
   */
  private respondWithStream(status: string, body: Stream.Stream<Uint8Array, ResponseAborted>): void {
    const cutOnFailure = Stream.catchAllCause(body, (cause) =>
      Stream.fromEffect(Effect.zipRight(cutWhenFlushed(this.target.socket), Effect.failCause(cause)))).pipe(
        Stream.ensuring(Effect.suspend(() => this.app === null ? Effect.void : Fiber.interrupt(this.app)))
      )
    this.respond(responseOf(status, this.headers, false, HttpBody.stream(cutOnFailure, "")))
  }

  /** From now on the response is a stream: the kept chunks, then the ones still to come. */
  private startStreaming(): Effect.Effect<void> {
    return Effect.map(Mailbox.make<Uint8Array, ResponseAborted>(this.target.capacity), (mailbox) => {
      this.openStream(mailbox)
    })
  }

  private openStream(mailbox: Mailbox.Mailbox<Uint8Array, ResponseAborted>): void {
    const status = this.status
    if (this.mailbox !== null || status === null) return
    this.mailbox = mailbox
    const kept = this.kept
    this.kept = []
    // A client that leaves stops the stream: shut the mailbox so the app's writes fail as
    // a disconnect instead of waiting forever.
    this.respondWithStream(status, Stream.concat(Stream.fromIterable(kept), Mailbox.toStream(mailbox)).pipe(Stream.ensuring(mailbox.shutdown)))
  }

  /** If the app is still running on the next turn of the event loop, start streaming. */
  private scheduleRelease(): void {
    if (this.releaseScheduled) return
    this.releaseScheduled = true
    setImmediate(() => {
      if (this.done || this.mailbox !== null) return
      Runtime.runFork(requestRuntime)(Effect.map(Mailbox.make<Uint8Array, ResponseAborted>(this.target.capacity), (mailbox) => this.openStream(mailbox)))
    })
  }
}

