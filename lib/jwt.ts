import fastifyJwt, { type SignOptions } from '@fastify/jwt'
import type { VerifierOptions } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import type { KeySet } from './keys'
import type { Config } from './options'

/** A decoded token as fast-jwt's `complete` mode returns it. */
export interface DecodedToken { header: Record<string, unknown>, payload: unknown }

/** What the plugin uses of one key's @fastify/jwt instance (and of a fetched JWKS key's verifier). */
export interface JwtApi {
  sign: (payload: Record<string, unknown>, options?: Partial<SignOptions>) => string
  verify: (token: string) => DecodedToken
  decode: (token: string) => DecodedToken
}

/**
 * The @fastify/jwt adapter: @fastify/jwt does the signing and verifying, one instance per key, each in
 * its own encapsulated context so that the app's own @fastify/jwt (if any) is untouched and no namespace
 * is needed, each with its verifier built once (`decode.complete` and `verify.complete`: header and payload).
 */
export async function registerJwt (fastify: FastifyInstance, keys: KeySet, config: Config): Promise<JwtApi[]> {
  const apis: JwtApi[] = []
  for (const [i, vk] of keys.verifyKeys.entries()) {
    // The first key signs (when this instance signs at all); the others only verify tokens made before a rotation.
    const secret = keys.hmac
      ? vk.key
      : i === 0 && keys.signingKey !== undefined ? { private: keys.signingKey, public: vk.key } : { public: vk.key }
    await fastify.register(async function authxKey (child) {
      await child.register(fastifyJwt, {
        secret,
        sign: { algorithm: keys.algorithm, ...(keys.kid === undefined ? {} : { kid: keys.kid }) },
        decode: { complete: true },
        verify: verifierOptions(config, vk.algorithms)
      })
      const jwt = child.jwt
      // @fastify/jwt's functions use no `this`. `verify` is called in its callback form, which skips one of
      // the two option merges its plain form makes on every call; it calls back before returning (and a
      // version that did not would fail closed here: no answer is an invalid token).
      let answer: DecodedToken | undefined
      const take = (_err: unknown, decoded: DecodedToken): void => { answer = decoded }
      apis.push({
        sign: jwt.sign,
        verify (token) {
          answer = undefined
          jwt.verify(token, take)
          if (answer === undefined) malformed()
          return answer
        },
        decode: token => jwt.decode<DecodedToken>(token) ?? malformed()
      })
    })
  }
  return apis
}

/** fast-jwt's decoder throws on a malformed token rather than answer null; should it ever answer null, that is malformed too. */
function malformed (): never {
  throw Object.assign(new Error('malformed token'), { code: 'FAST_JWT_MALFORMED' })
}

/** fast-jwt verifier options for these algorithms: the claim checks every key gets, configured or fetched. */
export function verifierOptions (config: Config, algorithms: string[]): Partial<VerifierOptions> & { complete: true } {
  const requiredClaims: string[] = []
  if (config.decodeIssuer !== undefined) requiredClaims.push('iss')
  if (config.decodeAudience !== undefined) requiredClaims.push('aud')
  return {
    algorithms: algorithms as VerifierOptions['algorithms'],
    complete: true,
    // exp and nbf are checked by the verifier module against config.now: fast-jwt's clock is fixed per verifier.
    ignoreExpiration: true,
    ignoreNotBefore: true,
    ...(config.decodeIssuer === undefined ? {} : { allowedIss: config.decodeIssuer }),
    ...(config.decodeAudience === undefined ? {} : { allowedAud: config.decodeAudience }),
    ...(requiredClaims.length === 0 ? {} : { requiredClaims })
  }
}
