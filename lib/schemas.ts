import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * The shapes: every schema, and the types derived from them (`Static<>`), in one leaf module that imports
 * nothing of the plugin's, so that any module can take a type from here without an import cycle.
 * The exported schemas serve route `response` definitions and OpenAPI documents too.
 */

export const TokenTypeSchema = Type.Union([Type.Literal('access'), Type.Literal('refresh')])
/** The two token types. */
export type TokenType = Static<typeof TokenTypeSchema>
/** Both types, in the order every per-type record lists them. */
export const TOKEN_TYPES: readonly TokenType[] = ['access', 'refresh']

export const TokenLocationSchema = Type.Union([Type.Literal('headers'), Type.Literal('cookies'), Type.Literal('query'), Type.Literal('json')])
/** Where a token can be found: the `tokenLocation` option, a guard's `locations`, `request.tokenLocation`. */
export type TokenLocation = Static<typeof TokenLocationSchema>

/** The claims the plugin writes and checks (`sub` is the default `identityClaim`). */
export const RegisteredClaimsSchema = Type.Object({
  sub: Type.String(),
  type: TokenTypeSchema,
  jti: Type.String(),
  iat: Type.Integer(),
  nbf: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  /** access tokens only; only `true` is fresh */
  fresh: Type.Optional(Type.Boolean()),
  csrf: Type.Optional(Type.String()),
  scopes: Type.Optional(Type.Array(Type.String())),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  /** session family */
  fam: Type.Optional(Type.String())
})
/** The claims the plugin writes and checks. */
export type RegisteredClaims = Static<typeof RegisteredClaimsSchema>
/** The registered claims' names: `data` may never set them. */
export const REGISTERED_CLAIMS: ReadonlySet<string> = new Set(Object.keys(RegisteredClaimsSchema.properties))

/** A verified token's claims: the registered ones, and your `data`. */
export const TokenPayloadSchema = Type.Object(RegisteredClaimsSchema.properties, { $id: 'AuthxTokenPayload', additionalProperties: true })

/**
 * What `createTokenPair`, `createSession` and `rotateRefreshToken` return. Snake case, unlike the rest of
 * the API, because it is the OAuth 2.0 token response (RFC 6749 §5.1): send it to clients as it is.
 */
export const TokenPairSchema = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer')
}, { $id: 'AuthxTokenPair' })
export type TokenPair = Static<typeof TokenPairSchema>

/** What `refreshAccessToken` returns (RFC 6749 §5.1, without a refresh token). */
export const AccessTokenResponseSchema = Type.Object({
  access_token: Type.String()
}, { $id: 'AuthxAccessTokenResponse' })
export type AccessTokenResponse = Static<typeof AccessTokenResponseSchema>

/** The body of every refusal: Fastify's error format, with the plugin's code. */
export const AuthErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'AuthxError' })

export const GuardOptionsSchema = Type.Object({
  type: Type.Optional(Type.Union([TokenTypeSchema, Type.Literal('any')])),
  fresh: Type.Optional(Type.Boolean()),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }))),
  allScopes: Type.Optional(Type.Boolean()),
  locations: Type.Optional(Type.Array(TokenLocationSchema, { minItems: 1, uniqueItems: true })),
  optional: Type.Optional(Type.Boolean()),
  csrf: Type.Optional(Type.Boolean()),
  checkRevoked: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

/** Per-route guard options: see `app.authx.guard()`. */
export type GuardOptions = Static<typeof GuardOptionsSchema>

/**
 * A guard hook: use it as `onRequest`, `preValidation` or `preHandler` (Fastify passes `done`), or
 * call it yourself as `await guard(request, reply)`.
 */
export type Guard = (request: FastifyRequest, reply: FastifyReply, done?: (err?: Error) => void) => Promise<void> | undefined
