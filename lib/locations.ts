import type { FastifyRequest } from 'fastify'
import { authError } from './errors'
import type { Config } from './options'
import { TOKEN_TYPES, type TokenLocation, type TokenType } from './schemas'
import type { WantedType } from './verifier'

/**
 * Reads one location for one name. Returns the token, `undefined` when the location holds none,
 * or `null` when it cannot be read yet (the JSON body before it is parsed). Throws on a malformed header.
 */
export type Finder = (request: FastifyRequest) => string | undefined | null

export interface Lookup {
  finders: Finder[]
  /** the location each finder reads, by index */
  locations: TokenLocation[]
}

const malformed = () => authError('FST_AUTHX_MALFORMED_HEADER')
const invalid = () => authError('FST_AUTHX_INVALID_TOKEN')

/**
 * Node keeps the first of repeated `Authorization` lines and drops the rest; a proxy may keep the
 * last. A singleton field sent twice (RFC 9110 §5.3) is refused rather than guessed at.
 */
function repeated (raw: string[], name: string): boolean {
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]
    if (field.length === name.length && field.toLowerCase() === name && ++seen > 1) return true
  }
  return false
}

/** More than one credential: separated by spaces, tabs or commas (header values hold no other whitespace). */
function several (token: string): boolean {
  return token.includes(' ') || token.includes(',') || token.includes('\t')
}

/** `<type> <token>` with the scheme matched case-insensitively (RFC 9110 §11.1); `type: ''` = the whole value. */
function fromHeader (name: string, type: string): Finder {
  const scheme = type.toLowerCase()
  return function findInHeader (request) {
    const value = request.headers[name]
    if (value === undefined) return undefined
    if (typeof value !== 'string' || repeated(request.raw.rawHeaders, name)) throw malformed()
    if (scheme === '') {
      const token = value.trim()
      if (token === '') return undefined
      if (several(token)) throw malformed()
      return token
    }
    const space = value.indexOf(' ')
    const given = space === -1 ? value : value.slice(0, space)
    // Another scheme (Basic …) is not ours: the lookup goes on.
    if (given.length !== scheme.length || given.toLowerCase() !== scheme) return undefined
    const token = space === -1 ? '' : value.slice(space + 1).trim()
    if (token === '' || several(token)) throw malformed()
    return token
  }
}

/** A string value under `name`, or none; anything else (repeated query keys, JSON numbers) is invalid. */
function pick (bag: unknown, name: string): string | undefined {
  if (bag === null || typeof bag !== 'object') return undefined
  const value = Object.hasOwn(bag, name) ? (bag as Record<string, unknown>)[name] : undefined
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string') throw invalid()
  return value
}

/** Cookies as @fastify/cookie parsed them; parsed here when its hook is off (no cookie location by default). */
function fromCookie (name: string, parse: (header: string) => unknown): Finder {
  return function findInCookie (request) {
    let jar = (request as { cookies?: unknown }).cookies
    if (jar === null || jar === undefined) {
      const header = request.headers.cookie
      if (typeof header !== 'string') return undefined
      jar = parse(header)
    }
    return pick(jar, name)
  }
}

function fromQuery (name: string): Finder {
  return function findInQuery (request) { return pick(request.query, name) }
}

/** `application/json` and `+json` media types, with or without parameters. */
export function isJson (request: FastifyRequest): boolean {
  const type = request.headers['content-type']
  if (typeof type !== 'string') return false
  const media = type.split(';', 1)[0].trim().toLowerCase()
  return media === 'application/json' || media.endsWith('+json')
}

function fromJson (name: string): Finder {
  return function findInJson (request) {
    if (request.body === undefined) {
      const { headers } = request
      const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')
      // A body that is on its way but not parsed yet: the guard runs at onRequest.
      return hasBody && isJson(request) ? null : undefined
    }
    return isJson(request) && !Array.isArray(request.body) ? pick(request.body, name) : undefined
  }
}

/** The lookup for one guard: its locations in order, each with the names of the type it asks for. */
export function createLookup (config: Pick<Config, 'header' | 'query' | 'types'>, locations: TokenLocation[], type: WantedType, parseCookie: (header: string) => unknown): Lookup {
  const types: readonly TokenType[] = type === 'any' ? TOKEN_TYPES : [type]
  const lookup: Lookup = { finders: [], locations: [] }
  const add = (location: TokenLocation, finder: Finder) => { lookup.finders.push(finder); lookup.locations.push(location) }
  for (const location of locations) {
    if (location === 'headers') { add(location, fromHeader(config.header.name, config.header.type)); continue }
    for (const t of types) {
      if (location === 'cookies') add(location, fromCookie(config.types[t].cookie.name, parseCookie))
      else if (location === 'query') add(location, fromQuery(config.query.name))
      else add(location, fromJson(config.types[t].jsonKey))
    }
  }
  return lookup
}
