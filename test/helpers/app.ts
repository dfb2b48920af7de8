import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import authx, { type AuthxOptions } from '../../lib/index'

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'

/** An app with the plugin and routes that echo what a guard left on the request. */
export async function build (options: AuthxOptions = { secret: SECRET }, setup?: (app: FastifyInstance) => void | Promise<void>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, options)
  const echo = async (request: FastifyRequest) => ({ payload: request.tokenPayload, location: request.tokenLocation })
  app.get('/access', { onRequest: app.requireAccess }, echo)
  app.post('/access', { onRequest: app.requireAccess }, echo)
  app.get('/refresh', { onRequest: app.requireRefresh }, echo)
  app.post('/refresh', { onRequest: app.requireRefresh }, echo)
  app.get('/fresh', { onRequest: app.requireFresh }, echo)
  if (setup !== undefined) await setup(app)
  await app.ready()
  return app
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Base64url JSON, for hand-made tokens. */
export const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A token's claims, read without verifying: for tokens a test minted itself, to look at what they carry. */
export const payloadOf = (token: string): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

/** A token's JOSE header (`alg`, `kid`, …), read without verifying. */
export const headerOf = (token: string): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())

export interface KeyPair { privateKey: KeyObject, publicKey: KeyObject }

/** One key pair per algorithm family, generated once per process. */
const cache = new Map<string, KeyPair>()
export function keyPair (alg: string): KeyPair {
  let pair = cache.get(alg)
  if (pair === undefined) {
    if (alg.startsWith('RS') || alg.startsWith('PS')) pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
    else if (alg === 'ES256') pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    else if (alg === 'ES384') pair = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    else if (alg === 'ES512') pair = generateKeyPairSync('ec', { namedCurve: 'P-521' })
    else if (alg === 'Ed448') pair = generateKeyPairSync('ed448')
    else pair = generateKeyPairSync('ed25519')
    cache.set(alg, pair)
  }
  return pair
}

export type { FastifyInstance, FastifyReply }

/** An HS256 token from raw parts, for payloads no signer would produce (strings are used verbatim). */
export function hs256 (payload: unknown, key: string | Buffer = SECRET, header: unknown = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

/**
 * The token with its signature's first character changed: always another signature (that character
 * carries six whole bits; the last one carries only four, so changing it may decode to the same bytes),
 * and the end of the token, which the verify cache is keyed by, stays as it was.
 */
export function tamperSignature (token: string): string {
  const i = token.lastIndexOf('.') + 1
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
}

/** The error `register` fails with (undefined when it succeeds). */
export async function registerError (options: unknown): Promise<any> {
  const app = Fastify()
  try {
    await app.register(authx, options as AuthxOptions)
    await app.ready()
  } catch (err) {
    return err
  } finally {
    await app.close()
  }
  return undefined
}

export interface TestClock {
  now: () => number
  advance: (ms: number) => void
}

/**
 * A clock a test moves by hand: give `now` to the plugin (its one clock: README "The clock"),
 * then `advance` (milliseconds) instead of sleeping. It starts at the real time, so claims made from
 * `Date.now()` still line up.
 */
export function testClock (start = Date.now()): TestClock {
  let at = start
  return { now: () => at, advance: ms => { at += ms } }
}
