import { Effect, TestClock, TestContext } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { formatHttpDate, httpDateNow, systemClock } from "../../src/internal/httpDate.js"

describe("httpDateNow", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it("on the system clock: the current second, formatted once and kept until the next", () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout"] })
    vi.setSystemTime(Date.UTC(2026, 11, 3, 14, 7, 6, 250))
    const first = httpDateNow(systemClock)
    expect(first).toBe("Thu, 03 Dec 2026 14:07:06 GMT")
    // Within the second: the same text (kept, not formatted again).
    vi.advanceTimersByTime(700)
    expect(httpDateNow(systemClock)).toBe(first)
    // The timer set for the next second drops it.
    vi.advanceTimersByTime(50)
    expect(httpDateNow(systemClock)).toBe("Thu, 03 Dec 2026 14:07:07 GMT")
    vi.advanceTimersByTime(3_000)
    expect(httpDateNow(systemClock)).toBe("Thu, 03 Dec 2026 14:07:10 GMT")
  })

  it("on another clock: that clock's time, read on every call", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(1994, 10, 6, 8, 49, 37))
      const clock = yield* Effect.clock
      expect(httpDateNow(clock)).toBe("Sun, 06 Nov 1994 08:49:37 GMT")
      yield* TestClock.adjust("2 seconds")
      expect(httpDateNow(clock)).toBe(formatHttpDate(Date.UTC(1994, 10, 6, 8, 49, 39) / 1000))
    }).pipe(Effect.provide(TestContext.TestContext), Effect.runPromise))
})
