'use strict'
/* global gc */
// Heap that MemoryStore holds for 1,000,000 revoked jtis (each of another subject, the worst case).
// Target (issue 15): under 80 MB. After `npm run build`: node --expose-gc bench/store-memory.js
const { randomUUID } = require('node:crypto')
// The package's public export, so that the figure follows whatever lib/stores/memory.ts becomes.
const { MemoryStore } = require('fastify-authx')

const COUNT = 1_000_000

if (typeof gc !== 'function') {
  console.error('Run with: node --expose-gc bench/store-memory.js')
  process.exit(1)
}

function heapUsed () {
  gc()
  return process.memoryUsage().heapUsed
}

async function main () {
  let store = new MemoryStore()
  const started = Date.now()
  for (let i = 0; i < COUNT; i++) {
    // As the plugin hands them over: strings parsed out of a verified token's payload.
    const { sub, jti } = JSON.parse(`{"sub":"user-${i}","jti":"${randomUUID()}"}`)
    await store.revokeToken({ sub, jti }, 3600)
  }
  const elapsed = Date.now() - started
  const size = store.size ?? COUNT // `size` is for tests and monitoring; a store without it holds COUNT
  // Measured as what freeing the store gives back, so nothing else on the heap is counted.
  const withStore = heapUsed()
  store = null
  const bytes = withStore - heapUsed()
  console.log(`MemoryStore: ${size} revoked jtis use ${(bytes / 1048576).toFixed(1)} MB of heap ` +
    `(${Math.round(bytes / size)} bytes each); revoked in ${elapsed} ms`)
}

main()
