import type { JwtApi } from './jwt'

/**
 * Reading a token without verifying it, for what the plugin itself has just made or verified: the
 * `csrf` claim the reply helpers pair with a token cookie. Never a basis for trusting a token.
 */
export function createCsrfOf (decoder: Pick<JwtApi, 'decode'>): (token: string) => string | undefined {
  return function csrfOf (token) {
    const claim = decoder.decode(token).payload as Record<string, unknown> | null
    return typeof claim?.csrf === 'string' ? claim.csrf : undefined
  }
}
