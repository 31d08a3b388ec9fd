/**
 * `requestEnviron`: CPython's `WSGIRequestHandler.get_environ`, rule by rule.
 */
import { describe, expect, it } from "vitest"
import { type RequestLine, requestEnviron, splitTarget, unquoteLatin1 } from "../../src/internal/requestEnviron.js"

const server = { serverName: "example.test", serverPort: "8000", serverSoftware: "WSGIServer/0.2" }

/** A request line; `headers` as pairs, flattened into node's rawHeaders form. */
const request = (
  { headers = [], ...fields }: Partial<Omit<RequestLine, "rawHeaders">> & { headers?: Array<[string, string]> } = {}
): RequestLine => ({
  method: "GET",
  target: "/",
  protocol: "HTTP/1.1",
  remoteAddress: "127.0.0.1",
  ...fields,
  rawHeaders: headers.flat()
})

describe("requestEnviron", () => {
  it("sets the CGI variables in get_environ's order, with its defaults", () => {
    const environ = requestEnviron(request({ target: "/a?b=c", headers: [["Host", "example.test:8000"]] }), server)
    expect(Object.entries(environ)).toEqual([
      ["SERVER_NAME", "example.test"],
      ["GATEWAY_INTERFACE", "CGI/1.1"],
      ["SERVER_PORT", "8000"],
      ["REMOTE_HOST", ""],
      ["CONTENT_LENGTH", ""],
      ["SCRIPT_NAME", ""],
      ["SERVER_PROTOCOL", "HTTP/1.1"],
      ["SERVER_SOFTWARE", "WSGIServer/0.2"],
      ["REQUEST_METHOD", "GET"],
      ["PATH_INFO", "/a"],
      ["QUERY_STRING", "b=c"],
      ["REMOTE_ADDR", "127.0.0.1"],
      ["CONTENT_TYPE", "text/plain"],
      ["HTTP_HOST", "example.test:8000"]
    ])
  })

  it("percent-decodes PATH_INFO to bytes read as latin-1, leaves bad escapes, splits at the first '?'", () => {
    const environ = requestEnviron(request({ target: "/caf%C3%A9/%e9%2F%zz%4/%?x=%20?y" }), server)
    expect(environ["PATH_INFO"]).toBe("/caf\xc3\xa9/\xe9/%zz%4/%")
    expect(environ["QUERY_STRING"]).toBe("x=%20?y")
    expect(unquoteLatin1("%41%4")).toBe("A%4")
    expect(unquoteLatin1("no escapes")).toBe("no escapes")
  })

  it("takes the path of an absolute-form target, never its scheme and host", () => {
    expect(splitTarget("http://example.test:8000/p/q?x=1")).toEqual({ path: "/p/q", query: "x=1" })
    expect(splitTarget("http://example.test")).toEqual({ path: "/", query: "" })
    expect(requestEnviron(request({ target: "https://h/x%20y" }), server)["PATH_INFO"]).toBe("/x y")
    expect(requestEnviron(request({ target: "*", method: "OPTIONS" }), server)["PATH_INFO"]).toBe("*")
  })

  it("uses the first Content-Type and Content-Length, and never makes HTTP_ variables of them", () => {
    const environ = requestEnviron(request({
      headers: [
        ["content-type", "application/json"],
        ["Content-Length", "12"],
        ["Content-Type", "text/html"],
        ["Content-Length", "99"]
      ]
    }), server)
    expect(environ["CONTENT_TYPE"]).toBe("application/json")
    expect(environ["CONTENT_LENGTH"]).toBe("12")
    expect(Object.keys(environ).filter((key) => key.startsWith("HTTP_"))).toEqual([])
  })

  it("leaves CONTENT_LENGTH empty when the first Content-Length is empty", () => {
    expect(requestEnviron(request({ headers: [["Content-Length", ""], ["Content-Length", "5"]] }), server)["CONTENT_LENGTH"]).toBe("")
  })

  it("joins repeated headers with ',' (no space) and trims each value", () => {
    const environ = requestEnviron(request({
      headers: [["Accept", " text/html "], ["X-Forwarded-For", "1.2.3.4"], ["accept", "*/*"], ["x-forwarded-for", "5.6.7.8"]]
    }), server)
    expect(environ["HTTP_ACCEPT"]).toBe("text/html,*/*")
    expect(environ["HTTP_X_FORWARDED_FOR"]).toBe("1.2.3.4,5.6.7.8")
  })

  it("skips a header whose key is already a variable, as CPython's `if k in env: continue`", () => {
    const environ = requestEnviron(request({
      headers: [
        // Underscored names map to the same keys as the CGI variables.
        ["Content_Type", "evil/type"],
        ["Remote_Addr", "10.0.0.1"],
        ["Host", "h"],
        // Its key HTTP_HOST is a variable now: skipped, not HTTP_HTTP_HOST.
        ["Http-Host", "spoofed"]
      ]
    }), server)
    expect(environ["CONTENT_TYPE"]).toBe("text/plain")
    expect(environ["REMOTE_ADDR"]).toBe("127.0.0.1")
    expect(environ["HTTP_HOST"]).toBe("h")
    expect(environ["HTTP_HTTP_HOST"]).toBeUndefined()
    expect(environ["HTTP_REMOTE_ADDR"]).toBeUndefined()
  })

  it("is a new record: get_environ's variables in its order, then the headers in theirs", () => {
    const environ = requestEnviron(request({ headers: [["X-B", "2"], ["Content-Type", "text/html"], ["X-A", "1"]] }), server)
    expect(Object.keys(environ)).toEqual([
      "SERVER_NAME",
      "GATEWAY_INTERFACE",
      "SERVER_PORT",
      "REMOTE_HOST",
      "CONTENT_LENGTH",
      "SCRIPT_NAME",
      "SERVER_PROTOCOL",
      "SERVER_SOFTWARE",
      "REQUEST_METHOD",
      "PATH_INFO",
      "QUERY_STRING",
      "REMOTE_ADDR",
      "CONTENT_TYPE",
      "HTTP_X_B",
      "HTTP_X_A"
    ])
    expect(environ["CONTENT_TYPE"]).toBe("text/html")
    expect(requestEnviron(request({}), server)).not.toBe(requestEnviron(request({}), server))
  })

  it("maps many distinct header names (past the key cache) the same way", () => {
    const headers: Array<[string, string]> = []
    for (let i = 0; i < 1500; i++) headers.push([`X-Name-${i}`, String(i)])
    const environ = requestEnviron(request({ headers }), server)
    expect(environ["HTTP_X_NAME_0"]).toBe("0")
    expect(environ["HTTP_X_NAME_1499"]).toBe("1499")
  })
})
