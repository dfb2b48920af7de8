import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from './http'

export { freePort }

/**
 * Private redis-server processes for the fault tests (hung, restarted, failed over): each on free
 * loopback ports, in its own temporary folder, killed when the test ends (t.teardown), even on failure.
 * The shared Redis and the CI cluster are never touched.
 */

const running = new Set<ChildProcess>()
// A test process that dies without its teardowns still takes its servers with it.
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })


/** redis-server is there, or the test fails on CI and is skipped loudly elsewhere (then false). */
export function redisServerOrSkip (t: tap.Test): boolean {
  if (spawnSync('redis-server', ['--version']).status === 0) return true
  const why = 'redis-server is not installed (Debian: apt-get install redis-server)'
  if (process.env.CI === 'true') t.fail(`${why}: required on CI`)
  else {
    console.error(`\n${'!'.repeat(72)}\n!! SKIPPING Redis fault tests: ${why}.\n${'!'.repeat(72)}\n`)
    t.plan(0, why)
  }
  return false
}

async function until (what: string, check: () => Promise<boolean>, tries = 200, everyMs = 50): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check().catch(() => false)) return
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** One answer from a server, on a connection of its own that never retries. */
export async function ask (port: number, ...command: string[]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, commandTimeout: 1000, enableReadyCheck: false })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(command[0], ...command.slice(1))
  } finally {
    client.disconnect()
  }
}

export class RedisServer {
  readonly port: number
  readonly dir: string
  readonly #args: string[]
  #child: ChildProcess | undefined

  constructor (port: number, dir: string, args: string[]) {
    this.port = port
    this.dir = dir
    this.#args = args
  }

  get pid (): number | undefined { return this.#child?.pid }

  /** Starts the process and waits until it answers PING. */
  async start (): Promise<void> {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, ...this.#args], { stdio: 'ignore' })
    running.add(child)
    child.once('exit', () => running.delete(child))
    this.#child = child
    await until(`redis-server on ${this.port}`, async () => await ask(this.port, 'PING') === 'PONG')
  }

  /** kill -9: no shutdown, no final write, as in a crash. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    this.#child = undefined
  }

  /** SIGSTOP: the connection stays open and nothing answers, as with a hung server. */
  pause (): void { this.#child?.kill('SIGSTOP') }
  resume (): void { this.#child?.kill('SIGCONT') }

  /** Kills it and removes its folder. */
  async stop (): Promise<void> {
    this.resume()
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A redis-server of this test's own on a free port; stopped when `t` ends. */
export async function startRedis (t: tap.Test, args: string[] = ['--save', '', '--appendonly', 'no']): Promise<RedisServer> {
  const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'authx-redis-')), args)
  t.teardown(() => server.stop())
  await server.start()
  return server
}

export interface PrivateCluster {
  servers: RedisServer[]
  /** host:port of every node */
  nodes: Array<{ host: string, port: number }>
}

/**
 * A cluster of this test's own: `masters` masters with one replica each, a node timeout of
 * `nodeTimeout` ms (the time before a silent master is replaced). Stopped when `t` ends.
 */
export async function startCluster (t: tap.Test, masters = 3, nodeTimeout = 1000): Promise<PrivateCluster> {
  const servers: RedisServer[] = []
  t.teardown(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })
  for (let i = 0; i < masters * 2; i++) {
    const busPort = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'authx-cluster-'))
    servers.push(new RedisServer(await freePort(), dir, [
      '--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(dir, 'nodes.conf'),
      '--cluster-node-timeout', String(nodeTimeout), '--save', '', '--appendonly', 'no'
    ]))
  }
  await Promise.all(servers.map(async s => { await s.start() }))
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map(s => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
  await until('cluster_state:ok on every node', async () => {
    for (const s of servers) if (!String(await ask(s.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
    return true
  })
  await until('every replica linked to its master', async () => {
    let up = 0
    for (const s of servers) if (String(await ask(s.port, 'INFO', 'replication')).includes('master_link_status:up')) up++
    return up === masters
  })
  return { servers, nodes: servers.map(s => ({ host: '127.0.0.1', port: s.port })) }
}

/**
 * The server that is master of `slot` right now, and the one replicating it, as the servers tell
 * (asked again for up to 10 s: a replica shows in CLUSTER SLOTS once gossip has spread it).
 */
export async function ownerOf (cluster: PrivateCluster, slot: number): Promise<{ master: RedisServer, replica: RedisServer }> {
  let found: { master: RedisServer, replica: RedisServer } | undefined
  await until(`a master with a replica for slot ${slot}`, async () => (found = await ownerNow(cluster, slot)) !== undefined, 200, 50)
  return found as { master: RedisServer, replica: RedisServer }
}

async function ownerNow (cluster: PrivateCluster, slot: number): Promise<{ master: RedisServer, replica: RedisServer } | undefined> {
  const byPort = new Map(cluster.servers.map(s => [s.port, s]))
  for (const s of cluster.servers) {
    const slots = await ask(s.port, 'CLUSTER', 'SLOTS').catch(() => null) as Array<[number, number, ...Array<[string, number, string]>]> | null
    if (slots === null) continue
    for (const [from, to, master, replica] of slots) {
      if (slot >= from && slot <= to && replica !== undefined) {
        const m = byPort.get(master[1])
        const r = byPort.get(replica[1])
        if (m !== undefined && r !== undefined) return { master: m, replica: r }
      }
    }
  }
  return undefined
}
