import { timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { authError } from './errors'
import type { Config, TokenType } from './options'

/** Constant-time string equality (lengths may differ: that much is not secret). */
export function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Double-submit CSRF for cookie tokens: the value the page read from the readable CSRF cookie must
 * come back in the CSRF header (or the form field with `checkForm`) and match the token's `csrf` claim.
 */
export function createCheckCsrf (config: Config): (request: FastifyRequest, payload: Record<string, any>, type: TokenType) => void {
  const { accessHeader, refreshHeader, checkForm, accessField, refreshField } = config.csrf
  return function checkCsrf (request, payload, type) {
    let sent: unknown = request.headers[type === 'access' ? accessHeader : refreshHeader]
    if (sent === undefined && checkForm) {
      const body = request.body as Record<string, unknown> | undefined
      const field = type === 'access' ? accessField : refreshField
      if (body !== null && typeof body === 'object' && Object.hasOwn(body, field)) sent = body[field]
    }
    if (sent === undefined || sent === '') throw authError('FST_AUTHX_CSRF_MISSING')
    if (typeof sent !== 'string' || typeof payload.csrf !== 'string' || !safeEqual(sent, payload.csrf)) {
      throw authError('FST_AUTHX_CSRF_MISMATCH')
    }
  }
}
