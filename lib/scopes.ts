/**
 * Scope matching: exact, or a token scope `ns:*` covers `ns` and everything under `ns:`.
 * Case-sensitive. Built once per guard.
 */
export function requireScopes (required: string[], all: boolean): (granted: unknown) => boolean {
  const checks = required.map(scope => (have: string) => {
    if (have === scope) return true
    if (!have.endsWith(':*')) return false
    const ns = have.slice(0, -2)
    return scope === ns || scope.startsWith(ns + ':')
  })
  return function hasScopes (granted) {
    if (!Array.isArray(granted)) return false
    const covered = (check: (have: string) => boolean) => granted.some(check)
    return all ? checks.every(covered) : checks.some(covered)
  }
}
