import { randomBytes } from 'node:crypto'
import { Cluster, Redis, type ClusterOptions } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * A client connected to REDIS_URL, closed when `t` ends. Without Redis the test fails on CI (so CI can
 * never pass by skipping) and is skipped loudly elsewhere: then this returns null and the caller returns.
 */
export async function redisOrSkip (t: tap.Test): Promise<Redis | null> {
  // bounded as the README asks of a client passed to RedisStore (else the plugin warns)
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, socketTimeout: 5000 })
  let cause: Error | undefined
  client.on('error', err => { cause = err }) // the connection error: more telling than the failed command's
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    client.disconnect()
    const why = `Redis unreachable at ${REDIS_URL} (${(cause ?? err as Error).message})`
    if (process.env.CI === 'true') {
      t.fail(`${why}: Redis is required on CI`)
    } else {
      console.error(`\n${'!'.repeat(72)}\n!! SKIPPING Redis tests: ${why}.\n!! Start Redis or set REDIS_URL to run them.\n${'!'.repeat(72)}\n`)
      t.comment(`SKIPPING Redis tests: ${why}`)
      t.plan(0, why)
    }
    return null
  }
  t.teardown(() => client.quit())
  return client
}

/** A key prefix no other test run uses, so runs never see each other's keys. */
export function uniquePrefix (name = 'authx-test'): string {
  return `${name}:${process.pid}:${randomBytes(4).toString('hex')}:`
}

/** Every key matching `pattern` (a SCAN pattern, no client keyPrefix applied). */
export async function keysMatching (client: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of client.scanStream({ match: pattern, count: 1000 })) keys.push(...(batch as string[]))
  return keys
}

/** Deletes every key that starts with `prefix`. */
export async function deleteKeys (client: Redis, prefix: string): Promise<void> {
  const keys = await keysMatching(client, escapePattern(prefix) + '*')
  if (keys.length > 0) await client.del(keys)
}

/** Escapes SCAN's glob characters, so that a prefix matches only itself. */
export function escapePattern (text: string): string {
  return text.replace(/[*?[\]\\]/g, c => '\\' + c)
}

/** The local cluster's nodes (`.ci/redis-cluster.sh start` prints the line to export), or none. */
export const REDIS_CLUSTER_NODES = (process.env.REDIS_CLUSTER_NODES ?? '').split(',').filter(n => n !== '').map(n => {
  const at = n.lastIndexOf(':')
  return { host: n.slice(0, at), port: Number(n.slice(at + 1)) }
})

/**
 * An ioredis Cluster over REDIS_CLUSTER_NODES, closed when `t` ends; the same rule as redisOrSkip:
 * without a cluster the test fails on CI and is skipped loudly elsewhere (then this returns null).
 */
export async function clusterOrSkip (t: tap.Test, options: ClusterOptions = {}): Promise<Cluster | null> {
  let why: string | undefined
  let cluster: Cluster | undefined
  if (REDIS_CLUSTER_NODES.length === 0) why = 'REDIS_CLUSTER_NODES is not set'
  else {
    // bounded as the README asks of a Cluster passed to RedisStore (else the plugin warns)
    cluster = new Cluster(REDIS_CLUSTER_NODES, {
      lazyConnect: true, clusterRetryStrategy: () => null, enableOfflineQueue: false, redisOptions: { socketTimeout: 5000 }, ...options
    })
    let cause: Error | undefined
    cluster.on('error', (err: Error) => { cause = err })
    try {
      await cluster.connect()
      // every master's connection up before the test starts (without an offline queue, a command to a
      // node still connecting would be refused)
      await Promise.all(cluster.nodes('master').map(async node => await node.ping()))
    } catch (err) {
      cluster.disconnect()
      why = `Redis Cluster unreachable at ${process.env.REDIS_CLUSTER_NODES} (${(cause ?? err as Error).message})`
    }
  }
  if (why !== undefined || cluster === undefined) {
    why ??= 'no cluster'
    if (process.env.CI === 'true') {
      t.fail(`${why}: the Redis Cluster is required on CI`)
    } else {
      console.error(`\n${'!'.repeat(72)}\n!! SKIPPING Redis Cluster tests: ${why}.\n!! Run \`bash .ci/redis-cluster.sh start\` and export what it prints.\n${'!'.repeat(72)}\n`)
      t.comment(`SKIPPING Redis Cluster tests: ${why}`)
      t.plan(0, why)
    }
    return null
  }
  const client = cluster
  t.teardown(() => client.quit())
  return client
}

/** Deletes every key starting with `prefix` on every master of a cluster. */
export async function deleteClusterKeys (cluster: Cluster, prefix: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    const keys: string[] = []
    for await (const batch of node.scanStream({ match: escapePattern(prefix) + '*', count: 1000 })) keys.push(...(batch as string[]))
    // one DEL per key: the keys of one node may still belong to several slots
    for (const key of keys) await node.del(key)
  }
}
