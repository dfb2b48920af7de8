import fastifyJwt, { type JWT, type SignOptions } from '@fastify/jwt'
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
 * The @fastify/jwt adapter: @fastify/jwt does the signing and verifying, one instance per key, each with
 * its verifier built once (`decode.complete` and `verify.complete`: header and payload). Each is registered
 * under a namespace in a context of its own whose `jwt` is a keyring of the plugin's: @fastify/jwt then
 * puts its API there and decorates nothing else (no `request.user`), so the app's own @fastify/jwt, if it
 * has one, is untouched whichever was registered first.
 */
export async function registerJwt (fastify: FastifyInstance, keys: KeySet, config: Config): Promise<JwtApi[]> {
  const apis: JwtApi[] = []
  for (const [i, vk] of keys.verifyKeys.entries()) {
    // The first key signs (when this instance signs at all); the others only verify tokens made before a rotation.
    const secret = keys.hmac
      ? vk.key
      : i === 0 && keys.signingKey !== undefined ? { private: keys.signingKey, public: vk.key } : { public: vk.key }
    const namespace = `authx${i}`
    const keyring: Record<string, JWT> = Object.create(null)
    await fastify.register(async function authxKey (child) {
      // shadows an inherited `jwt` (the app's) in this context only; @fastify/jwt adds its namespace to it
      Object.defineProperty(child, 'jwt', { value: keyring })
      await child.register(fastifyJwt, {
        namespace,
        secret,
        sign: { algorithm: keys.algorithm, ...(keys.kid === undefined ? {} : { kid: keys.kid }) },
        decode: { complete: true },
        verify: verifierOptions(config, vk.algorithms)
      })
    })
    const jwt = keyring[namespace]
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
