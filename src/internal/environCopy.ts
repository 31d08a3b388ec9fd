/**
 * Copying `osEnviron` into every request's environ, fast.
 *
 * CPython copies `os.environ` (a dict, in C) per request. In V8, `{ ...osEnviron }` adds
 * its ~40 keys one map transition at a time (~1 µs, a fifth of a hello-world request);
 * an object literal with the same keys written out is created from a boilerplate in one
 * step (~0.04 µs). So for each frozen `osEnviron` (its keys cannot change) we build, once,
 * a function whose body is that literal. Anything else is spread as usual.
 */
import type { CgiVariables } from "../Protocol.js"

type Copier = (source: Readonly<CgiVariables>) => CgiVariables

const copiers = new WeakMap<object, Copier>()

const spread: Copier = (source) => ({ ...source })

const empty: Copier = () => ({})

const copierFor = (source: Readonly<CgiVariables>): Copier => {
  const keys = Object.keys(source)
  // Keys are written as JSON string literals, so no key can be read as code.
  const body = `return {${keys.map((key) => `${JSON.stringify(key)}: source[${JSON.stringify(key)}]`).join(",")}}`
  return new Function("source", body) as Copier
}

/** A fresh, mutable copy of `source` (own enumerable keys), as `{ ...source }`. */
export const copyEnviron = (source: Readonly<CgiVariables>): CgiVariables => {
  if (!Object.isFrozen(source)) return spread(source)
  let copier = copiers.get(source)
  if (copier === undefined) {
    const keys = Object.keys(source)
    // A literal `"__proto__": …` would set the prototype instead of a key.
    copier = keys.length === 0 ? empty : keys.includes("__proto__") ? spread : copierFor(source)
    copiers.set(source, copier)
  }
  return copier(source)
}

/**
 * A request's whole environ made by its `EnvironSource` (the gateway's) when it can, that
 * is when `osEnviron` is empty: its CGI variables are then one object literal instead of a
 * store per variable into a copy. Undefined when it cannot: the handler copies `osEnviron`
 * and calls `addCgiVars` as usual.
 */
export const makeEnviron = Symbol("effect-wsgi/makeEnviron")

/** An `EnvironSource` that may make the environ itself (see `makeEnviron`). */
export interface EnvironMaker {
  readonly [makeEnviron]?: (osEnviron: Readonly<CgiVariables>) => CgiVariables | undefined
}
