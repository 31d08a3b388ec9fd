/**
 * The `EnvironSource` service: the CGI variables of the request, laid over the copy of
 * the process environment that starts every environ.
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import type { Environ } from "./Protocol.js"
import { readEnviron } from "./internal/readEnviron.js"

/**
 * Adds the request's CGI variables to a fresh environ (CPython's `add_cgi_vars`).
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvironSourceShape {
  /** Add this request's variables to `environ` (it already holds the `osEnviron` copy). */
  readonly addCgiVars: (environ: Environ) => void
  /**
   * The variables `addCgiVars` would add, when they are a plain record: the handler then
   * builds the environ in one step instead of calling `addCgiVars`.
   */
  readonly variables?: Readonly<Environ>
}


/**
 * Variables from a record (SimpleHandler's `base_env`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRecord = (variables: Readonly<Environ>): EnvironSourceShape => new RecordSource(variables)

class RecordSource implements EnvironSourceShape {
  constructor(readonly variables: Readonly<Environ>) {}
  addCgiVars(environ: Environ): void {
    Object.assign(environ, this.variables)
  }
}

/**
 * A layer with fixed variables (tests, or a request already parsed).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRecord = (variables: Readonly<Environ>): Layer.Layer<EnvironSource> =>
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
export const layerCgi: Layer.Layer<EnvironSource> = Layer.sync(EnvironSource, () => fromRecord(readEnviron()))
