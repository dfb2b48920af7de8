import { Type } from '@sinclair/typebox'

/** Schemas for route `response` definitions and OpenAPI documents. */

export const TokenPayloadSchema = Type.Object({
  sub: Type.String(),
  type: Type.Union([Type.Literal('access'), Type.Literal('refresh')]),
  jti: Type.String(),
  iat: Type.Integer(),
  nbf: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  fresh: Type.Optional(Type.Boolean()),
  csrf: Type.Optional(Type.String()),
  scopes: Type.Optional(Type.Array(Type.String())),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  fam: Type.Optional(Type.String())
}, { $id: 'AuthxTokenPayload', additionalProperties: true })

export const TokenPairSchema = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer')
}, { $id: 'AuthxTokenPair' })

export const AccessTokenResponseSchema = Type.Object({
  access_token: Type.String()
}, { $id: 'AuthxAccessTokenResponse' })

export const AuthErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'AuthxError' })
