import Fastify from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import authx, { optionsFromEnv, type AuthxErrorCode, type AuthxOptions, type EnvOptions } from 'fastify-authx'

const app = Fastify()
void app.register(authx, {
  jwksUrl: 'https://auth.internal/.well-known/jwks.json',
  decodeAlgorithms: ['ES256', 'EdDSA'],
  jwks: { timeout: 2000, cooldown: '30s', minAge: 60, maxAge: '10m', staleFor: '1h' }
})
expectError(app.register(authx, { jwksUrl: 'https://a.example/jwks', decodeAlgorithms: ['ES256'], jwks: { retries: 3 } }))
expectError(app.register(authx, { jwksUrl: 42 }))

expectType<AuthxOptions>(optionsFromEnv())
expectType<AuthxOptions>(optionsFromEnv({ JWT_SECRET_KEY: 'x' }, { warn: (message: string) => { void message } }))
expectAssignable<EnvOptions>({})
void app.register(authx, { accessTokenExpires: '15m', ...optionsFromEnv() })

expectAssignable<AuthxErrorCode>('FST_AUTHX_JWKS_UNAVAILABLE')
expectAssignable<AuthxErrorCode>('FST_AUTHX_VERIFY_ONLY')
