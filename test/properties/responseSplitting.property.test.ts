/**
 * No status or header list that `startResponse` accepts can split a response.
 *
 * Statuses and headers are drawn with CR, LF, NUL, DEL, other controls, HTAB, C1 and
 * non-latin-1 characters mixed in. Each one goes through the core (`run` on the in-memory
 * services, as an origin server and as a CGI gateway) and through the `SimpleHandler`
 * class on a memory sink; the head that comes out is parsed and checked:
 *
 * - no line of it holds a CR, LF or NUL, and it ends at the first blank line;
 * - when `startResponse` accepted the app's values, the head is the status line, the app's
 *   headers exactly and in order, and only the headers the gateway adds (Date, Server,
 *   Content-Length): never a line more;
 * - when it refused them, the response is the 500 error page;
 * - it accepts exactly what the spec allows (a model of the rule), neither more nor less.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { run, withConfig } from "../../src/Handler.js"
import * as HandlerConfig from "../../src/HandlerConfig.js"
import { SimpleHandler } from "../../src/HandlerClasses.js"
import { BytesInputStream } from "../../src/internal/bytesInput.js"
import { StringErrorStream } from "../../src/internal/stringErrors.js"
import type { Application, HeaderList } from "../../src/Protocol.js"
import * as Testing from "../../src/Testing.js"

const NUM_RUNS = 200

// Characters that could split or smuggle, among ordinary ones.
const hostileChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "Z", "0", "-", " ", ":", ";", "=", "/", "é") },
  { weight: 3, arbitrary: fc.constantFrom("\r", "\n", "\r\n", "\0", "\t", "\x7f", "\x0b", "\x0c", "\x1b", "\x85", "\xa0", "\u2028", "\u0100", "\ud83d\ude00") },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)) }
)
const hostileText = fc.string({ unit: hostileChar, maxLength: 12 })

// The rule of the spec (§3 "Beyond CPython"), written independently of the code under test.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade"]
const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const safeText = (text: string): boolean =>
  [...text].every((char) => {
    const code = char.codePointAt(0)!
    return code === 9 || (code >= 0x20 && code !== 0x7f && code <= 0xff)
  })
const shouldAccept = (st: string, headers: HeaderList): boolean =>
  st.length >= 4 && /^[0-9]{3} /.test(st) && safeText(st) &&
  headers.every(([name, value]) =>
    name.length > 0 && [...name].every((c) => TOKEN_CHARS.includes(c)) && !HOP_BY_HOP.includes(name.toLowerCase()) &&
    safeText(value)
  )

// Characters a status or header value may hold (HTAB and latin-1 beyond ASCII included).
const allowedChar = fc.oneof(
  fc.constantFrom("a", "Z", "0", " ", "\t", ":", ";", "=", "\"", "é", "\xa0", "\xff"),
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c))
)
const allowedText = fc.string({ unit: allowedChar, maxLength: 12 })
const tokenName = fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~09AZaz"), minLength: 1, maxLength: 8 })

const status = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 100, max: 999 }), allowedText).map(([code, reason]) => `${code} ${reason}`) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 100, max: 999 }), hostileText).map(([code, reason]) => `${code} ${reason}`) },
  { weight: 1, arbitrary: fc.constantFrom("200 OK", "404 Not Found", "200 OK\r\nX-Injected: 1", "200 OK\nX: y", "200 OK\r", "200\r\n OK", "200 ", "2000 OK") },
  { weight: 1, arbitrary: hostileText }
)

const headerName = fc.oneof(
  fc.constantFrom("Content-Type", "X-Test", "Set-Cookie", "Content-Length", "Location", "Connection", "X-A\r\nX-B", "X A", "X:A", ""),
  hostileText
)
const headerValue = fc.oneof(
  fc.constantFrom("text/plain", "a=b; Path=/", "3", "x\r\nSet-Cookie: evil=1", "x\nX: y", "x\r", "\r\n\r\n<html>", "a\tb", " padded "),
  hostileText
)
// Lists that should pass, and lists with hostile names and values.
const headerList: fc.Arbitrary<HeaderList> = fc.oneof(
  fc.array(fc.tuple(tokenName.filter((name) => !HOP_BY_HOP.includes(name.toLowerCase())), allowedText), { maxLength: 4 }),
  fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 })
)

const BODY = "body\r\n\r\nHTTP/1.1 200 OK\r\n"

/** The app under test: records whether `startResponse` took the values, then answers. */
const appFor = (st: string, headers: HeaderList, verdict: { accepted: boolean | null }): Application =>
(_environ, startResponse) => {
  try {
    startResponse(st, headers.map(([n, v]) => [n, v]))
  } catch (error) {
    verdict.accepted = false
    throw error
  }
  verdict.accepted = true
  return [Buffer.from(BODY, "latin1")]
}

/** The head of a response: its lines, split on CRLF only. */
const headLines = (output: string): Array<string> => {
  const end = output.indexOf("\r\n\r\n")
  expect(end, `no end of head in ${JSON.stringify(output)}`).toBeGreaterThan(0)
  return output.slice(0, end).split("\r\n")
}

/** How many cases were accepted and refused: both kinds must be well represented. */
const tally = { accepted: 0, refused: 0 }

const GATEWAY_ADDED = new Set(["date", "server", "content-length"])

/** Check one response against what the app gave. */
const checkHead = (
  output: string,
  firstLine: string,
  errorFirstLine: string,
  st: string,
  headers: HeaderList,
  accepted: boolean | null
): void => {
  const lines = headLines(output)
  for (const line of lines) {
    expect(line, `line ${JSON.stringify(line)}`).not.toMatch(/[\r\n\0]/)
  }
  expect(accepted).toBe(shouldAccept(st, headers))
  tally[accepted ? "accepted" : "refused"]++
  if (!accepted) {
    expect(lines[0]).toBe(errorFirstLine)
    return
  }
  expect(lines[0]).toBe(firstLine)
  const appLines = headers.map(([n, v]) => `${n}: ${v}`)
  const rest = lines.slice(1)
  expect(rest.length).toBeLessThanOrEqual(appLines.length + GATEWAY_ADDED.size)
  // The app's lines, in order; whatever else is there was added by the gateway.
  let next = 0
  for (const line of rest) {
    if (next < appLines.length && line === appLines[next]) {
      next++
      continue
    }
    const colon = line.indexOf(":")
    expect(GATEWAY_ADDED.has(line.slice(0, colon).toLowerCase()), `unexpected header line ${JSON.stringify(line)}`).toBe(true)
  }
  expect(next).toBe(appLines.length)
}

describe("response splitting", () => {
  afterAll(() => {
    // Not a vacuous property: plenty of responses got through, and plenty were refused.
    expect(tally.accepted).toBeGreaterThan(NUM_RUNS / 5)
    expect(tally.refused).toBeGreaterThan(NUM_RUNS / 5)
  })

  it("the core as an origin server", async () => {
    await fc.assert(
      fc.asyncProperty(status, headerList, async (st, headers) => {
        const verdict = { accepted: null as boolean | null }
        const request = Testing.request({ environ: { QUERY_STRING: "" } })
        await Effect.runPromise(Effect.exit(Effect.provide(run(appFor(st, headers, verdict)), request.layer)))
        checkHead(request.output.text(), `HTTP/1.0 ${st}`, "HTTP/1.0 500 Internal Server Error", st, headers, verdict.accepted)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("the core as a CGI gateway (a Status: header)", async () => {
    const config = HandlerConfig.make({ originServer: false })
    await fc.assert(
      fc.asyncProperty(status, headerList, async (st, headers) => {
        const verdict = { accepted: null as boolean | null }
        const request = Testing.request({ environ: { QUERY_STRING: "" } })
        await Effect.runPromise(
          Effect.exit(Effect.provide(withConfig(run(appFor(st, headers, verdict)), config), request.layer))
        )
        checkHead(request.output.text(), `Status: ${st}`, "Status: 500 Internal Server Error", st, headers, verdict.accepted)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("SimpleHandler on a memory sink", async () => {
    await fc.assert(
      fc.asyncProperty(status, headerList, async (st, headers) => {
        const verdict = { accepted: null as boolean | null }
        const chunks: Array<Buffer> = []
        const handler = new SimpleHandler(
          new BytesInputStream(),
          { write: (chunk: Uint8Array) => void chunks.push(Buffer.from(chunk)) },
          new StringErrorStream(),
          { REQUEST_METHOD: "GET", SERVER_PROTOCOL: "HTTP/1.1", SERVER_NAME: "h", SERVER_PORT: "80", QUERY_STRING: "", PATH_INFO: "/" }
        )
        handler.originServer = true
        handler.httpVersion = "1.1"
        await handler.run(appFor(st, headers, verdict))
        checkHead(Buffer.concat(chunks).toString("latin1"), `HTTP/1.1 ${st}`, "HTTP/1.1 500 Internal Server Error", st, headers, verdict.accepted)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("a second startResponse with excInfo is held to the same rule", async () => {
    await fc.assert(
      fc.asyncProperty(status, headerList, async (st, headers) => {
        const verdict = { accepted: null as boolean | null }
        const app: Application = (_environ, startResponse) => {
          startResponse("200 OK", [["Content-Type", "text/plain"]])
          try {
            startResponse(st, headers.map(([n, v]) => [n, v]), new Error("replacing the response"))
          } catch (error) {
            verdict.accepted = false
            throw error
          }
          verdict.accepted = true
          return [Buffer.from(BODY, "latin1")]
        }
        const request = Testing.request({ environ: { QUERY_STRING: "" } })
        await Effect.runPromise(Effect.exit(Effect.provide(run(app), request.layer)))
        checkHead(request.output.text(), `HTTP/1.0 ${st}`, "HTTP/1.0 500 Internal Server Error", st, headers, verdict.accepted)
      }),
      { numRuns: NUM_RUNS }
    )
  })
})
