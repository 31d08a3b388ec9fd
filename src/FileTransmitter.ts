/**
 * The `FileTransmitter` service: platform-specific file sending (CPython's `sendfile`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { StepError } from "./Handler.js"
import type { FileWrapper } from "./FileWrapper.js"

/**
 * What a transmitter may do with the response it takes over.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transmission {
  /** Send the status line and headers (call once, before any body bytes). */
  readonly sendHeaders: () => Effect.Effect<void, StepError>
  /** Count the bytes a transmitter sent itself, for `bytesSent`. */
  readonly addBytesSent: (count: number) => void
}

/**
 * Sends a `FileWrapper` body by a faster route than reading it in blocks.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileTransmitterShape {
  /**
   * Send the whole file and answer true, or answer false (sending nothing) to let the
   * handler iterate the wrapper as usual.
   */
  readonly transmit: (
    file: FileWrapper,
    response: Transmission
  ) => Effect.Effect<boolean, StepError>
}


/**
 * The default transmitter: always declines, as CPython's `BaseHandler.sendfile`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decline: FileTransmitterShape = { transmit: () => Effect.succeed(false) }

/**
 * The file-sending service.
 *
 * @since 0.1.0
 * @category tags
 */
export class FileTransmitter extends Context.Tag("effect-wsgi/FileTransmitter")<FileTransmitter, FileTransmitterShape>() {
  /** See `decline`. */
  static readonly decline = decline
  /** See `layerDecline`. */
  static get layerDecline() {
    return layerDecline
  }
}

/**
 * The default layer (declines); also the test layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDecline: Layer.Layer<FileTransmitter> = Layer.succeed(FileTransmitter, decline)
