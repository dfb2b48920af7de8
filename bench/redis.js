'use strict'
// Redis for the benchmarks: one node at REDIS_URL and the local Redis Cluster (REDIS_CLUSTER_NODES, as the
// tests read it; `bash .ci/redis-cluster.sh start` prints it). The benchmarks never flush anything: every
// key they may write carries a prefix of their own, and deleteByPrefix() removes exactly those keys.
const { randomBytes } = require('node:crypto')
const { Redis, Cluster } = require('ioredis')

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
// .ci/redis-cluster.sh's default ports, when REDIS_CLUSTER_NODES is not set.
const CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005'
const CONNECT_MS = 2000

/** A key prefix no one else uses: glob-safe (SCAN MATCH), so that `${prefix}*` matches only our keys. */
function uniquePrefix (tag) {
  return `authx-bench:${tag}:${process.pid}-${randomBytes(4).toString('hex')}:`
}

function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((_resolve, reject) => { timer = setTimeout(reject, ms, new Error(`${what}: no answer in ${ms} ms`)) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A client of one node, bounded as the README recommends; rejects when Redis does not answer PING. */
async function connectNode (url = REDIS_URL) {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: CONNECT_MS, commandTimeout: 5000, socketTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await withTimeout(client.connect().then(() => client.ping()), CONNECT_MS, url)
    return client
  } catch (err) {
    client.disconnect()
    throw err
  }
}

/**
 * A Cluster client made as the README's "Redis at scale" shows (bounded queues, ready before use);
 * rejects when the cluster is not reachable or not ok.
 */
async function connectCluster (nodes = CLUSTER_NODES) {
  const startup = nodes.split(',').map(n => { const [host, port] = n.trim().split(':'); return { host, port: Number(port) } })
  const cluster = new Cluster(startup, {
    enableOfflineQueue: false,
    redisOptions: { commandTimeout: 500, socketTimeout: 500, connectTimeout: CONNECT_MS },
    clusterRetryStrategy: () => null
  })
  cluster.on('error', () => {})
  try {
    await withTimeout(new Promise((resolve, reject) => {
      cluster.once('ready', resolve)
      cluster.once('end', () => reject(new Error('the cluster client gave up connecting')))
    }), CONNECT_MS * 2, `cluster ${nodes}`)
    return cluster
  } catch (err) {
    cluster.disconnect()
    throw err
  }
}

/** Calls `each(node, keys)` for every SCAN MATCH page of the keys starting with `prefix`, on one node or every master. */
async function scanPrefix (client, prefix, each) {
  const nodes = typeof client.nodes === 'function' ? client.nodes('master') : [client]
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
      cursor = next
      if (keys.length > 0) await each(node, keys)
    } while (cursor !== '0')
  }
}

/** Deletes exactly the keys starting with `prefix` (SCAN MATCH + UNLINK), on one node or every master; returns the count. */
async function deleteByPrefix (client, prefix) {
  if (/[*?[\]\\]/.test(prefix)) throw new Error(`deleteByPrefix: a glob character in ${prefix}`)
  let deleted = 0
  await scanPrefix(client, prefix, async (node, keys) => {
    // UNLINK one key at a time on a cluster (keys of many slots); batched on one node.
    deleted += typeof client.nodes === 'function' ? (await Promise.all(keys.map(k => node.unlink(k)))).reduce((a, b) => a + b, 0) : await node.unlink(...keys)
  })
  return deleted
}

/** Counts the keys starting with `prefix` (SCAN MATCH): what the benchmarks left behind, if anything. */
async function countByPrefix (client, prefix) {
  let count = 0
  await scanPrefix(client, prefix, (_node, keys) => { count += keys.length })
  return count
}

module.exports = { REDIS_URL, CLUSTER_NODES, uniquePrefix, connectNode, connectCluster, deleteByPrefix, countByPrefix, withTimeout }
