'use strict'
// `npm test`: every check in order, stopping at the first failure, then one closing line CI and people
// read: "N passed, N failed" (tap's assertion counts; a failed step before tap reads "0 passed, 1 failed").
// Before it, the security suite's size in cases: each test/security/*.test.ts file (one attack class)
// reports "# security cases: <class> <refused> refused, <accepted> accepted" (test/security/helpers.ts).
const { spawn } = require('node:child_process')

const steps = [
  ['build', 'npm', ['run', '--silent', 'build']],
  ['typecheck', 'npm', ['run', '--silent', 'typecheck']],
  ['type tests (tsd)', 'npm', ['run', '--silent', 'test:types']],
  ['package (attw, publint)', 'npm', ['run', '--silent', 'test:package']],
  ['tap', 'npx', ['tap', ...process.argv.slice(2)]]
]

function run (command, args, onLine) {
  return new Promise(resolve => {
    const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'inherit'] })
    let rest = ''
    child.stdout.on('data', chunk => {
      process.stdout.write(chunk)
      const lines = (rest + chunk.toString()).split('\n')
      rest = lines.pop()
      for (const line of lines) onLine(line)
    })
    child.on('close', code => { if (rest !== '') onLine(rest); resolve(code ?? 1) })
  })
}

/** The security files tap ran, and the cases each reported. */
function securityCases () {
  const ran = new Set()
  const reported = new Map()
  return {
    read (line) {
      const file = /^# Subtest: test\/security\/([^/]+)\.test\.ts$/.exec(line)
      if (file !== null) ran.add(file[1])
      const m = /^\s*# security cases: (\S+) (\d+) refused, (\d+) accepted$/.exec(line)
      if (m !== null) reported.set(m[1], Number(m[2]))
    },
    print () {
      if (ran.size === 0 && reported.size === 0) return
      const total = [...reported.values()].reduce((sum, n) => sum + n, 0)
      console.log(`security suite: ${total} cases (refused requests) in ${reported.size} attack classes`)
      const silent = [...ran].filter(name => !reported.has(name))
      if (silent.length > 0) console.log(`security suite: no case count from ${silent.join(', ')}`)
    }
  }
}

async function main () {
  const started = Date.now()
  const security = securityCases()
  for (const [name, command, args] of steps) {
    let summary
    const code = await run(command, args, line => {
      const m = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(line)
      if (m !== null) summary = { pass: Number(m[2]), fail: Number(m[3] ?? 0) }
      if (name === 'tap') security.read(line)
    })
    if (name === 'tap') {
      security.print()
      const seconds = Math.round((Date.now() - started) / 1000)
      console.log(`npm test took ${seconds} s`)
      console.log(`${summary?.pass ?? 0} passed, ${summary?.fail ?? (code === 0 ? 0 : 1)} failed`)
      process.exitCode = code
      return
    }
    if (code !== 0) {
      console.log(`npm test: ${name} failed`)
      console.log('0 passed, 1 failed')
      process.exitCode = code
      return
    }
  }
}
main()
