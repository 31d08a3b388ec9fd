/**
 * What the fibers this package starts for a request run with: the gateway's, the class
 * shim's, `toHttpApp`'s app fiber and its switch to a streamed body, and the ones that run
 * a step for a method or an app's detached `write()`. A program a user runs
 * (`Handler.run`, `runWith`) keeps the user's runtime. And the one fiber the package keeps
 * for the whole process: the roots anchor.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"

/**
 * Effect's default flags without `RuntimeMetrics`. With it, every fiber updates Effect's
 * global fiber metrics as it starts and ends (started, active, successes or failures, and a
 * lifetime histogram read from the clock): ≈ 0.2 µs of the ≈ 0.9 µs a started and polled
 * fiber costs here (measured). Such a fiber is the gateway's working, not a unit of the
 * user's work for those metrics to count.
 */
export const requestFlags: RuntimeFlags.RuntimeFlags = RuntimeFlags.disable(
  Runtime.defaultRuntimeFlags,
  RuntimeFlags.RuntimeMetrics
)

/** `Runtime.defaultRuntime` with `requestFlags`: what the handler classes run on. */
export const requestRuntime: Runtime.Runtime<never> = Runtime.make({
  context: Runtime.defaultRuntime.context,
  fiberRefs: Runtime.defaultRuntime.fiberRefs,
  runtimeFlags: requestFlags
})

/** The fiber that keeps Effect's global fiber set from emptying (see `anchorFiberRoots`). */
let rootsAnchor: Fiber.RuntimeFiber<never> | null = null

/**
 * Start, once per process, a fiber that waits for nothing, holds no handle (the process
 * exits as it would without it) and stays in Effect's global set of running fibers.
 *
 * Why: Effect adds every fiber it starts to one global `Set` and takes it out when it
 * ends. V8 shrinks a `Set`'s table whenever it empties: a call into its runtime and a new
 * table. A request whose fiber ends before the next starts (every synchronous app, and any
 * server not busy) empties that set each time, so each request paid for the shrink (up to
 * a tenth of a request in process, measured in one process with and without the anchor).
 * An Effect server made with `@effect/platform` never pays it: its server fiber lives in
 * that set for as long as it serves. If the anchor is ever interrupted (someone interrupts
 * every root), the next request starts another. Called as each request's handling is made.
 */
export const anchorFiberRoots = (): void => {
  if (rootsAnchor !== null) return
  const anchor = Runtime.runFork(requestRuntime)(Effect.async<never>(() => {}))
  rootsAnchor = anchor
  anchor.addObserver(() => {
    if (rootsAnchor === anchor) rootsAnchor = null
  })
}
