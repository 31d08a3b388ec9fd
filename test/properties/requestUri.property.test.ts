/**
 * Any request target survives the trip request → `requestEnviron` → `requestUri(environ)`.
 *
 * Targets are paths of arbitrary bytes, each byte written raw where the grammar allows it
 * or percent-encoded (upper or lower hex) either way, plus a query, in origin-form or
 * absolute-form. Then:
 *
 * - `PATH_INFO` is the path's bytes, percent-decoded, as latin-1; `QUERY_STRING` is the
 *   query as sent;
 * - `requestUri` gives the canonical form (CPython's `quote(safe="/;=,")`), so a target
 *   already in that form comes back byte for byte, and any other comes back with the same
 *   bytes once decoded;
 * - the result is a fixed point: sending it again gives it again;
 * - CPython's `wsgiref.util.request_uri` gives the same string for the same environ.
 */
import { spawnSync } from "node:child_process"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Application, CgiVariables } from "../../src/Protocol.js"
import { makeServer, type WSGIServer } from "../../src/Server.js"
import { RawClient } from "../support/rawHttp.js"
import { requestEnviron } from "../../src/internal/requestEnviron.js"
import { requestUri } from "../../src/Util.js"

const NUM_RUNS = 200

// RFC 3986: unreserved, sub-delims, ":" and "@" may stand raw in a path segment.
const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
const PCHAR_RAW = UNRESERVED + "!$&'()*+,;=:@"
// What CPython's quote(path, safe="/;=,") leaves alone; everything else is %XX (upper case).
// An encoded "/" (%2F) inside a segment comes back as a plain "/": PATH_INFO is decoded
// (PEP 3333), so that one distinction is lost on the way, as in every WSGI server.
const CANONICAL_RAW = UNRESERVED + "/;=,"

const hex2 = (byte: number, upper: boolean): string => {
  const text = byte.toString(16).padStart(2, "0")
  return upper ? text.toUpperCase() : text
}

/** A path segment: bytes, and for each whether it is sent raw (when allowed) and in which hex case. */
interface Byte {
  readonly byte: number
  readonly raw: boolean
  readonly upper: boolean
}
const byte: fc.Arbitrary<Byte> = fc.record({
  byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...[..."/?#% aZ.~;=,:@+"].map((c) => c.charCodeAt(0)))),
  raw: fc.boolean(),
  upper: fc.boolean()
})
const segment = fc.array(byte, { maxLength: 6 })
const segments = fc.array(segment, { maxLength: 5 })

/** How the path is written on the wire: raw bytes where allowed and chosen, else %XX. */
const writePath = (segs: ReadonlyArray<ReadonlyArray<Byte>>): string =>
  "/" + segs.map((seg) =>
    seg.map(({ byte, raw, upper }) => {
      const char = String.fromCharCode(byte)
      return raw && PCHAR_RAW.includes(char) ? char : `%${hex2(byte, upper)}`
    }).join("")
  ).join("/")

/** The same path written canonically (what requestUri must give back). */
const canonicalPath = (segs: ReadonlyArray<ReadonlyArray<Byte>>): string =>
  "/" + segs.map((seg) =>
    seg.map(({ byte }) => {
      const char = String.fromCharCode(byte)
      return CANONICAL_RAW.includes(char) ? char : `%${hex2(byte, true)}`
    }).join("")
  ).join("/")

/** The decoded path as PEP 3333 wants it: bytes as latin-1 ("/" between segments). */
const decodedPath = (segs: ReadonlyArray<ReadonlyArray<Byte>>): string =>
  "/" + segs.map((seg) => seg.map(({ byte }) => String.fromCharCode(byte)).join("")).join("/")

// RFC 3986 query: pchar, "/" and "?" raw, and %XX; sent and returned untouched.
const queryPart = fc.oneof(
  fc.constantFrom(...[...PCHAR_RAW + "/?"]),
  fc.integer({ min: 0, max: 255 }).map((b) => `%${hex2(b, b % 2 === 0)}`)
)
const query = fc.option(fc.string({ unit: queryPart, maxLength: 10 }), { nil: undefined })
const host = fc.constantFrom("example.com", "127.0.0.1:8080", "[::1]:8000", "h")
const form = fc.constantFrom("origin" as const, "absolute" as const)

interface Case {
  readonly segs: ReadonlyArray<ReadonlyArray<Byte>>
  readonly query: string | undefined
  readonly host: string
  readonly form: "origin" | "absolute"
}
const requestCase: fc.Arbitrary<Case> = fc.record({ segs: segments, query, host, form })

const targetOf = (c: Case, path: string = writePath(c.segs)): string => {
  const originForm = c.query === undefined ? path : `${path}?${c.query}`
  return c.form === "origin" ? originForm : `http://${c.host}${originForm}`
}

const environOf = (target: string, hostHeader: string): CgiVariables => {
  const environ = requestEnviron(
    { method: "GET", target, protocol: "HTTP/1.1", rawHeaders: ["Host", hostHeader], remoteAddress: "127.0.0.1" },
    { serverName: "127.0.0.1", serverPort: "8000", serverSoftware: "test" }
  )
  environ["wsgi.url_scheme"] = "http"
  return environ
}

/** What requestUri must give for a case. */
const expectedUri = (c: Case): string =>
  `http://${c.host}${canonicalPath(c.segs)}${c.query ? `?${c.query}` : ""}`

describe("request target → environ → requestUri", () => {
  it("PATH_INFO holds the decoded bytes, QUERY_STRING the query as sent", () => {
    fc.assert(
      fc.property(requestCase, (c) => {
        const environ = environOf(targetOf(c), c.host)
        expect(environ["PATH_INFO"]).toBe(decodedPath(c.segs))
        expect(environ["QUERY_STRING"]).toBe(c.query ?? "")
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("requestUri gives the canonical target; a canonical one comes back byte for byte", () => {
    fc.assert(
      fc.property(requestCase, (c) => {
        const expected = expectedUri(c)
        expect(requestUri(environOf(targetOf(c), c.host))).toBe(expected)
        expect(requestUri(environOf(targetOf(c, canonicalPath(c.segs)), c.host))).toBe(expected)
        expect(requestUri(environOf(targetOf(c), c.host), false)).toBe(`http://${c.host}${canonicalPath(c.segs)}`)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("is a fixed point: the URI sent again gives itself", () => {
    fc.assert(
      fc.property(requestCase, (c) => {
        const first = requestUri(environOf(targetOf(c), c.host))
        const again = requestUri(environOf(first.slice(`http://${c.host}`.length), c.host))
        expect(again).toBe(first)
        // And in absolute-form as it stands.
        expect(requestUri(environOf(first, c.host))).toBe(first)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("stray and malformed escapes (%, %z, %4) are kept as text, and survive too", () => {
    const stray = fc.string({ unit: fc.constantFrom("%", "%z", "%4", "%%", "a", "/", "%41", "%2f", "%2F"), maxLength: 8 })
    fc.assert(
      fc.property(stray, (rest) => {
        const environ = environOf(`/${rest}`, "h")
        const uri = requestUri(environ)
        expect(requestUri(environOf(uri.slice("http://h".length), "h"))).toBe(uri)
        expect(decodeURIComponentLatin1(uri.slice("http://h".length))).toBe(environ["PATH_INFO"])
      }),
      { numRuns: NUM_RUNS }
    )
  })

  describe("through makeServer, over one keep-alive socket", () => {
    let server: WSGIServer
    let client: RawClient
    // Answers with requestUri(environ) and PATH_INFO, as JSON.
    const app: Application = (environ, startResponse) => {
      environ["wsgi.url_scheme"] = "http"
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [Buffer.from(JSON.stringify([requestUri(environ), environ["PATH_INFO"]]), "utf8")]
    }
    beforeAll(async () => {
      server = await makeServer("127.0.0.1", 0, app)
      client = await RawClient.connect(server.port)
    })
    afterAll(async () => {
      client.destroy()
      await server.close()
    })

    it("the target as sent on the wire comes back canonical, PATH_INFO decoded", async () => {
      await fc.assert(
        fc.asyncProperty(requestCase, async (c) => {
          client.send(`GET ${targetOf(c)} HTTP/1.1\r\nHost: ${c.host}\r\n\r\n`)
          const response = await client.response()
          expect(response.code).toBe(200)
          const [uri, pathInfo] = JSON.parse(response.body.toString("utf8")) as [string, string]
          expect(uri).toBe(expectedUri(c))
          expect(pathInfo).toBe(decodedPath(c.segs))
        }),
        { numRuns: 100 }
      )
    })
  })

  const python = spawnSync("python3", ["-c", "import wsgiref.util"], { encoding: "utf8" })
  it.skipIf(python.status !== 0)("CPython's request_uri gives the same URIs (one python3 run for all cases)", () => {
    const cases = fc.sample(requestCase, NUM_RUNS)
    const environs = cases.map((c) => {
      const environ = environOf(targetOf(c), c.host)
      return { PATH_INFO: environ["PATH_INFO"], QUERY_STRING: environ["QUERY_STRING"], HTTP_HOST: c.host, SCRIPT_NAME: "", "wsgi.url_scheme": "http" }
    })
    const script = [
      "import json, sys",
      "from wsgiref.util import request_uri",
      "environs = json.load(sys.stdin)",
      "print(json.dumps([[request_uri(e), request_uri(e, False)] for e in environs]))"
    ].join("\n")
    const result = spawnSync("python3", ["-c", script], { input: JSON.stringify(environs), encoding: "utf8" })
    expect(result.status, result.stderr).toBe(0)
    const fromPython = JSON.parse(result.stdout) as Array<[string, string]>
    environs.forEach((environ, i) => {
      expect([requestUri({ ...environ }), requestUri({ ...environ }, false)], JSON.stringify(environ)).toEqual(fromPython[i])
    })
  })
})

/** %XX → byte → latin-1 character; anything else as it is (Python's unquote to latin-1). */
const decodeURIComponentLatin1 = (text: string): string =>
  text.replace(/%([0-9A-Fa-f]{2})/g, (_match, digits: string) => String.fromCharCode(parseInt(digits, 16)))
