/**
 * HTTP/2 frames by hand (RFC 9113 §4, HPACK literals of RFC 7541 §6.2.2), for the tests a
 * well-behaved client cannot run: rapid resets, CONTINUATION floods, streams past the
 * concurrency limit. `RawH2` opens a cleartext connection with prior knowledge, sends what
 * it is told, and parses what comes back into frames (header blocks are not decoded).
 */
import { connect, type Socket } from "node:net"

/** Frame types (RFC 9113 §6). */
export const DATA = 0x0
export const HEADERS = 0x1
export const RST_STREAM = 0x3
export const SETTINGS = 0x4
export const PING = 0x6
export const GOAWAY = 0x7
export const WINDOW_UPDATE = 0x8
export const CONTINUATION = 0x9

/** Flags. */
export const END_STREAM = 0x1
export const ACK = 0x1
export const END_HEADERS = 0x4

/** Error codes (RFC 9113 §7). */
export const NO_ERROR = 0x0
export const PROTOCOL_ERROR = 0x1
export const INTERNAL_ERROR = 0x2
export const REFUSED_STREAM = 0x7
export const CANCEL = 0x8
export const ENHANCE_YOUR_CALM = 0xb

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1")

/** One frame: a 9-byte head and its payload. */
export const frame = (type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer => {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([head, payload])
}

/** RFC 7541 §5.1: an integer with an N-bit prefix (`first` holds the bits above the prefix). */
const integer = (value: number, prefixBits: number, first = 0): Array<number> => {
  const max = (1 << prefixBits) - 1
  if (value < max) return [first | value]
  const bytes = [first | max]
  let rest = value - max
  while (rest >= 128) {
    bytes.push((rest % 128) | 128)
    rest = Math.floor(rest / 128)
  }
  bytes.push(rest)
  return bytes
}

const literalString = (text: string): Array<number> => [...integer(text.length, 7), ...Buffer.from(text, "latin1")]

/** A header field as a literal without indexing, new name (RFC 7541 §6.2.2), no Huffman. */
export const literal = (name: string, value: string): Buffer =>
  Buffer.from([0x00, ...literalString(name), ...literalString(value)])

/** A request's header block: `:method`, `:scheme` http, `:path`, `:authority`, then `headers`. */
export const requestBlock = (path = "/", method = "GET", headers: ReadonlyArray<readonly [string, string]> = []): Buffer =>
  Buffer.concat([
    literal(":method", method),
    literal(":scheme", "http"),
    literal(":path", path),
    literal(":authority", "127.0.0.1"),
    ...headers.map(([name, value]) => literal(name, value))
  ])

/** A frame as it came back. */
export interface Frame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

/** A cleartext HTTP/2 connection with prior knowledge that sends raw frames. */
export class RawH2 {
  readonly frames: Array<Frame> = []
  closed = false
  private buffer = Buffer.alloc(0)
  private waiters: Array<() => void> = []

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3)
        if (this.buffer.length < 9 + length) break
        const parsed: Frame = {
          type: this.buffer[3]!,
          flags: this.buffer[4]!,
          streamId: this.buffer.readUInt32BE(5) & 0x7fffffff,
          payload: this.buffer.subarray(9, 9 + length)
        }
        this.buffer = this.buffer.subarray(9 + length)
        this.frames.push(parsed)
        // The server's SETTINGS are acknowledged, as a client must.
        if (parsed.type === SETTINGS && (parsed.flags & ACK) === 0 && !socket.destroyed) socket.write(frame(SETTINGS, ACK, 0))
      }
      this.wake()
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      this.closed = true
      this.wake()
    })
  }

  /** Connect, send the preface and empty SETTINGS. */
  static connect(port: number): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]))
        resolve(new RawH2(socket))
      })
      socket.once("error", reject)
    })
  }

  /** Write bytes; resolves once the socket took them (false: it is gone). */
  send(bytes: Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve(false)
      this.socket.write(bytes, (error) => resolve(error == null))
    })
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter()
  }

  /** Wait until `done()` holds (checked on every frame and on close), at most `ms`. */
  async until(done: () => boolean, ms = 5_000): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!done()) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return true
  }

  /** The GOAWAY the server sent, if any: its error code. */
  goaway(): number | null {
    const found = this.frames.find((f) => f.type === GOAWAY)
    return found === undefined ? null : found.payload.readUInt32BE(4)
  }

  /** The RST_STREAM error code the server sent on `streamId`, if any. */
  reset(streamId: number): number | null {
    const found = this.frames.find((f) => f.type === RST_STREAM && f.streamId === streamId)
    return found === undefined ? null : found.payload.readUInt32BE(0)
  }

  /** True once a HEADERS frame came on `streamId` (the response head). */
  answered(streamId: number): boolean {
    return this.frames.some((f) => f.type === HEADERS && f.streamId === streamId)
  }

  destroy(): void {
    this.socket.destroy()
  }
}
