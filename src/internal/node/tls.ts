/**
 * `makeServer`'s TLS: the options node:https is given, one log line per failed handshake,
 * mod_ssl's client certificate variables (once per connection), and a watcher that tells
 * when renewed certificate files should be loaded.
 *
 * Nothing here runs for a plain-HTTP server: the gateway asks for the variables only when
 * a socket says it is encrypted, and the handshake listeners are added to TLS servers only.
 */
import { type FSWatcher, readFileSync, type Stats, unwatchFile, watch, watchFile } from "node:fs"
import { Socket } from "node:net"
import { basename, dirname } from "node:path"
import type { SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions as NodeTlsOptions } from "node:tls"
import type { TlsCertificates, TlsOptions } from "../../Server.js"
import { formatLogLine } from "./accessLog.js"
import { verifyCode, verifyReason } from "./connectionVariables.js"
import { connectionOf } from "./requestGuard.js"

/** Default of `handshakeTimeout`: node's own (120 s) lets a silent client hold a socket far too long. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

/** What node's secure context is made of. */
export const contextOptions = (certificates: TlsCertificates): SecureContextOptions => {
  const { ca, cert, key } = certificates
  return ca === undefined ? { cert, key } : { cert, key, ca: typeof ca === "string" || Buffer.isBuffer(ca) ? ca : [...ca] }
}

/** The node:https options for `tls`, with our defaults. */
export const serverTlsOptions = (tls: TlsOptions): NodeTlsOptions => ({
  ...contextOptions(tls),
  requestCert: tls.requestCert ?? false,
  rejectUnauthorized: tls.rejectUnauthorized ?? true,
  handshakeTimeout: tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
})

// --- Failed handshakes ---------------------------------------------------------------

/** Where the lines go (the gateway). */
export interface LineLog {
  logLine(line: string): void
}

/** nginx's answer to a plain-HTTP request on its TLS port, as plain text. */
const PLAIN_HTTP = "plain HTTP request sent to HTTPS port"
const PLAIN_HTTP_ANSWER = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${
  PLAIN_HTTP.length + 1
}\r\nConnection: close\r\n\r\n${PLAIN_HTTP}\n`

/** On a raw TCP socket: its peer's address, read when it connected (see `rememberPeer`). */
const peerAddress = Symbol("effect-wsgi/peerAddress")

interface RawSocket extends Socket {
  [peerAddress]?: string | undefined
}

/**
 * The TCP socket under a TLS socket: node's `_parent` (internal, there since node 0.x).
 * Null when a future node lays it out otherwise: then a plain-HTTP request is only closed,
 * and a timed-out peer is logged as "-".
 */
const rawSocketOf = (socket: TLSSocket): RawSocket | null => {
  const parent = (socket as { _parent?: unknown })._parent
  return parent instanceof Socket ? parent : null
}

/**
 * A new TCP connection: keep its peer's address, which a TLS socket that timed out or was
 * cut no longer knows when node reports it (one getpeername per TLS connection).
 */
const rememberPeer = (socket: RawSocket): void => {
  socket[peerAddress] = socket.remoteAddress
}

/** Writes are refused by a client that is gone: nothing to report. */
const ignore = (): void => {}

/**
 * Answer a plain-HTTP request with nginx's 400, written under the failed TLS layer on the
 * TCP socket node is about to close. node closes it right after this turn, so there is no
 * lingering close: the answer is one small write that goes out at once on a new connection.
 */
const answerPlainHttp = (raw: RawSocket | null): void => {
  if (raw === null || raw.destroyed || !raw.writable) return
  raw.on("error", ignore)
  raw.end(PLAIN_HTTP_ANSWER)
}

/**
 * One line per failed handshake on `server`: a plain-HTTP request (answered 400 when the
 * TCP socket can still be reached), a handshake that failed or timed out, a client
 * certificate refused by `rejectUnauthorized`. A client that connects and closes without
 * a byte (a port check) is not logged. Then the socket is closed.
 *
 * node:https hands every handshake error on to node:http's `clientError` too, whose
 * listener answers requests node:http could not parse: this runs first and marks the
 * connection refused, which that listener leaves alone (and node then leaves closing the
 * socket to us: it does so itself only when `clientError` has no listener).
 */
export const logHandshakeFailures = (server: TlsServer, log: LineLog, handshakeTimeout: number): void => {
  server.on("connection", rememberPeer)
  server.prependListener("tlsClientError", (error: Error & { code?: string; reason?: string }, socket: TLSSocket) => {
    connectionOf(socket).refused = true
    const why = handshakeFailure(error, socket, handshakeTimeout)
    if (why !== null) log.logLine(formatLogLine(why[0], why[1]))
    if (!socket.destroyed) socket.destroy()
  })
}

/** The peer and the log message of a failed handshake (null: not worth a line); answers plain HTTP. */
const handshakeFailure = (
  error: Error & { code?: string; reason?: string },
  socket: TLSSocket,
  handshakeTimeout: number
): readonly [string, string] | null => {
  const raw = rawSocketOf(socket)
  const peer = socket.remoteAddress ?? raw?.[peerAddress] ?? "-"
  switch (error.code) {
    // OpenSSL saw `GET `, `POST`, `HEAD`, `PUT ` or `CONNE` where a TLS record should be.
    case "ERR_SSL_HTTP_REQUEST":
    case "ERR_SSL_HTTPS_PROXY_REQUEST":
      answerPlainHttp(raw)
      return [peer, `code 400, message Bad Request (${PLAIN_HTTP})`]
    case "ERR_TLS_HANDSHAKE_TIMEOUT":
      return [peer, `TLS handshake timed out after ${handshakeTimeout} ms`]
    case "ECONNRESET": {
      // node closes a client whose certificate `rejectUnauthorized` refuses without an
      // error of its own: it shows as a hang-up, with the reason on the socket.
      const refused = verifyCode(socket.authorizationError)
      if (refused !== null) return [peer, `TLS client certificate refused (${verifyReason(refused)})`]
      if (raw !== null && raw.bytesRead > 0) return [peer, "TLS handshake failed (the client closed the connection)"]
      return null
    }
    default:
      return [peer, `TLS handshake failed (${error.reason ?? error.code ?? error.message})`]
  }
}

// --- Client certificates -------------------------------------------------------------

/** On a TLS socket: its connection's TLS variables (see `tlsVariablesOf`). */
// --- Renewed certificate files ---------------------------------------------------------

/** Options of `watchCertificates`. */
export interface WatchCertificatesOptions {
  /** Milliseconds to wait after the last change before reading (default 200): a renewal writes several files. */
  readonly debounce?: number
  /**
   * Milliseconds between polls of the files' status (default 5 000): the net under the
   * directory events, for a change they do not report (a symlink's target rewritten in place).
   */
  readonly interval?: number
  /** Told when the files cannot be read, or when `onChange` throws (a cert and key that do not match yet). */
  readonly onError?: (error: unknown) => void
}

/** A running `watchCertificates`. */
export interface CertificateWatcher {
  /** Stop watching (idempotent). */
  close(): void
}

const sameContents = (a: ReadonlyArray<Buffer> | null, b: ReadonlyArray<Buffer>): boolean =>
  a !== null && a.length === b.length && a.every((buffer, i) => buffer.equals(b[i]!))

const readAll = (paths: ReadonlyArray<string>): ReadonlyArray<Buffer> => paths.map((path) => readFileSync(path))

/**
 * Call `onChange` with the new contents of `paths` (in order) each time they change: once
 * per renewal, however many writes and renames it takes. Certificate tools replace files
 * by rename (certbot swaps the symlinks in `live/`), which a watch on the file itself would
 * not survive: the directories are watched instead, with a slow stat poll of each path
 * (following symlinks) as a net. Events only schedule a read; `onChange` is called when
 * what the files hold differs from the last contents seen, so a touch or a second event
 * for the same renewal calls nothing. Keeps no process alive.
 */
export const watchCertificates = (
  paths: ReadonlyArray<string>,
  onChange: (contents: ReadonlyArray<Buffer>) => void,
  options: WatchCertificatesOptions = {}
): CertificateWatcher => {
  const debounce = options.debounce ?? 200
  const interval = options.interval ?? 5_000
  const onError = options.onError ?? ignore
  let last: ReadonlyArray<Buffer> | null = null
  try {
    last = readAll(paths)
  } catch {
    // Not there yet: the first complete set read later counts as a change.
  }
  let timer: ReturnType<typeof setTimeout> | null = null
  let closed = false

  const check = (): void => {
    timer = null
    if (closed) return
    let contents: ReadonlyArray<Buffer>
    try {
      contents = readAll(paths)
    } catch (error) {
      onError(error)
      return
    }
    if (sameContents(last, contents)) return
    // Kept even when onChange fails, so a bad set is reported once, not on every poll.
    last = contents
    try {
      onChange(contents)
    } catch (error) {
      onError(error)
    }
  }
  const schedule = (): void => {
    if (closed) return
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(check, debounce)
    timer.unref()
  }

  const watchers: Array<FSWatcher> = []
  const names = new Map<string, Set<string>>()
  for (const path of paths) {
    const dir = dirname(path)
    const set = names.get(dir) ?? new Set<string>()
    set.add(basename(path))
    names.set(dir, set)
  }
  for (const [dir, set] of names) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Some platforms do not name the file: any event may be ours.
        if (filename === null || set.has(filename.toString())) schedule()
      })
      // A directory that goes away, or no inotify left: the poll below still sees changes.
      watcher.on("error", () => watcher.close())
      watchers.push(watcher)
    } catch {
      // No such directory yet, or no watch to be had: the poll alone.
    }
  }
  const polled = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino || current.size !== previous.size) schedule()
  }
  for (const path of paths) watchFile(path, { persistent: false, interval }, polled)

  return {
    close: () => {
      if (closed) return
      closed = true
      if (timer !== null) clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
      for (const path of paths) unwatchFile(path, polled)
    }
  }
}
