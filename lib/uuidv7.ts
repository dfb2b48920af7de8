import { randomFillSync } from 'node:crypto'

// Random bytes come from a pool: one syscall per 409 ids instead of one per id.
const pool = Buffer.allocUnsafe(4096)
let poolOffset = pool.length
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * A UUIDv7 (RFC 9562 §5.7): random, with the creation time in its first 48 bits. The time lets
 * `revokeAllSessions` revoke exactly the tokens issued before it (iat has only 1 s resolution)
 * and `rotation.maxSessionAge` date a family without a store lookup.
 */
export function uuidv7 (now: number): string {
  if (poolOffset + 10 > pool.length) { randomFillSync(pool); poolOffset = 0 }
  const r = poolOffset
  poolOffset += 10
  const t = now.toString(16).padStart(12, '0')
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${HEX[pool[r] & 0x0f]}${HEX[pool[r + 1]].slice(1)}` +
    `-${HEX[(pool[r + 2] & 0x3f) | 0x80]}${HEX[pool[r + 3]]}-${HEX[pool[r + 4]]}${HEX[pool[r + 5]]}${HEX[pool[r + 6]]}${HEX[pool[r + 7]]}${HEX[pool[r + 8]]}${HEX[pool[r + 9]]}`
}

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The creation time (ms) written in a UUIDv7, or undefined for any other string. */
export function uuidv7Time (id: string): number | undefined {
  return UUIDV7.test(id) ? parseInt(id.slice(0, 8) + id.slice(9, 13), 16) : undefined
}
