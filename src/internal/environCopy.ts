/**
 * Copying `osEnviron` into every request's environ, fast.
 *
 * CPython copies `os.environ` (a dict, in C) per request. In V8, `{ ...osEnviron }` adds
 * its ~40 keys one map transition at a time (~1 µs, a fifth of a hello-world request);
 * an object literal with the same keys written out is created from a boilerplate in one
 * step (~0.04 µs). So for each frozen `osEnviron` (its keys cannot change) we build, once,
 * a function whose body is that literal. Anything else is copied by `copyRecord`.
 */
import type { CgiVariables } from "../Protocol.js"

type Copier = (source: Readonly<CgiVariables>) => CgiVariables

/** No variables, frozen: the `osEnviron` of the servers, whose environs start as a plain `{}`. */
export const noVariables: Readonly<CgiVariables> = Object.freeze({})

const copiers = new WeakMap<object, Copier>()

/**
 * A fresh, mutable copy of `source` that later keys can be added to at the usual cost.
 * V8 (node 20) gives an object made by `{ ...source }` a map that does not share its
 * transitions: each key added to it afterwards costs ~1.2–1.7 µs (8 wsgi.* keys: ~12 µs
 * against 0.25 µs for a copy made by `Object.assign`). `Object.assign` would set the
 * prototype for an own `__proto__` key, so such a record is still spread.
 */
export const copyRecord = <T extends object>(source: Readonly<T>): T =>
  Object.hasOwn(source, "__proto__") ? { ...source } : Object.assign({}, source)

const spread: Copier = copyRecord

const empty: Copier = () => ({})

const copierFor = (source: Readonly<CgiVariables>): Copier => {
  const keys = Object.keys(source)
  // Keys are written as JSON string literals, so no key can be read as code.
  const body = `return {${keys.map((key) => `${JSON.stringify(key)}: source[${JSON.stringify(key)}]`).join(",")}}`
  return new Function("source", body) as Copier
}

/** A fresh, mutable copy of `source` (own enumerable keys), as `{ ...source }` makes. */
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
