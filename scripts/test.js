'use strict'
// `npm test`: every check in order, stopping at the first failure, then one closing line CI and people
// read: "N passed, N failed" (tap's assertion counts; a failed step before tap reads "0 passed, 1 failed").
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

async function main () {
  const started = Date.now()
  for (const [name, command, args] of steps) {
    let summary
    const code = await run(command, args, line => {
      const m = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(line)
      if (m !== null) summary = { pass: Number(m[2]), fail: Number(m[3] ?? 0) }
    })
    if (name === 'tap') {
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
