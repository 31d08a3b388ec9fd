/**
 * The two ways writing a node:http response fails: the client is gone, or node threw.
 */
import { ClientDisconnected, OutputError } from "../../HandlerError.js"

/** The response is finished (or the client left); further writes are a disconnect. */
export const clientGone = (): ClientDisconnected =>
  new ClientDisconnected({ cause: new Error("the client went away before the response was sent") })

/** node:http threw while taking bytes. */
export const sinkFailed = (cause: unknown): OutputError =>
  new OutputError({ message: `the response could not be written: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
