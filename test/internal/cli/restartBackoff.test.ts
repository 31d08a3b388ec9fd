/**
 * The supervisor's delays before starting again a worker that keeps failing to start:
 * doubling from 500 ms, capped at 30 s, one attempt scheduled at a time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { retryDelay, StartRetry } from "../../../src/internal/cli/restartBackoff.js"

describe("retryDelay", () => {
  it("doubles from 500 ms per failed start in a row, up to 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(retryDelay)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
  })
})

describe("StartRetry", () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("runs the attempt after the delay it returns, once, and is pending until then", () => {
    const retry = new StartRetry()
    let attempts = 0
    expect(retry.pending).toBe(false)
    expect(retry.schedule(() => attempts++)).toBe(500)
    expect(retry.pending).toBe(true)
    vi.advanceTimersByTime(499)
    expect(attempts).toBe(0)
    vi.advanceTimersByTime(1)
    expect(attempts).toBe(1)
    expect(retry.pending).toBe(false)
    vi.advanceTimersByTime(60_000)
    expect(attempts).toBe(1)
  })

  it("a failure while one is scheduled replaces it with the next, longer delay; a success starts over", () => {
    const retry = new StartRetry()
    const ran: Array<string> = []
    retry.schedule(() => ran.push("first"))
    expect(retry.schedule(() => ran.push("second"))).toBe(1000)
    vi.advanceTimersByTime(1000)
    expect(ran).toEqual(["second"])
    expect(retry.schedule(() => ran.push("third"))).toBe(2000)
    retry.succeeded()
    vi.advanceTimersByTime(2000)
    expect(ran).toEqual(["second", "third"])
    expect(retry.schedule(() => ran.push("fourth"))).toBe(500)
  })

  it("cancel drops the scheduled attempt and the count of failures", () => {
    const retry = new StartRetry()
    let attempts = 0
    retry.schedule(() => attempts++)
    retry.schedule(() => attempts++)
    retry.cancel()
    expect(retry.pending).toBe(false)
    vi.advanceTimersByTime(60_000)
    expect(attempts).toBe(0)
    expect(retry.schedule(() => attempts++)).toBe(500)
  })
})
