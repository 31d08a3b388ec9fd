import { describe, expect, it } from "vitest"
import { BytesInputStream } from "../src/internal/bytesInput.js"
import { StringErrorStream } from "../src/internal/stringErrors.js"
import type { CgiVariables, Environ } from "../src/Protocol.js"
import {
  applicationUri,
  guessScheme,
  isHopByHop,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo
} from "../src/Util.js"

/** A testing environ with `overrides` applied first, as CPython's tests build theirs. */
const testEnviron = (overrides: CgiVariables = {}): Environ => {
  const environ: CgiVariables = { ...overrides }
  setupTestingDefaults(environ)
  return environ
}

describe("guessScheme", () => {
  it.each([
    [{}, "http"],
    [{ HTTPS: "foo" }, "http"],
    [{ HTTPS: "off" }, "http"],
    [{ HTTPS: "ON" }, "http"],
    [{ HTTPS: 1 }, "http"],
    [{ HTTPS: "on" }, "https"],
    [{ HTTPS: "yes" }, "https"],
    [{ HTTPS: "1" }, "https"]
  ])("%o -> %s", (environ, scheme) => {
    expect(guessScheme(environ)).toBe(scheme)
  })
})

describe("applicationUri", () => {
  it.each<[string, CgiVariables]>([
    ["http://127.0.0.1/", {}],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "/spam" }],
    ["http://127.0.0.1/sp%E4m", { SCRIPT_NAME: "/sp\xe4m" }],
    ["http://spam.example.com:2071/", { HTTP_HOST: "spam.example.com:2071", SERVER_PORT: "2071" }],
    ["http://spam.example.com/", { SERVER_NAME: "spam.example.com" }],
    ["http://127.0.0.1/", { HTTP_HOST: "127.0.0.1", SERVER_NAME: "spam.example.com" }],
    ["https://127.0.0.1/", { HTTPS: "on" }],
    ["http://127.0.0.1:8000/", { SERVER_PORT: "8000", HTTP_HOST: null }],
    [
      "https://example.com:8443/",
      { HTTPS: "on", HTTP_HOST: "", SERVER_NAME: "example.com", SERVER_PORT: "8443" }
    ],
    ["http://example.com:443/", { HTTP_HOST: "", SERVER_NAME: "example.com", SERVER_PORT: "443" }]
  ])("%s", (uri, overrides) => {
    expect(applicationUri(testEnviron(overrides))).toBe(uri)
  })

  it("quotes SCRIPT_NAME like urllib.parse.quote with safe '/'", () => {
    const environ = testEnviron({ SCRIPT_NAME: "/a b;c=d,e?f#g%h~i_j.k-l" })
    expect(applicationUri(environ)).toBe("http://127.0.0.1/a%20b%3Bc%3Dd%2Ce%3Ff%23g%25h~i_j.k-l")
  })

  it("refuses a SCRIPT_NAME that is not latin-1", () => {
    expect(() => applicationUri(testEnviron({ SCRIPT_NAME: "/\u20ac" }))).toThrow(RangeError)
  })

  it("needs a scheme, and a server name and port when there is no host", () => {
    expect(() => applicationUri({ HTTP_HOST: "h" })).toThrow(TypeError)
    expect(() => applicationUri({ "wsgi.url_scheme": "http", SERVER_PORT: "80" })).toThrow(
      'environ["SERVER_NAME"] is missing'
    )
    expect(() => applicationUri({ "wsgi.url_scheme": "http", SERVER_NAME: "h", SERVER_PORT: 80 })).toThrow(
      'environ["SERVER_PORT"] must be a string (not number)'
    )
    expect(applicationUri({ "wsgi.url_scheme": "http", HTTP_HOST: "h" })).toBe("http://h/")
  })
})

describe("requestUri", () => {
  it.each<[string, CgiVariables, boolean?]>([
    ["http://127.0.0.1/", {}],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "/spam" }],
    ["http://127.0.0.1/sp%E4m", { SCRIPT_NAME: "/sp\xe4m" }],
    ["http://127.0.0.1/spammity/spam", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam" }],
    ["http://127.0.0.1/spammity/sp%E4m", { SCRIPT_NAME: "/spammity", PATH_INFO: "/sp\xe4m" }],
    ["http://127.0.0.1/spammity/spam;ham", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam;ham" }],
    [
      "http://127.0.0.1/spammity/spam;cookie=1234,5678",
      { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam;cookie=1234,5678" }
    ],
    [
      "http://127.0.0.1/spammity/spam?say=ni",
      { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "say=ni" }
    ],
    [
      "http://127.0.0.1/spammity/spam?s%E4y=ni",
      { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "s%E4y=ni" }
    ],
    [
      "http://127.0.0.1/spammity/spam",
      { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "say=ni" },
      false
    ],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "", PATH_INFO: "/spam" }],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "", PATH_INFO: "/spam", QUERY_STRING: "" }]
  ])("%s", (uri, overrides, includeQuery) => {
    expect(requestUri(testEnviron(overrides), includeQuery)).toBe(uri)
  })

  it("quotes PATH_INFO like urllib.parse.quote with safe '/;=,' and latin-1", () => {
    const environ = testEnviron({ SCRIPT_NAME: "", PATH_INFO: " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~\x7f\xff" })
    expect(requestUri(environ)).toBe(
      "http://127.0.0.1/%20%21%22%23%24%25%26%27%28%29%2A%2B,/%3A;%3C=%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D~%7F%FF"
    )
  })

  it("leaves the query string as it came", () => {
    const environ = testEnviron({ PATH_INFO: "/p", QUERY_STRING: "a=b c&d=%20" })
    expect(requestUri(environ)).toBe("http://127.0.0.1/p?a=b c&d=%20")
  })

  it("drops only a leading slash of PATH_INFO when there is no SCRIPT_NAME", () => {
    // CPython drops the first character whatever it is ("x" would vanish).
    expect(requestUri(testEnviron({ SCRIPT_NAME: "", PATH_INFO: "x" }))).toBe("http://127.0.0.1/x")
  })

  it("refuses a PATH_INFO that is not latin-1", () => {
    expect(() => requestUri(testEnviron({ PATH_INFO: "/\u0100" }))).toThrow(RangeError)
  })
})

describe("shiftPathInfo", () => {
  /** Shifts once from the given paths; returns the name and the paths after. */
  const shift = (scriptName: string, pathInfo: string) => {
    const environ = testEnviron({ SCRIPT_NAME: scriptName, PATH_INFO: pathInfo })
    const name = shiftPathInfo(environ)
    return [name, environ["SCRIPT_NAME"], environ["PATH_INFO"]]
  }

  it.each<[string, string, string | null, string, string]>([
    // CPython testSimpleShifts
    ["", "/", "", "/", ""],
    ["", "/x", "x", "/x", ""],
    ["/", "", null, "/", ""],
    ["/a", "/x/y", "x", "/a/x", "/y"],
    ["/a", "/x/", "x", "/a/x", "/"],
    // CPython testNormalizedShifts
    ["/a/b", "/../y", "..", "/a", "/y"],
    ["", "/../y", "..", "", "/y"],
    ["/a/b", "//y", "y", "/a/b/y", ""],
    ["/a/b", "//y/", "y", "/a/b/y", "/"],
    ["/a/b", "/./y", "y", "/a/b/y", ""],
    ["/a/b", "/./y/", "y", "/a/b/y", "/"],
    ["/a/b", "///./..//y/.//", "..", "/a", "/y/"],
    ["/a/b", "///", "", "/a/b/", ""],
    ["/a/b", "/.//", "", "/a/b/", ""],
    ["/a/b", "/x//", "x", "/a/b/x", "/"],
    ["/a/b", "/.", null, "/a/b", ""],
    // posixpath.normpath details, checked against CPython
    ["/a/", "/b", "b", "/a/b", ""],
    ["/", "/x", "x", "//x", ""],
    ["//a", "/b", "b", "//a/b", ""],
    ["///a", "/b", "b", "/a/b", ""],
    ["a", "/..", "..", ".", ""],
    ["/a", "x/y", "y", "/a/y", "x"]
  ])("SCRIPT_NAME %j, PATH_INFO %j -> %j, %j, %j", (scriptName, pathInfo, name, scriptAfter, pathAfter) => {
    expect(shift(scriptName, pathInfo)).toEqual([name, scriptAfter, pathAfter])
  })

  it("walks a whole path, segment by segment", () => {
    const environ: CgiVariables = { SCRIPT_NAME: "", PATH_INFO: "/a/b/c/" }
    const names: Array<string | null> = []
    for (let name = shiftPathInfo(environ); name !== null; name = shiftPathInfo(environ)) names.push(name)
    expect(names).toEqual(["a", "b", "c", ""])
    expect(environ).toEqual({ SCRIPT_NAME: "/a/b/c/", PATH_INFO: "" })
  })

  it("returns null and changes nothing when there is no segment", () => {
    for (const environ of [{}, { PATH_INFO: "" }, { PATH_INFO: null }, { SCRIPT_NAME: "/s", PATH_INFO: "*" }]) {
      const before = { ...environ }
      expect(shiftPathInfo(environ)).toBeNull()
      expect(environ).toEqual(before)
    }
  })

  it("treats a missing SCRIPT_NAME as empty", () => {
    const environ: CgiVariables = { PATH_INFO: "/x/y" }
    expect(shiftPathInfo(environ)).toBe("x")
    expect(environ).toEqual({ SCRIPT_NAME: "/x", PATH_INFO: "/y" })
  })
})

describe("setupTestingDefaults", () => {
  it.each<[string, unknown]>([
    ["SERVER_NAME", "127.0.0.1"],
    ["SERVER_PORT", "80"],
    ["SERVER_PROTOCOL", "HTTP/1.0"],
    ["HTTP_HOST", "127.0.0.1"],
    ["REQUEST_METHOD", "GET"],
    ["SCRIPT_NAME", ""],
    ["PATH_INFO", "/"],
    ["wsgi.version", [1, 0]],
    ["wsgi.run_once", false],
    ["wsgi.multithread", false],
    ["wsgi.multiprocess", false],
    ["wsgi.url_scheme", "http"]
  ])("defaults %s to %j and keeps a value already there", (key, value) => {
    expect(testEnviron()[key]).toEqual(value)
    const existing = { marker: true }
    expect(testEnviron({ [key]: existing })[key]).toBe(existing)
    expect(testEnviron({ [key]: null })[key]).toBeNull()
  })

  it("gives an empty wsgi.input and an in-memory wsgi.errors", async () => {
    const environ = testEnviron()
    const input = environ["wsgi.input"]
    const errors = environ["wsgi.errors"]
    expect(input).toBeInstanceOf(BytesInputStream)
    expect(errors).toBeInstanceOf(StringErrorStream)
    expect((await (input as BytesInputStream).read()).length).toBe(0)
    ;(errors as StringErrorStream).write("oops\n")
    expect((errors as StringErrorStream).value).toBe("oops\n")
    const existing = new BytesInputStream(new Uint8Array([1]))
    expect(testEnviron({ "wsgi.input": existing })["wsgi.input"]).toBe(existing)
  })

  it("gives each environ its own streams", () => {
    expect(testEnviron()["wsgi.errors"]).not.toBe(testEnviron()["wsgi.errors"])
    expect(testEnviron()["wsgi.input"]).not.toBe(testEnviron()["wsgi.input"])
  })

  it.each<[string, string, CgiVariables]>([
    ["HTTP_HOST", "foo.bar", { SERVER_NAME: "foo.bar" }],
    ["wsgi.url_scheme", "https", { HTTPS: "on" }],
    ["wsgi.url_scheme", "https", { HTTPS: "1" }],
    ["wsgi.url_scheme", "https", { HTTPS: "yes" }],
    ["wsgi.url_scheme", "http", { HTTPS: "foo" }],
    ["SERVER_PORT", "80", { HTTPS: "foo" }],
    ["SERVER_PORT", "443", { HTTPS: "on" }],
    ["SERVER_PORT", "443", { "wsgi.url_scheme": "https" }]
  ])("derives %s = %j from %j", (key, value, overrides) => {
    expect(testEnviron(overrides)[key]).toBe(value)
  })

  it("adds no SERVER_PORT for an unknown scheme", () => {
    expect(testEnviron({ "wsgi.url_scheme": "gopher" })["SERVER_PORT"]).toBeUndefined()
  })

  it("fills SCRIPT_NAME and PATH_INFO only when both are missing", () => {
    expect(testEnviron({ SCRIPT_NAME: "/app" })["PATH_INFO"]).toBeUndefined()
    expect(testEnviron({ PATH_INFO: "/x" })["SCRIPT_NAME"]).toBeUndefined()
  })

  it("counts a key holding undefined as missing", () => {
    expect(testEnviron({ SERVER_NAME: undefined })["SERVER_NAME"]).toBe("127.0.0.1")
  })

  it("changes the environ in place and keeps its other keys", () => {
    const environ: CgiVariables = { CUSTOM: "kept" }
    setupTestingDefaults(environ)
    expect(environ["CUSTOM"]).toBe("kept")
    expect(environ["REQUEST_METHOD"]).toBe("GET")
  })
})

describe("isHopByHop", () => {
  const titleCase = (name: string) =>
    name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())
  const variants = (name: string) => [name, name.toLowerCase(), name.toUpperCase(), titleCase(name)]

  const hopByHop = [
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "TE",
    "Trailers",
    "Transfer-Encoding",
    "Upgrade"
  ]

  it.each(hopByHop)("%s is hop-by-hop in any case", (name) => {
    for (const variant of variants(name)) expect(isHopByHop(variant)).toBe(true)
  })

  it.each(["Accept", "Cache-Control", "Date", "Pragma", "Trailer", "Via", "Warning", "Content-Length"])(
    "%s is end-to-end",
    (name) => {
      for (const variant of variants(name)) expect(isHopByHop(variant)).toBe(false)
    }
  )
})
