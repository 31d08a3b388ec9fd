/**
 * A raw HTTP/1.x client over `node:net` for server tests: send exact bytes, read
 * responses one at a time (pipelining, keep-alive, HEAD, 100 Continue), see when the
 * server closes the connection.
 */
import { connect as netConnect, type Socket } from "node:net"

/** One response as it came over the wire. */
export interface RawResponse {
  /** `HTTP/1.1 200 OK` */
  readonly statusLine: string
  readonly version: string
  readonly code: number
  readonly reason: string
  /** Headers in wire order and case. */
  readonly headers: Array<[string, string]>
  /** The body, de-chunked. */
  readonly body: Buffer
  /** True when the body was sent chunked. */
  readonly chunked: boolean
}

/** The value of the first header named `name` (any case), or undefined. */
export const header = (response: RawResponse, name: string): string | undefined =>
  response.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1]

/** Every value of headers named `name` (any case). */
export const headerValues = (response: RawResponse, name: string): Array<string> =>
  response.headers.filter(([key]) => key.toLowerCase() === name.toLowerCase()).map(([, value]) => value)

const open = new Set<RawClient>()

/** A connection to a test server. */
export class RawClient {
  private buffer: Buffer = Buffer.alloc(0)
  private wake: (() => void) | null = null
  /** True once the server closed its side (or the connection broke). */
  ended = false
  /** True once the socket is fully closed. */
  closed = false
  /** The error the socket failed with, if any (ECONNRESET, …). */
  error: Error | undefined

  private constructor(readonly socket: Socket) {
    open.add(this)
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
      this.notify()
    })
    socket.on("end", () => {
      this.ended = true
      this.notify()
    })
    socket.on("error", (error) => {
      this.error = error
      this.ended = true
      this.notify()
    })
    socket.on("close", () => {
      this.ended = true
      this.closed = true
      open.delete(this)
      this.notify()
    })
  }

  /** Connect to 127.0.0.1:`port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, host)
      socket.once("connect", () => {
        socket.removeListener("error", reject)
        resolve(new RawClient(socket))
      })
      socket.once("error", reject)
    })
  }

  /** Send bytes (text is sent as latin-1, one byte per character). */
  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data)
  }

  /** Bytes received and not parsed yet. */
  get pending(): Buffer {
    return this.buffer
  }

  /** Wait until `ready()` holds, re-checking after every event of the socket. */
  async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.ended && !ready()) {
        // One last look: the data may have come with the end.
        if (ready()) return
        throw new Error(`the connection ended (${this.error?.message ?? "closed"}); unparsed: ${JSON.stringify(this.buffer.toString("latin1").slice(0, 300))}`)
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  /**
   * The next response. `head`: it answers a HEAD request (no body follows). A response
   * with neither Content-Length nor chunked framing reads to the end of the connection.
   */
  async response(options: { readonly head?: boolean } = {}): Promise<RawResponse> {
    let parsed: { response: RawResponse; length: number } | null = null
    await this.until(() => {
      parsed = parseResponse(this.buffer, options.head === true, this.ended)
      return parsed !== null
    })
    const { response, length } = parsed!
    this.buffer = this.buffer.subarray(length)
    return response
  }

  /** Wait for the server to close the connection; what it sent meanwhile. */
  async end(): Promise<Buffer> {
    await this.until(() => this.ended)
    const rest = this.buffer
    this.buffer = Buffer.alloc(0)
    return rest
  }

  /** Close our side at once. */
  destroy(): void {
    this.socket.destroy()
  }
}

/** Destroy every client still open (for `afterEach`). */
export const destroyAllClients = (): void => {
  for (const client of open) client.destroy()
  open.clear()
}

/**
 * Send `data` in pieces, each its own TCP segment (Nagle off, a pause after each, so the
 * server reads them one by one): the piece sizes are `sizes` in order, the last repeated.
 * Stops early once the server closed the connection.
 */
export const sendInPieces = async (
  client: RawClient,
  data: string | Uint8Array,
  sizes: ReadonlyArray<number>,
  pauseMs = 2
): Promise<void> => {
  const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data)
  client.socket.setNoDelay(true)
  for (let offset = 0, i = 0; offset < bytes.length && !client.ended; i++) {
    const size = sizes[Math.min(i, sizes.length - 1)]!
    client.send(bytes.subarray(offset, offset + size))
    offset += size
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

/** Send `text` on a new connection and read one response. */
export const rawRequest = async (port: number, text: string | Uint8Array, options: { readonly head?: boolean } = {}): Promise<RawResponse> => {
  const client = await RawClient.connect(port)
  try {
    client.send(text)
    return await client.response(options)
  } finally {
    client.destroy()
  }
}

/** Parse one response at the start of `data`, or null when more bytes are needed. */
export const parseResponse = (
  data: Buffer,
  head: boolean,
  ended: boolean
): { response: RawResponse; length: number } | null => {
  const headEnd = data.indexOf("\r\n\r\n")
  if (headEnd === -1) return null
  const lines = data.subarray(0, headEnd).toString("latin1").split("\r\n")
  const statusLine = lines[0]!
  const match = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine)
  if (match === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`)
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(":")
    return [line.slice(0, colon), line.slice(colon + 1).trim()]
  })
  const code = Number(match[2])
  const base = { statusLine, version: match[1]!, code, reason: match[3] ?? "", headers }
  let offset = headEnd + 4
  const find = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1]
  if (head || code < 200 || code === 204 || code === 304) {
    return { response: { ...base, body: Buffer.alloc(0), chunked: false }, length: offset }
  }
  if (find("transfer-encoding")?.toLowerCase() === "chunked") {
    const chunks: Array<Buffer> = []
    for (;;) {
      const lineEnd = data.indexOf("\r\n", offset)
      if (lineEnd === -1) return null
      const size = parseInt(data.subarray(offset, lineEnd).toString("latin1"), 16)
      if (Number.isNaN(size)) throw new Error("bad chunk size")
      if (size === 0) {
        // No trailers from the servers under test: the terminator is "0\r\n\r\n".
        if (data.length < lineEnd + 4) return null
        return { response: { ...base, body: Buffer.concat(chunks), chunked: true }, length: lineEnd + 4 }
      }
      if (data.length < lineEnd + 2 + size + 2) return null
      chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
      offset = lineEnd + 2 + size + 2
    }
  }
  const length = find("content-length")
  if (length !== undefined) {
    const size = Number(length)
    if (data.length < offset + size) return null
    return { response: { ...base, body: data.subarray(offset, offset + size), chunked: false }, length: offset + size }
  }
  if (!ended) return null
  return { response: { ...base, body: data.subarray(offset), chunked: false }, length: data.length }
}
