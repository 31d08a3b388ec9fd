/**
 * The `EnvironSource` service: the CGI variables of the request, laid over the copy of
 * the process environment that starts every environ.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { CgiVariables } from "./Protocol.js"
import { readProcessEnviron } from "./internal/compat/readEnviron.js"
import { copyRecord } from "./internal/environCopy.js"

/**
 * Gives the request's CGI variables (CPython's `add_cgi_vars`).
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvironSourceShape {
  /**
   * A fresh record of this request's variables each time it runs: the handler lays it
   * over its copy of `osEnviron`, or, when `osEnviron` is empty, keeps it as the environ.
   */
  readonly variables: Effect.Effect<CgiVariables>
}

/**
 * Variables from a record (SimpleHandler's `base_env`): a copy each time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRecord = (variables: Readonly<CgiVariables>): EnvironSourceShape => ({
  // Not `{ ...variables }`: the handler adds the wsgi.* keys to it (see copyRecord).
  variables: Effect.sync(() => copyRecord(variables))
})

/**
 * A layer with fixed variables (tests, or a request already parsed).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRecord = (variables: Readonly<CgiVariables>): Layer.Layer<EnvironSource> =>
  Layer.succeed(EnvironSource, fromRecord(variables))

/**
 * The request-variables service.
 *
 * @since 0.1.0
 * @category tags
 */
export class EnvironSource extends Context.Tag("effect-wsgi/EnvironSource")<EnvironSource, EnvironSourceShape>() {
  /** See `fromRecord`. */
  static readonly fromRecord = fromRecord
  /** See `layerRecord`. */
  static readonly layerRecord = layerRecord
  /** See `layerCgi`. */
  static get layerCgi() {
    return layerCgi
  }
}

/**
 * The CGI layer: the variables of this process's environment, transcoded as
 * `readEnviron()` does.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCgi: Layer.Layer<EnvironSource> = Layer.sync(EnvironSource, () => fromRecord(readProcessEnviron()))
