import { badArgument } from './errors'
import type { JwtApi } from './jwt'

/**
 * Reading a token without verifying it, for what the plugin itself has just made or verified: the
 * `csrf` claim the reply helpers pair with a token cookie. Never a basis for trusting a token. Something
 * that is not a JWT at all is `FST_AUTHX_BAD_ARGUMENT`.
 */
export function createCsrfOf (decoder: Pick<JwtApi, 'decode'>): (token: string) => string | undefined {
  return function csrfOf (token) {
    let claim: Record<string, unknown> | null
    try {
      claim = decoder.decode(token).payload as Record<string, unknown> | null
    } catch {
      // the app's code handed over something that is not a token: its bug, not a client's
      throw badArgument('the reply cookie helpers need a token (a JWT)')
    }
    return typeof claim?.csrf === 'string' ? claim.csrf : undefined
  }
}
