/**
 * The parsing behind `forwardedAllowIps`: which peers are trusted, and what their
 * `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` headers set (over real sockets:
 * test/deploy/forwarded.test.ts).
 */
import { describe, expect, it } from "vitest"
import { applyForwarded, isTrusted } from "../../../src/internal/node/forwarded.js"
import type { CgiVariables } from "../../../src/Protocol.js"

describe("forwarded parsing", () => {
  const vars = (extra: CgiVariables): CgiVariables => ({ REMOTE_ADDR: "127.0.0.1", ...extra })

  it("isTrusted: exact addresses, IPv4-mapped IPv6, networks, *", () => {
    expect(isTrusted("127.0.0.1", ["127.0.0.1"])).toBe(true)
    expect(isTrusted("::ffff:127.0.0.1", ["127.0.0.1"])).toBe(true)
    expect(isTrusted("127.0.0.2", ["127.0.0.1"])).toBe(false)
    expect(isTrusted("10.9.8.7", ["10.0.0.0/8"])).toBe(true)
    expect(isTrusted("11.0.0.1", ["10.0.0.0/8"])).toBe(false)
    expect(isTrusted("fd00::5", ["fd00::/8"])).toBe(true)
    expect(isTrusted("anything", ["*"])).toBe(true)
    expect(isTrusted("127.0.0.1", [])).toBe(false)
    expect(isTrusted("127.0.0.1", ["garbage/xx"])).toBe(false)
  })

  it("X-Forwarded-Proto: the last value counts; anything but http/https is ignored", () => {
    const a = vars({ HTTP_X_FORWARDED_PROTO: "http, https" })
    applyForwarded(a, ["127.0.0.1"])
    expect(a["HTTPS"]).toBe("on")
    const b = vars({ HTTP_X_FORWARDED_PROTO: "http", HTTPS: "on" })
    applyForwarded(b, ["127.0.0.1"])
    expect(b["HTTPS"]).toBeUndefined()
    const c = vars({ HTTP_X_FORWARDED_PROTO: "gopher" })
    applyForwarded(c, ["127.0.0.1"])
    expect(c["HTTPS"]).toBeUndefined()
  })

  it("X-Forwarded-For with ports and brackets", () => {
    const a = vars({ HTTP_X_FORWARDED_FOR: "203.0.113.7:5555" })
    applyForwarded(a, ["127.0.0.1"])
    expect(a["REMOTE_ADDR"]).toBe("203.0.113.7")
    const b = vars({ HTTP_X_FORWARDED_FOR: "[2001:db8::2]:80" })
    applyForwarded(b, ["127.0.0.1"])
    expect(b["REMOTE_ADDR"]).toBe("2001:db8::2")
    const c = vars({ HTTP_X_FORWARDED_FOR: "2001:db8::3" })
    applyForwarded(c, ["127.0.0.1"])
    expect(c["REMOTE_ADDR"]).toBe("2001:db8::3")
  })

  it("every hop a trusted proxy: the farthest one", () => {
    const a = vars({ HTTP_X_FORWARDED_FOR: "10.0.0.1, 10.0.0.2" })
    applyForwarded(a, ["10.0.0.0/8"])
    expect(a["REMOTE_ADDR"]).toBe("10.0.0.1")
  })
})
