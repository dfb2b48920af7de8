import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { freePort } from '../helpers/http'

// The README's quick start as a user meets it: the "whole service" module runs exactly as printed, and
// the curl walk-through (bash, curl, jq) prints, line by line, what the comment under each command says.
const root = join(__dirname, '..', '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** The fenced block of `lang` that follows `heading` in the README. */
function block (heading: string, lang: string): string {
  const at = readme.indexOf(heading)
  const open = readme.indexOf('```' + lang + '\n', at)
  return readme.slice(open + lang.length + 4, readme.indexOf('\n```', open))
}

/** Starts a server script as its own process and waits for Fastify's "Server listening" line. */
async function start (t: Test, file: string): Promise<string> {
  const port = await freePort()
  const child = spawn(process.execPath, [file], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET_KEY: 'quick-start-e2e-secret-0123456789abcdef' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill() })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const seen = (d: Buffer): void => {
      output += String(d)
      if (output.includes('Server listening')) resolve()
    }
    child.stdout.on('data', seen)
    child.stderr.on('data', seen)
    child.on('exit', code => { reject(new Error(`${file} exited (${String(code)}): ${output}`)) })
  })
  return `http://127.0.0.1:${port}`
}

const walkThrough = block('### The walk-through with curl', 'sh')

/** Runs the walk-through against `base` and compares each output line with the comment under its command. */
function replay (t: Test, base: string): void {
  const script = 'set -euo pipefail\n' + walkThrough.replaceAll('http://127.0.0.1:8000', base)
  const res = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 20000 })
  t.equal(res.status, 0, `the walk-through runs (${res.stderr.trim()})`)
  const printed = res.stdout.trimEnd().split('\n')
  const expected = walkThrough.split('\n').filter(line => line.startsWith('# {')).map(line => line.slice(2))
  t.equal(printed.length, expected.length, 'one output line per documented answer')
  expected.forEach((want, i) => {
    const pattern = new RegExp('^' + want.split('eyJ…').map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+') + '$')
    t.match(printed[i], pattern, `line ${i + 1}: ${want.slice(0, 60)}`)
  })
}

t.test('the "whole service" module is examples/quick-start/server.mjs, verbatim', async t => {
  const file = readFileSync(join(root, 'examples', 'quick-start', 'server.mjs'), 'utf8').trimEnd()
  t.equal(block('The whole service, as an ES module', 'js'), file)
})

const tools = ['bash', 'curl', 'jq'].filter(tool => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
const missing = tools.length === 0 ? undefined : `${tools.join(', ')} missing: the curl walk-through cannot run`
if (missing !== undefined && process.env.CI === 'true') t.fail(missing)

t.test('the curl walk-through against the README module', { skip: missing }, async t => {
  replay(t, await start(t, 'examples/quick-start/server.mjs'))
})

t.test('the curl walk-through against npm start (examples/explicit-refresh/server.js)', { skip: missing }, async t => {
  replay(t, await start(t, 'examples/explicit-refresh/server.js'))
})

t.test('the README module answers a bad password with 401 and a bad body with 400', async t => {
  const base = await start(t, 'examples/quick-start/server.mjs')
  const post = async (body: unknown) => await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const bad = await post({ username: 'test', password: 'nope' })
  t.equal(bad.status, 401)
  t.same(await bad.json(), { statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
  t.equal((await post({ username: 'test' })).status, 400)
})
