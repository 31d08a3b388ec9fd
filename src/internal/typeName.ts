/**
 * Names the runtime type of a value for error messages.
 *
 * @since 0.1.0
 */

/**
 * `typeof`, except that `null` and arrays get their own names.
 *
 * @since 0.1.0
 * @category utils
 */
export const typeName = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value
