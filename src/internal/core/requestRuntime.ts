/**
 * What the fibers this package starts for a request run with: the gateway's, the class
 * shim's, `toHttpApp`'s app fiber and its switch to a streamed body, and the ones that run
 * a step for a method or an app's detached `write()`. A program a user runs
 * (`Handler.run`, `runWith`) keeps the user's runtime.
 */
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
