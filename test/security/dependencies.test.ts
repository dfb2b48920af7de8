/**
 * The dependency floor: the versions below which a known advisory reopens, checked three ways — what
 * package.json allows, what is installed (every copy in node_modules), and how the installed fast-jwt
 * behaves on each advisory's reproducer. SECURITY.md names the same floor.
 * Sources (SECURITY.md "Dependency floor"): fast-jwt CVE-2023-48223 / GHSA-c2ff-88x2-x9pg (3.3.2), GHSA-mvf2-f6gm-w987 (6.2.0),
 * GHSA-cjw9-ghj4-fwxf (6.2.1), strict base64url (6.2.3), GHSA-gmvf-9v4p-v8jc (6.2.4), GHSA-ww5h-9m49-7xx4
 * and GHSA-g3jj-5cmm-3hxx (6.3.0), GHSA-8wpc-h4q6-8fxv (6.3.1); @fastify/jwt 10.1.0 (#410) and 10.2.8
 * (fast-jwt ^6.3.4); cookie CVE-2024-47764 (0.7.0).
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { hs256, keyPair } from '../helpers/app'
import './helpers' // this attack class reports its case count too (its refusals are checked by its own assertions)

export const FLOOR: Record<string, string> = {
  'fast-jwt': '6.3.4',
  '@fastify/jwt': '10.2.8',
  cookie: '0.7.0'
}

const root = join(__dirname, '..', '..')

function parse (v: string): number[] {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(v)
  if (m === null) throw new Error(`not a version: ${v}`)
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}
function atLeast (v: string, floor: string): boolean {
  const a = parse(v)
  const b = parse(floor)
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i]
  return true
}
/** The lowest version a simple npm range (^x.y.z, ~x.y.z, >=x.y.z, x.y.z) admits. */
function minOf (range: string): string {
  const m = /^(\^|~|>=)?\s*(\d+\.\d+\.\d+)$/.exec(range.trim())
  if (m === null) throw new Error(`range too complex to check: ${range}`)
  return m[2]
}

/** Every installed copy of a package, nested ones included. */
function copies (name: string, dir = join(root, 'node_modules'), out: Array<[string, string]> = []): Array<[string, string]> {
  if (!existsSync(dir)) return out
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue
    const path = join(dir, entry)
    if (entry.startsWith('@')) { copies(name, path, out); continue }
    const pkgName = dir.endsWith(join('node_modules', '@fastify')) ? `@fastify/${entry}` : entry
    if (pkgName === name && existsSync(join(path, 'package.json'))) {
      out.push([path, JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')).version])
    }
    const nested = join(path, 'node_modules')
    if (existsSync(nested)) copies(name, nested, out)
  }
  return out
}

t.test('package.json never admits a version below the floor', async t => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  for (const name of ['fast-jwt', '@fastify/jwt']) {
    const range: string | undefined = pkg.dependencies?.[name]
    t.ok(range !== undefined, `${name} is a direct dependency (its floor is ours to set)`)
    if (range !== undefined) t.ok(atLeast(minOf(range), FLOOR[name]), `${name} ${range} ≥ ${FLOOR[name]}`)
  }
})

t.test('every installed copy is at or above the floor', async t => {
  for (const name of Object.keys(FLOOR)) {
    const found = copies(name)
    t.ok(found.length > 0, `${name} is installed`)
    for (const [path, version] of found) t.ok(atLeast(version, FLOOR[name]), `${path.slice(root.length + 1)}: ${version} ≥ ${FLOOR[name]}`)
  }
})

t.test('the installed fast-jwt behaves as the advisories\' fixes say', async t => {
  const { createVerifier, createSigner } = await import('fast-jwt')
  const pub = keyPair('RS256').publicKey
  const pem = pub.export({ type: 'spki', format: 'pem' }) as string
  const pkcs1 = pub.export({ type: 'pkcs1', format: 'pem' }) as string
  const jwk = JSON.stringify(pub.export({ format: 'jwk' }))
  const forge = (key: string) => hs256({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 }, key)
  // a verifier given the public key (however spelled) never accepts an HMAC made with it
  for (const [advisory, key] of [['CVE-2023-48223 PKCS#1', pkcs1], ['GHSA-mvf2-f6gm-w987 whitespace prefix', '  \n' + pem], ['GHSA-ww5h-9m49-7xx4 zero-width prefix', '\u200b' + pem], ['GHSA-g3jj-5cmm-3hxx JWK', jwk]]) {
    let accepted = false
    try { createVerifier({ key }).call(null, forge(key)); accepted = true } catch {}
    t.notOk(accepted, `${advisory}: refused`)
  }
  // GHSA-8wpc-h4q6-8fxv / GHSA-gmvf-9v4p-v8jc: empty keys never verify anything
  for (const key of ['', Buffer.alloc(0)]) {
    let accepted = false
    try { createVerifier({ key, algorithms: ['HS256'] }).call(null, forge('')); accepted = true } catch {}
    t.notOk(accepted, `empty key ${Buffer.isBuffer(key) ? 'Buffer' : 'string'}: refused`)
  }
  // fast-jwt 6.2.3: padding and whitespace in segments are refused
  const token = createSigner({ key: 'k'.repeat(32) })({ sub: 'x' })
  for (const bad of [token + '=', token.replace('.', '=.'), token.replace('.', ' .')]) {
    t.throws(() => createVerifier({ key: 'k'.repeat(32) })(bad), `${JSON.stringify(bad.slice(-3))}: non-canonical base64url refused`)
  }
})

t.test('SECURITY.md states the same floor', async t => {
  const path = join(root, 'SECURITY.md')
  const text = existsSync(path) ? readFileSync(path, 'utf8') : ''
  for (const [name, version] of Object.entries(FLOOR)) t.ok(text.includes(`${name} ≥ ${version}`), `SECURITY.md names ${name} ≥ ${version}`)
})
