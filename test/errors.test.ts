import t from 'tap'
import { errors } from '../lib/index'
import { authError } from '../lib/errors'

const expected: Record<string, [number, string | undefined]> = {
  FST_AUTHX_MISSING_TOKEN: [401, 'Bearer'],
  FST_AUTHX_MALFORMED_HEADER: [400, 'Bearer error="invalid_request"'],
  FST_AUTHX_INVALID_TOKEN: [401, 'Bearer error="invalid_token"'],
  FST_AUTHX_TOKEN_EXPIRED: [401, 'Bearer error="invalid_token", error_description="The token has expired"'],
  FST_AUTHX_ACCESS_TOKEN_REQUIRED: [401, 'Bearer error="invalid_token", error_description="An access token is required"'],
  FST_AUTHX_REFRESH_TOKEN_REQUIRED: [401, 'Bearer error="invalid_token", error_description="A refresh token is required"'],
  FST_AUTHX_FRESH_TOKEN_REQUIRED: [401, 'Bearer error="insufficient_user_authentication", error_description="A fresh token is required"'],
  FST_AUTHX_CSRF_MISSING: [401, 'Bearer error="invalid_token", error_description="The CSRF token is missing"'],
  FST_AUTHX_CSRF_MISMATCH: [401, 'Bearer error="invalid_token", error_description="The CSRF token does not match"'],
  FST_AUTHX_REVOKED_TOKEN: [401, 'Bearer error="invalid_token", error_description="The token has been revoked"'],
  FST_AUTHX_REFRESH_TOKEN_REUSED: [401, 'Bearer error="invalid_token", error_description="The refresh token was already used"'],
  FST_AUTHX_INSUFFICIENT_SCOPE: [403, 'Bearer error="insufficient_scope"'],
  FST_AUTHX_STORE_UNAVAILABLE: [503, undefined],
  FST_AUTHX_UNKNOWN_FAMILY: [404, undefined],
  FST_AUTHX_JWKS_UNAVAILABLE: [503, undefined]
}

t.test('every code: status, challenge, a fixed message, no stack on client errors', async t => {
  t.same(Object.keys(errors).sort(), [...Object.keys(expected), 'FST_AUTHX_BAD_OPTIONS', 'FST_AUTHX_VERIFY_ONLY'].sort(), 'the table is complete')
  for (const [code, [status, challenge]] of Object.entries(expected)) {
    const err = authError(code as any)
    t.equal(err.code, code)
    t.equal(err.statusCode, status, `${code} status`)
    t.equal(err.headers?.['www-authenticate'], challenge, `${code} challenge`)
    t.type(err.message, 'string')
    t.ok(err.message.length > 0)
    t.ok(err instanceof errors[code as keyof typeof errors], `${code} instanceof its constructor`)
  }
  t.equal(new errors.FST_AUTHX_BAD_OPTIONS('x: y').message, 'fastify-authx: bad option x: y')
  t.equal(new errors.FST_AUTHX_VERIFY_ONLY().statusCode, 500, 'a programming error: createAccessToken on a verify-only instance')
})
