import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

// The packed tarball, installed into fresh TypeScript projects, one per module setting, each type-checked
// with tsc: what a new user's first lines meet. Dependencies come from this repository's node_modules
// (linked into the parent folder, so resolution walks up to them): no network, a few seconds per setting.
// AUTHX_PACKAGE_DIR points the matrix at another build (the old packaging, to see it fail).

// Five tsc runs, one after the other: 5 s each on a quiet machine, 20-30 s each on a loaded one (two
// suites at once), which tap's 120 s per file does not cover.
t.setTimeout(600_000)

const root = join(__dirname, '..', '..')
const packageDir = process.env.AUTHX_PACKAGE_DIR ?? root
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

const work = mkdtempSync(join(tmpdir(), 'authx-consumers-'))
t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'))

execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: packageDir, stdio: 'pipe' })
const tarball = join(work, readdirSync(work).find(f => f.endsWith('.tgz')) as string)

/** What every consumer writes: register, a guarded route, the merged types, a named export. */
const body = (authx: string) => `
const app = Fastify()
declare module 'fastify-authx' {
  interface AuthxTypes { data: { role: 'admin' | 'user' }, subject: { id: string } }
}
export async function main (): Promise<void> {
  await app.register(${authx}, { secret: 'x'.repeat(32), getSubject: async (sub: string) => ({ id: sub }) })
  app.get('/me', { onRequest: app.requireAccess }, async (request) => {
    const role: 'admin' | 'user' = request.tokenPayload.role
    const user: { id: string } = await request.getSubject()
    return { role, user }
  })
  const token: string = app.createAccessToken('a', { data: { role: 'admin' } })
  void token
}
`

interface Project { name: string, compilerOptions: Record<string, unknown>, files: Record<string, string> }

const esm = `import Fastify from 'fastify'
import authx, { authx as named, errors, TokenPairSchema, type TokenPayload } from 'fastify-authx'
const code: string = new errors.FST_AUTHX_MISSING_TOKEN().code
void code
void TokenPairSchema; void (null as unknown as TokenPayload)
export async function alsoNamed (): Promise<void> { await Fastify().register(named, { secret: 'x'.repeat(32) }) }
${body('authx')}`

const requireStyle = `import Fastify = require('fastify')
import authx = require('fastify-authx')
const code: string = new authx.errors.FST_AUTHX_MISSING_TOKEN().code
void code
export async function alsoDefault (): Promise<void> { await Fastify().register(authx.default, { secret: 'x'.repeat(32) }); await Fastify().register(authx.authx, { secret: 'x'.repeat(32) }) }
${body('authx')}`

const strict = { strict: true, noEmit: true, skipLibCheck: true, types: ['node'], target: 'es2022' }
// One tsc run per module setting; under nodenext/node16 each file's extension picks ESM (.mts) or CJS (.cts).
const projects: Project[] = [
  {
    name: 'nodenext',
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
    files: { 'esm-import.mts': esm, 'cjs-import-require.cts': requireStyle, 'cjs-import.cts': esm }
  },
  {
    name: 'node16',
    compilerOptions: { module: 'node16', moduleResolution: 'node16' },
    files: { 'esm-import.mts': esm, 'cjs-import-require.cts': requireStyle }
  },
  { name: 'bundler', compilerOptions: { module: 'preserve', moduleResolution: 'bundler' }, files: { 'import.ts': esm } },
  {
    name: 'commonjs (node10) with esModuleInterop',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
    files: { 'import.ts': esm, 'import-require.ts': requireStyle }
  },
  {
    name: 'commonjs (node10) without esModuleInterop',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: false },
    files: { 'import.ts': esm.replace("import Fastify from 'fastify'", "import Fastify = require('fastify')") }
  }
]

for (const [i, project] of projects.entries()) {
  t.test(project.name, async t => {
    const dir = join(work, `p${i}`)
    mkdirSync(join(dir, 'node_modules', 'fastify-authx'), { recursive: true })
    // npm's install of a tarball: its files (package.json "files") in node_modules/<name>
    execFileSync('tar', ['-xzf', tarball, '-C', join(dir, 'node_modules', 'fastify-authx'), '--strip-components=1'])
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${i}`, private: true }))
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, ...project.compilerOptions }, files: Object.keys(project.files) }))
    for (const [file, source] of Object.entries(project.files)) writeFileSync(join(dir, file), source)
    const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' })
    const output = res.stdout + res.stderr
    for (const file of Object.keys(project.files)) {
      const errors = output.split('\n').filter(line => line.startsWith(file))
      t.same(errors, [], `${file} type-checks (${JSON.stringify(project.compilerOptions)})`)
    }
    t.equal(res.status, 0, 'tsc exits 0')
  })
}
