import Fastify from 'fastify'
import t from 'tap'
import authx, { optionsFromEnv } from '../lib/index'
import { keyPair, SECRET } from './helpers/app'

const pem = (alg: string, kind: 'privateKey' | 'publicKey') =>
  keyPair(alg)[kind].export({ format: 'pem', type: kind === 'privateKey' ? 'pkcs8' : 'spki' }) as string

t.test('AuthX variables become options', async t => {
  const warnings: string[] = []
  const options = optionsFromEnv({
    JWT_SECRET_KEY: SECRET,
    JWT_PREVIOUS_SECRET_KEY: `${SECRET}-old`,
    JWT_ALGORITHM: 'HS512',
    JWT_DECODE_ALGORITHMS: '["HS512", "HS256"]',
    JWT_ACCESS_TOKEN_EXPIRES: '900',
    JWT_REFRESH_TOKEN_EXPIRES: 'P20D',
    JWT_TOKEN_LOCATION: 'headers, cookies,query',
    JWT_ENCODE_ISSUER: 'https://auth.example',
    JWT_ENCODE_AUDIENCE: 'api,web',
    JWT_DECODE_ISSUER: 'https://auth.example',
    JWT_DECODE_AUDIENCE: 'api',
    JWT_DECODE_LEEWAY: '5',
    JWT_ENCODE_NBF: 'False',
    JWT_IDENTITY_CLAIM: 'uid',
    JWT_HEADER_NAME: 'X-Auth',
    JWT_HEADER_TYPE: 'JWT',
    JWT_QUERY_STRING_NAME: 'jwt',
    JWT_JSON_KEY: 'at',
    JWT_REFRESH_JSON_KEY: 'rt',
    JWT_ACCESS_COOKIE_NAME: 'a',
    JWT_REFRESH_COOKIE_NAME: 'r',
    JWT_ACCESS_COOKIE_PATH: '/api',
    JWT_REFRESH_COOKIE_PATH: '/refresh',
    JWT_COOKIE_DOMAIN: 'example.com',
    JWT_COOKIE_SECURE: 'true',
    JWT_COOKIE_SAMESITE: 'Strict',
    JWT_COOKIE_HTTP_ONLY: '1',
    JWT_COOKIE_MAX_AGE: '3600',
    JWT_COOKIE_CSRF_PROTECT: 'yes',
    JWT_CSRF_METHODS: '["POST","DELETE"]',
    JWT_CSRF_IN_COOKIES: 'off',
    JWT_ACCESS_CSRF_COOKIE_NAME: 'ca',
    JWT_REFRESH_CSRF_COOKIE_NAME: 'cr',
    JWT_ACCESS_CSRF_COOKIE_PATH: '/',
    JWT_REFRESH_CSRF_COOKIE_PATH: '/refresh',
    JWT_ACCESS_CSRF_HEADER_NAME: 'X-CSRF-A',
    JWT_REFRESH_CSRF_HEADER_NAME: 'X-CSRF-R',
    JWT_CSRF_CHECK_FORM: 'on',
    JWT_ACCESS_CSRF_FIELD_NAME: 'csrf_a',
    JWT_REFRESH_CSRF_FIELD_NAME: 'csrf_r',
    JWT_IMPLICIT_REFRESH: 'true',
    JWT_IMPLICIT_REFRESH_DELTATIME: 'PT5M',
    JWT_IMPLICIT_REFRESH_ROUTE_INCLUDE: '/a,/b',
    JWT_IMPLICIT_REFRESH_ROUTE_EXCLUDE: '["/logout"]',
    JWT_IMPLICIT_REFRESH_METHOD_INCLUDE: 'GET',
    JWT_IMPLICIT_REFRESH_METHOD_EXCLUDE: 'POST',
    JWT_KEY_ID: 'k-2026',
    PATH: '/usr/bin',
    HOME: '/root'
  }, { warn: m => warnings.push(m) })
  t.same(options, {
    secret: SECRET,
    previousSecret: `${SECRET}-old`,
    algorithm: 'HS512',
    decodeAlgorithms: ['HS512', 'HS256'],
    accessTokenExpires: 900,
    refreshTokenExpires: 20 * 86400,
    tokenLocation: ['headers', 'cookies', 'query'],
    issuer: 'https://auth.example',
    audience: ['api', 'web'],
    decodeIssuer: 'https://auth.example',
    decodeAudience: 'api',
    leeway: 5,
    encodeNbf: false,
    identityClaim: 'uid',
    header: { name: 'X-Auth', type: 'JWT' },
    query: { name: 'jwt' },
    json: { accessKey: 'at', refreshKey: 'rt' },
    cookies: { accessName: 'a', refreshName: 'r', accessPath: '/api', refreshPath: '/refresh', domain: 'example.com', secure: true, sameSite: 'strict', httpOnly: true, maxAge: 3600 },
    csrf: {
      protect: true, methods: ['POST', 'DELETE'], inCookies: false, accessCookieName: 'ca', refreshCookieName: 'cr', accessCookiePath: '/', refreshCookiePath: '/refresh',
      accessHeader: 'X-CSRF-A', refreshHeader: 'X-CSRF-R', checkForm: true, accessField: 'csrf_a', refreshField: 'csrf_r'
    },
    implicitRefresh: { deltaTime: 300, routeInclude: ['/a', '/b'], routeExclude: ['/logout'], methodInclude: ['GET'], methodExclude: ['POST'] },
    keyId: 'k-2026'
  })
  t.same(warnings, [], 'nothing to report: every JWT_ variable was known, other variables are not ours')

  // And it registers: the options work as they read.
  const app = Fastify()
  await app.register(authx, options)
  app.get('/me', { onRequest: app.requireAccess }, async request => request.tokenPayload)
  const token = app.createAccessToken('alice')
  const res = await app.inject({ url: '/me', headers: { 'x-auth': `JWT ${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().uid, 'alice')
  t.equal(res.json().iss, 'https://auth.example')
  t.same(res.json().aud, ['api', 'web'])
  t.notOk('nbf' in res.json(), 'JWT_ENCODE_NBF=False is honoured')
  await app.close()
})

t.test('values: lifetimes, booleans, lists, header type, empty variables', async t => {
  const read = (env: Record<string, string>) => optionsFromEnv({ JWT_SECRET_KEY: SECRET, ...env }, { warn: () => {} })
  t.equal(read({ JWT_ACCESS_TOKEN_EXPIRES: 'false' }).accessTokenExpires, false, 'no exp, as AuthX None')
  t.equal(read({ JWT_ACCESS_TOKEN_EXPIRES: 'None' }).accessTokenExpires, false)
  t.equal(read({ JWT_ACCESS_TOKEN_EXPIRES: '15m' }).accessTokenExpires, '15m')
  t.equal(read({ JWT_ACCESS_TOKEN_EXPIRES: 'PT15M' }).accessTokenExpires, 900)
  t.equal(read({ JWT_REFRESH_TOKEN_EXPIRES: 'P1DT12H' }).refreshTokenExpires, 36 * 3600)
  t.equal(read({ JWT_HEADER_TYPE: '' }).header?.type, '', 'an empty header type means the whole header is the token')
  t.equal(read({ JWT_HEADER_TYPE: 'None' }).header?.type, '')
  t.equal(read({ JWT_ALGORITHM: '' }).algorithm, undefined, 'other empty variables count as unset')
  t.same(read({ JWT_TOKEN_LOCATION: '["cookies"]' }).tokenLocation, ['cookies'])
  t.same(read({ JWT_DECODE_AUDIENCE: '["a","b"]' }).decodeAudience, ['a', 'b'])
  t.equal(read({ JWT_COOKIE_SAMESITE: 'none' }).cookies?.sameSite, 'none')
  t.equal(read({ JWT_COOKIE_SAMESITE: 'false' }).cookies?.sameSite, false)
  t.equal(read({ JWT_IMPLICIT_REFRESH: 'false' }).implicitRefresh, false)
  t.same(read({ JWT_IMPLICIT_REFRESH: 'true' }).implicitRefresh, {})
  t.same(optionsFromEnv({}), {}, 'no variables, no options')
})

t.test('keys from the environment, PEMs with \\n spelled out included', async t => {
  const onOneLine = pem('ES256', 'privateKey').replace(/\n/g, '\\n')
  const options = optionsFromEnv({
    JWT_ALGORITHM: 'ES256',
    JWT_PRIVATE_KEY: onOneLine,
    JWT_PREVIOUS_PUBLIC_KEY: pem('EdDSA', 'publicKey') + pem('RS256', 'publicKey'),
    JWT_DECODE_ALGORITHMS: 'ES256,EdDSA,RS256',
    JWT_JWKS_ROUTE: '/.well-known/jwks.json'
  })
  t.equal(options.privateKey, pem('ES256', 'privateKey'))
  t.same(options.previousPublicKeys, [pem('EdDSA', 'publicKey').trim(), pem('RS256', 'publicKey').trim()], 'several PEM blocks: several previous keys')
  const app = Fastify()
  await app.register(authx, options)
  const res = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.json().keys.length, 3)
  await app.close()

  const verifier = optionsFromEnv({ JWT_JWKS_URL: 'https://issuer.example/.well-known/jwks.json', JWT_DECODE_ALGORITHMS: 'ES256' })
  t.same(verifier, { jwksUrl: 'https://issuer.example/.well-known/jwks.json', decodeAlgorithms: ['ES256'] })
  t.same(optionsFromEnv({ JWT_PUBLIC_KEY: pem('ES256', 'publicKey'), JWT_ALGORITHM: 'ES256' }).publicKey, pem('ES256', 'publicKey'))
})

t.test('a bad value throws FST_AUTHX_BAD_OPTIONS naming the variable', async t => {
  const bad = (env: Record<string, string>, message: RegExp, name: string) => {
    t.throws(() => optionsFromEnv({ JWT_SECRET_KEY: SECRET, ...env }, { warn: () => {} }), { code: 'FST_AUTHX_BAD_OPTIONS', message }, name)
  }
  bad({ JWT_COOKIE_SECURE: 'maybe' }, /bad option JWT_COOKIE_SECURE: a boolean/, 'boolean')
  bad({ JWT_DECODE_LEEWAY: 'ten' }, /bad option JWT_DECODE_LEEWAY: a number/, 'number')
  bad({ JWT_DECODE_LEEWAY: '999999' }, /bad option JWT_DECODE_LEEWAY \(leeway\)/, 'number out of range (schema)')
  bad({ JWT_TOKEN_LOCATION: '["headers",' }, /bad option JWT_TOKEN_LOCATION: a JSON list/, 'broken JSON list')
  bad({ JWT_TOKEN_LOCATION: 'headers,carrier-pigeon' }, /bad option JWT_TOKEN_LOCATION \(tokenLocation/, 'unknown location (schema)')
  bad({ JWT_ALGORITHM: 'none' }, /bad option JWT_ALGORITHM \(algorithm\)/, 'algorithm (schema)')
  bad({ JWT_ACCESS_TOKEN_EXPIRES: '15 parsecs' }, /bad option JWT_ACCESS_TOKEN_EXPIRES \(accessTokenExpires\)/, 'lifetime (normalise)')
  bad({ JWT_COOKIE_SAMESITE: 'sometimes' }, /bad option JWT_COOKIE_SAMESITE \(cookies\.sameSite\)/, 'sameSite (schema)')
  bad({ JWT_COOKIE_SAMESITE: 'none', JWT_COOKIE_SECURE: 'false' }, /bad option JWT_COOKIE_SAMESITE \(cookies\.sameSite\)/, 'sameSite none without secure (normalise)')
  bad({ JWT_SECRET_KEY: pem('ES256', 'publicKey') }, /bad option JWT_SECRET_KEY \(secret\): an HMAC secret, not a PEM key/, 'a PEM as secret (keys)')
  bad({ JWT_DECODE_ALGORITHMS: 'HS256,RS256' }, /bad option JWT_DECODE_ALGORITHMS \(decodeAlgorithms\)/, 'mixed algorithms (keys)')
  bad({ JWT_IMPLICIT_REFRESH_DELTATIME: '300' }, /bad option JWT_IMPLICIT_REFRESH_DELTATIME: JWT_IMPLICIT_REFRESH=true as well/, 'implicit refresh settings without turning it on')
  bad({ JWT_JWKS_URL: 'not a url', JWT_DECODE_ALGORITHMS: 'ES256', JWT_SECRET_KEY: '' }, /bad option JWT_JWKS_URL \(jwksUrl\)/, 'jwksUrl')
  bad({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: 'not a pem', JWT_SECRET_KEY: '' }, /bad option JWT_PRIVATE_KEY \(privateKey\)/, 'a private key that does not parse')
  // The message names the variable, never its value.
  try {
    optionsFromEnv({ JWT_SECRET_KEY: 'short', JWT_COOKIE_SECURE: 'hunter2' }, { warn: () => {} })
    t.fail('should throw')
  } catch (err) {
    t.notMatch((err as Error).message, /hunter2/)
  }
})

t.test('unknown JWT_ variables are reported by name, never by value', async t => {
  const warnings: string[] = []
  optionsFromEnv({ JWT_SECRET_KEY: SECRET, JWT_SECRET: 's3cr3t-value', JWT_ACCES_TOKEN_EXPIRES: '60', JWT_SESSION_TRACKING: 'true', JWT_ERROR_MESSAGE_KEY: 'msg', OTHER: 'x' }, { warn: m => warnings.push(m) })
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0], 'unknown variables ignored: JWT_ACCES_TOKEN_EXPIRES, JWT_SECRET')
  t.match(warnings[0], 'AuthX variables without effect (AuthX never read them either): JWT_ERROR_MESSAGE_KEY, JWT_SESSION_TRACKING')
  t.notMatch(warnings[0], /s3cr3t-value|OTHER/)

  // By default: a process warning with a code.
  const seen = new Promise<Error & { code?: string }>(resolve => process.once('warning', resolve))
  optionsFromEnv({ JWT_SECRET_KEY: SECRET, JWT_TYPO: 'x' })
  const warning = await seen
  t.equal(warning.code, 'FST_AUTHX_ENV_IGNORED')
  t.match(warning.message, 'JWT_TYPO')
})

t.test('the example service reads its configuration from JWT_* variables', async t => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { build } = require('../examples/explicit-refresh/server.js')
  const app = await build({ env: { JWT_SECRET_KEY: SECRET, JWT_ACCESS_TOKEN_EXPIRES: '60', JWT_TOKEN_LOCATION: 'headers,query' } })
  t.teardown(async () => { await app.close() })
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'test' } })
  const { access_token: access } = login.json()
  const claims = app.authx.verifyToken(access)
  t.equal(claims.exp! - claims.iat, 60, 'JWT_ACCESS_TOKEN_EXPIRES')
  const res = await app.inject({ url: `/protected?token=${access}` })
  t.equal(res.statusCode, 200, 'JWT_TOKEN_LOCATION')
  const other = await build({ env: { JWT_SECRET_KEY: `${SECRET}-other` } })
  t.teardown(async () => { await other.close() })
  t.equal((await other.inject({ url: '/protected', headers: { authorization: `Bearer ${access}` } })).statusCode, 401, 'JWT_SECRET_KEY')
})
