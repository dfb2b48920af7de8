/** Claims as plain data: copies and assignments through which nothing can be polluted. */

/** Sets a claim as an own data property: a `__proto__` key stays data and replaces no prototype. */
export function setClaim (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** A deep copy of JSON claims, so that no holder of the copy can change the original. */
export function cloneClaims (value: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {}
  for (const key of Object.keys(value)) setClaim(out, key, cloneValue(value[key]))
  return out
}

/** A deep copy of one JSON value. */
export function cloneValue (v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  return Array.isArray(v) ? v.map(cloneValue) : cloneClaims(v as Record<string, any>)
}
