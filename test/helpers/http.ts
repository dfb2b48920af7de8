import { connect, createServer, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

/** A loopback port nothing listens on right now (the kernel's pick). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}

export interface RawResponse {
  status: number
  /** lower-cased names; repeated headers (set-cookie) joined into an array */
  headers: Record<string, string | string[]>
  body: string
}

/** Parses one HTTP/1.1 response read until the server closed the connection. */
function parse (raw: string): RawResponse {
  const split = raw.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n')
  const headers: Record<string, string | string[]> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const old = headers[name]
    headers[name] = old === undefined ? value : ([] as string[]).concat(old, value)
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4) }
}

/**
 * A request in flight: its head is on the wire now, its body when `release` is called. `inject()` cannot
 * do this; a real socket on 127.0.0.1 can, and the server has run every `onRequest` hook (the guard) while
 * it waits for the body.
 */
export interface HeldRequest {
  release: (body?: string) => Promise<RawResponse>
}

export function holdRequest (port: number, method: string, path: string, headers: Record<string, string>, body = '{}'): HeldRequest {
  const socket: Socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  const done = new Promise<RawResponse>((resolve, reject) => {
    socket.on('data', chunk => chunks.push(chunk))
    socket.on('end', () => { resolve(parse(Buffer.concat(chunks).toString('latin1'))) })
    socket.on('error', reject)
  })
  const head = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`).join('')
  socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n`)
  return {
    async release (text = body) {
      socket.write(text)
      return await done
    }
  }
}

/**
 * Adds a `preParsing` hook to every route: it runs after the route's `onRequest` hooks (a guard there has
 * accepted the request) and before the body is read. `arrived(id)` resolves when the request whose
 * `x-hold` header is `id` has got that far. Call before the routes are declared.
 */
export function watchArrivals (app: FastifyInstance): (id: string) => Promise<void> {
  const waiting = new Map<string, () => void>()
  const seen = new Set<string>()
  app.addHook('preParsing', async request => {
    const id = request.headers['x-hold']
    if (typeof id !== 'string') return
    seen.add(id)
    waiting.get(id)?.()
  })
  return async id => {
    if (seen.has(id)) return
    await new Promise<void>(resolve => waiting.set(id, resolve))
  }
}

/** The cookies a raw response sets, by name (value only). */
export function setCookies (res: RawResponse): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
    const [pair] = line.split(';')
    const eq = pair.indexOf('=')
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}
