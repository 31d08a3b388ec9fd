/**
 * The validator's checks of the body the application returns and of how the gateway
 * iterates and closes it (CPython's `IteratorWrapper` and `check_iterator`).
 */
import type { ResponseBody } from "../../Protocol.js"
import { assert, fail, warn } from "./report.js"
import { repr } from "./repr.js"

// CPython's IteratorWrapper.__del__: the only way to notice that a gateway never closed the
// body is to see the wrapper collected while still open.
const unclosed = new FinalizationRegistry<BodyState>((state) => {
  if (!state.closed) warn("Iterator garbage collected without being closed")
})

interface BodyState {
  closed: boolean
}

export interface ResponseState {
  /** True once the application called startResponse (CPython's `start_response_started`). */
  started: boolean
  /** True once a startResponse call went through to the gateway. */
  headersSet: boolean
}

/**
 * CPython's `IteratorWrapper`, for sync and async bodies alike: chunks must be bytes, the
 * first one may only come once `startResponse` was called, nothing is read after
 * `close()`, and `close()` is called exactly once.
 */
export const wrapBody = (original: ResponseBody, response: ResponseState): ResponseBody => {
  const state: BodyState = { closed: false }
  let checkStartResponse = true
  let kind: "sync" | "async" | null = null

  const begin = (requested: "sync" | "async"): void => {
    assert(
      kind === null || kind === requested,
      () => "The application's iterable was iterated both synchronously and asynchronously"
    )
    kind = requested
  }

  const checkValue = (value: unknown): Uint8Array => {
    if (!(value instanceof Uint8Array)) fail(`Iterator yielded non-bytestring (${repr(value)})`)
    if (checkStartResponse) {
      assert(
        response.started,
        () =>
          "The application returns and we started iterating over its body, but start_response has not yet been called"
      )
      checkStartResponse = false
    }
    return value as Uint8Array
  }

  const checkOpen = (): void => assert(!state.closed, () => "Iterator read after closed")

  const close = (): void | Promise<void> => {
    assert(!state.closed, () => "The application's iterable was closed more than once")
    state.closed = true
    unclosed.unregister(state)
    return typeof original.close === "function" ? original.close() : undefined
  }

  if (Array.isArray(original)) {
    // An array stays an array, of the same length, so the gateway treats the response as it
    // would without the validator (a one-chunk array gets its Content-Length; CPython's
    // wrapper hides that and changes the response). Every element is read through a getter,
    // so a gateway that indexes the array instead of iterating it is checked all the same.
    const items: ReadonlyArray<unknown> = original
    const copy: Array<Uint8Array> = new Array(items.length)
    for (let i = 0; i < items.length; i++) {
      Object.defineProperty(copy, i, {
        get: () => {
          checkOpen()
          return checkValue(items[i])
        },
        enumerable: true,
        configurable: false
      })
    }
    Object.defineProperty(copy, "close", { value: close, enumerable: false })
    unclosed.register(copy, state, state)
    return copy as ResponseBody
  }

  const body: {
    close(): void | Promise<void>
    [Symbol.iterator]?: () => Iterator<Uint8Array>
    [Symbol.asyncIterator]?: () => AsyncIterator<Uint8Array>
  } = { close }

  if (typeof (original as Iterable<unknown>)[Symbol.iterator] === "function") {
    // As Python's iter(): every call hands back the one iterator.
    let wrapper: Iterator<Uint8Array> | null = null
    body[Symbol.iterator] = () => {
      begin("sync")
      if (wrapper !== null) return wrapper
      const inner = (original as Iterable<unknown>)[Symbol.iterator]()
      wrapper = {
        next: () => {
          checkOpen()
          const step = inner.next()
          return step.done ? { done: true, value: undefined } : { done: false, value: checkValue(step.value) }
        },
        return: () => {
          if (typeof inner.return === "function") inner.return()
          return { done: true, value: undefined }
        }
      }
      return wrapper
    }
  }
  if (typeof (original as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    let wrapper: AsyncIterator<Uint8Array> | null = null
    body[Symbol.asyncIterator] = () => {
      begin("async")
      if (wrapper !== null) return wrapper
      const inner = (original as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      wrapper = {
        next: async () => {
          checkOpen()
          const step = await inner.next()
          return step.done ? { done: true, value: undefined } : { done: false, value: checkValue(step.value) }
        },
        return: async () => {
          if (typeof inner.return === "function") await inner.return()
          return { done: true, value: undefined }
        }
      }
      return wrapper
    }
  }
  unclosed.register(body, state, state)
  return body as ResponseBody
}

/** CPython's `check_iterator` and the checks `lint_app` makes on the app's return value. */
export const checkResult = (result: unknown): ResponseBody => {
  assert(
    result !== undefined && result !== null && result !== false,
    () => "The application must return an iterator, if only an empty list"
  )
  // A string is iterable (by character) and so is a Uint8Array (by number): both "work"
  // only by accident.
  assert(
    typeof result !== "string" && !(result instanceof Uint8Array),
    () =>
      "You should not return a string as your application iterator, instead return a single-item list containing a bytestring."
  )
  assert(
    (typeof result === "object" || typeof result === "function") &&
      (typeof (result as Iterable<unknown>)[Symbol.iterator] === "function" ||
        typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"),
    () => `The application must return an iterable of Uint8Array chunks (got ${repr(result)})`
  )
  return result as ResponseBody
}

