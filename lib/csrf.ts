import { timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { authError } from './errors'
import type { TokenType } from './schemas'
import type { TypeConfig } from './options'

/** Constant-time string equality (lengths may differ: that much is not secret). */
export function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** What the CSRF check reads: per token type, where the page sends the value back. */
export type CsrfSlice = Record<TokenType, Pick<TypeConfig, 'csrfHeader' | 'csrfField'>>

/**
 * Double-submit CSRF for cookie tokens: the value the page read from the readable CSRF cookie must
 * come back in the CSRF header (or the form field with `checkForm`) and match the token's `csrf` claim.
 */
export function createCheckCsrf (types: CsrfSlice, checkForm: boolean): (request: FastifyRequest, payload: Record<string, any>, type: TokenType) => void {
  return function checkCsrf (request, payload, type) {
    const { csrfHeader, csrfField } = types[type]
    let sent: unknown = request.headers[csrfHeader]
    if (sent === undefined && checkForm) {
      const body = request.body as Record<string, unknown> | undefined
      if (body !== null && typeof body === 'object' && Object.hasOwn(body, csrfField)) sent = body[csrfField]
    }
    if (sent === undefined || sent === '') throw authError('FST_AUTHX_CSRF_MISSING')
    if (typeof sent !== 'string' || typeof payload.csrf !== 'string' || !safeEqual(sent, payload.csrf)) {
      throw authError('FST_AUTHX_CSRF_MISMATCH')
    }
  }
}
