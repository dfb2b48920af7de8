import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * A client connected to REDIS_URL, closed when `t` ends. Without Redis the test fails on CI (so CI can
 * never pass by skipping) and is skipped loudly elsewhere: then this returns null and the caller returns.
 */
export async function redisOrSkip (t: tap.Test): Promise<Redis | null> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 })
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
