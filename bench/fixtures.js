'use strict'
// What the benchmarks share: the secret, the token they send, the node:crypto floor, and a request-like
// object for calling a guard the way Fastify does, outside any server.
const { createHmac, createSecretKey, timingSafeEqual } = require('node:crypto')

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'
const TOKEN_BYTES = 310
const SUBJECT = 'user-4821'

/** An access token minted by the plugin (for SUBJECT unless told), padded through a small data claim to TOKEN_BYTES. */
function mint (app, subject = SUBJECT) {
  let pad = ''
  for (;;) {
    const token = app.createAccessToken(subject, { fresh: true, expiresIn: '2h', data: { role: 'editor', org: pad } })
    if (token.length >= TOKEN_BYTES) return token
    pad += 'x'
  }
}

/**
 * The floor: split, one HMAC-SHA256 with a key built once, timingSafeEqual against the base64url-decoded
 * signature, one JSON.parse of the payload. No claim is checked. Returns the payload, or null.
 */
function floorVerifier (secret) {
  const key = createSecretKey(Buffer.from(secret))
  return function floorVerify (token) {
    const dot1 = token.indexOf('.')
    const dot2 = token.indexOf('.', dot1 + 1)
    if (dot1 === -1 || dot2 === -1) return null
    const mac = createHmac('sha256', key).update(token.slice(0, dot2)).digest()
    const sig = Buffer.from(token.slice(dot2 + 1), 'base64url')
    if (sig.length !== mac.length || !timingSafeEqual(mac, sig)) return null
    return JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString())
  }
}

/** The same token with one claim changed and the signature kept, and with one signature character changed. */
function tampered (token) {
  const [header, payload, signature] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  claims.sub = 'admin'
  // The middle of the signature: its last character carries bits a lenient base64 decoder drops.
  const i = 10
  const flipped = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1)
  return {
    claim: `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`,
    signature: `${header}.${payload}.${flipped}`
  }
}

const noop = () => {}
/** A logger that drops everything (the guard logs only store failures). */
const silentLog = { fatal: noop, error: noop, warn: noop, info: noop, debug: noop, trace: noop, child () { return silentLog }, level: 'silent' }

/**
 * What a guard reads of a Fastify request at onRequest: the headers, the raw header list (a repeated
 * Authorization is refused), the method and the logger; it writes tokenPayload and tokenLocation.
 */
function requestLike (token) {
  const authorization = `Bearer ${token}`
  return {
    method: 'GET',
    url: '/bench',
    headers: { host: '127.0.0.1', authorization },
    raw: { rawHeaders: ['Host', '127.0.0.1', 'Authorization', authorization] },
    query: {},
    body: undefined,
    log: silentLog,
    tokenPayload: null,
    tokenLocation: null
  }
}

/** What a guard may call on the reply (only for exempt methods, which the bench never sends). */
const replyLike = { code () { return replyLike }, header () { return replyLike }, send () { return replyLike }, then (resolve) { resolve() } }

module.exports = { SECRET, TOKEN_BYTES, SUBJECT, mint, floorVerifier, tampered, requestLike, replyLike, silentLog }
