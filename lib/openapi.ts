import type { FastifyInstance, RouteOptions } from 'fastify'
import { checksCsrf } from './guard'
import type { Config } from './options'
import { AuthErrorSchema, type Guard, type GuardOptions, type TokenLocation } from './schemas'

/**
 * OpenAPI with nothing written by the app. @fastify/swagger builds its document from the routes it saw
 * in `onRoute`, through the app's own `transform`s, and throws when a route's `security` names a scheme
 * missing from `components.securitySchemes`. So a guarded route is only *marked* here (an `x-authx`
 * extension on the schema swagger reads, which it copies to the operation; set after the route was
 * built, so Fastify never sees it), and the document is completed once built: the marker becomes `security` and 401/403 responses, and the
 * schemes the marked operations use are added. Nothing enters a route's `schema.response` (that would
 * change how Fastify serialises error bodies), and routes without a guard are left untouched.
 */

/** What a guard requires, as the document states it. */
export interface GuardDescription {
  type: 'access' | 'refresh' | 'any'
  fresh: boolean
  optional: boolean
  scopes: string[]
  allScopes: boolean
  locations: TokenLocation[]
  csrf: boolean
  /** where this plugin instance reads tokens: the names the schemes carry (one object per instance) */
  names: Names
}

/** The configured names the security schemes carry. */
interface Names {
  header: string
  headerType: string
  query: string
  cookies: { access: string, refresh: string }
  csrfHeaders: { access: string, refresh: string }
  csrfMethods: string[]
}

/** The extension key that marks a guarded route's schema. */
export const MARK = 'x-authx'

const described = new WeakMap<Guard, GuardDescription>()

/** Wraps the guard factory so every guard it makes can be recognised on a route. */
export function describeGuards (factory: (options?: GuardOptions) => Guard, config: Config): (options?: GuardOptions) => Guard {
  const names: Names = {
    header: config.header.name,
    headerType: config.header.type,
    query: config.query.name,
    cookies: { access: config.types.access.cookie.name, refresh: config.types.refresh.cookie.name },
    csrfHeaders: { access: config.types.access.csrfHeader, refresh: config.types.refresh.csrfHeader },
    csrfMethods: [...config.csrf.methods].map(m => m.toLowerCase())
  }
  return function guard (options: GuardOptions = {}): Guard {
    const made = factory(options)
    described.set(made, {
      type: options.type ?? 'access',
      fresh: options.fresh === true,
      optional: options.optional === true,
      scopes: options.scopes ?? [],
      allScopes: options.allScopes !== false,
      locations: options.locations ?? config.tokenLocation,
      csrf: checksCsrf(options, config),
      names
    })
    return made
  }
}

/** The description of a guard this plugin made, or undefined. */
export function describeGuard (fn: unknown): GuardDescription | undefined {
  return typeof fn === 'function' ? described.get(fn as Guard) : undefined
}

const HOOKS = ['onRequest', 'preValidation', 'preHandler'] as const

/** Every guard of ours a route names: in its hooks (alone or in arrays) or in `config.authxGuard`. */
function guardsOf (route: RouteOptions): GuardDescription[] {
  const found: GuardDescription[] = []
  const visit = (value: unknown): void => {
    for (const fn of Array.isArray(value) ? value : [value]) {
      const d = describeGuard(fn)
      if (d !== undefined) found.push(d)
    }
  }
  for (const hook of HOOKS) visit(route[hook])
  visit((route.config as { authxGuard?: unknown } | undefined)?.authxGuard)
  return found
}

/** Several guards on one route must all pass: the strictest of each. */
function combine (all: GuardDescription[]): GuardDescription {
  const required = all.filter(d => !d.optional)
  const base = required[0] ?? all[0]
  return {
    ...base,
    fresh: all.some(d => d.fresh),
    optional: required.length === 0,
    scopes: [...new Set(all.flatMap(d => d.scopes))],
    allScopes: all.every(d => d.allScopes || d.scopes.length === 0),
    csrf: all.some(d => d.csrf)
  }
}

type Scheme = Record<string, unknown>

/** The scheme name and definition for a token type in a location, or undefined (JSON body). */
function schemeOf (names: Names, type: 'access' | 'refresh', location: TokenLocation): [string, Scheme] | undefined {
  const name = `${type}Token`
  const what = `A JWT ${type} token`
  switch (location) {
    case 'headers': {
      const bearer = names.header.toLowerCase() === 'authorization' && names.headerType.toLowerCase() === 'bearer'
      const prefix = names.headerType === '' ? '' : `${names.headerType} `
      return [name, bearer
        ? { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `${what} in the Authorization header` }
        : { type: 'apiKey', in: 'header', name: names.header, description: `${what}: send "${prefix}<token>" in ${names.header}` }]
    }
    case 'cookies':
      return [`${name}Cookie`, { type: 'apiKey', in: 'cookie', name: names.cookies[type], description: `${what} in a cookie` }]
    case 'query':
      return [`${name}Query`, { type: 'apiKey', in: 'query', name: names.query, description: `${what} in the query string` }]
    default:
      return undefined // a JSON body member is no OpenAPI security scheme: the route's body schema shows it
  }
}

interface Doc {
  swagger?: string
  openapi?: string
  paths?: Record<string, Record<string, any>>
  components?: { schemas?: Record<string, unknown>, securitySchemes?: Record<string, unknown> }
  definitions?: Record<string, unknown>
  securityDefinitions?: Record<string, unknown>
}

const OPERATIONS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'query'])

/** Turns the markers of a built document into security requirements, responses and schemes. */
function secure (doc: Doc): boolean {
  if (doc === null || typeof doc !== 'object' || doc.paths === undefined) return false
  const v2 = typeof doc.swagger === 'string'
  const used = new Map<string, Scheme>()
  const errorRef = v2 ? { $ref: '#/definitions/AuthxError' } : { $ref: '#/components/schemas/AuthxError' }
  let marked = false

  for (const item of Object.values(doc.paths)) {
    for (const [method, operation] of Object.entries(item ?? {})) {
      if (!OPERATIONS.has(method) || operation === null || typeof operation !== 'object' || !(MARK in operation)) continue
      const d = operation[MARK] as GuardDescription
      delete operation[MARK]
      marked = true
      const types: Array<'access' | 'refresh'> = d.type === 'any' ? ['access', 'refresh'] : [d.type]
      const security: Array<Record<string, string[]>> = d.optional ? [{}] : []
      for (const type of types) {
        for (const location of d.locations) {
          if (v2 && location === 'cookies') continue // Swagger 2.0 has no cookie scheme
          const scheme = schemeOf(d.names, type, location)
          if (scheme === undefined) continue
          used.set(scheme[0], scheme[1])
          const requirement: Record<string, string[]> = { [scheme[0]]: [] }
          if (location === 'cookies' && d.csrf && d.names.csrfMethods.includes(method)) {
            const csrfName = `${type}Csrf`
            used.set(csrfName, { type: 'apiKey', in: 'header', name: d.names.csrfHeaders[type], description: `The ${type} CSRF value (the readable CSRF cookie), with a cookie token on unsafe methods` })
            requirement[csrfName] = []
          }
          security.push(requirement)
        }
      }
      if (security.length > (d.optional ? 1 : 0) && operation.security === undefined) operation.security = security
      const responses = operation.responses ?? (operation.responses = {})
      const reasons = [
        d.optional ? 'an invalid' : 'a missing or invalid',
        d.fresh ? 'expired, revoked or non-fresh' : 'expired or revoked'
      ]
      if (responses['401'] === undefined) {
        responses['401'] = response(`Unauthorized: ${reasons[0]}, ${reasons[1]} ${d.type === 'any' ? '' : d.type + ' '}token (FST_AUTHX_* codes)`, errorRef, v2)
      }
      if (d.scopes.length > 0 && responses['403'] === undefined) {
        responses['403'] = response(`Forbidden: the token lacks ${d.allScopes ? 'the scopes' : 'one of the scopes'} ${d.scopes.join(', ')} (FST_AUTHX_INSUFFICIENT_SCOPE)`, errorRef, v2)
      }
    }
  }
  if (!marked) return false

  const { $id: _id, ...errorSchema } = JSON.parse(JSON.stringify(AuthErrorSchema)) as Record<string, unknown>
  if (v2) {
    doc.definitions = { AuthxError: errorSchema, ...doc.definitions }
    doc.securityDefinitions = { ...Object.fromEntries(used), ...doc.securityDefinitions }
  } else {
    const components = doc.components ?? (doc.components = {})
    components.schemas = { AuthxError: errorSchema, ...components.schemas }
    // an app's own scheme of the same name wins
    components.securitySchemes = { ...Object.fromEntries(used), ...components.securitySchemes }
  }
  return true
}

function response (description: string, ref: Record<string, string>, v2: boolean): Record<string, unknown> {
  return v2 ? { description, schema: ref } : { description, content: { 'application/json': { schema: ref } } }
}

let yamlModule: { stringify: (value: unknown, options?: unknown) => string } | null | undefined
function toYaml (doc: unknown): string {
  if (yamlModule === undefined) {
    try {
      // @fastify/swagger's own YAML writer (a dependency of it), so both documents read alike
      yamlModule = require(require.resolve('yaml', { paths: [require.resolve('@fastify/swagger', { paths: [process.cwd(), __dirname] })] }))
    } catch {
      yamlModule = null
    }
  }
  // JSON is YAML 1.2: the fallback is still a valid YAML document
  return yamlModule === null || yamlModule === undefined ? JSON.stringify(doc, null, 2) : yamlModule.stringify(doc, { strict: false })
}

type SwaggerFn = ((opts?: { yaml?: boolean }) => unknown) & { [kMarkers]?: Set<() => void> }
const kMarkers = Symbol('fastify-authx.openapi')

/** The instance that holds the `swagger` decorator (the one swagger was registered on, usually the root). */
function swaggerOwner (fastify: FastifyInstance): { swagger: SwaggerFn } | undefined {
  let owner: object | null = fastify
  while (owner !== null && !Object.hasOwn(owner, 'swagger')) owner = Object.getPrototypeOf(owner)
  return owner !== null && typeof (owner as { swagger?: unknown }).swagger === 'function' ? owner as { swagger: SwaggerFn } : undefined
}

/** Replaces the `swagger` decorator, once per document, by one that completes what it builds. */
function completeDocuments (owner: { swagger: SwaggerFn }): Set<() => void> {
  const installed = owner.swagger[kMarkers]
  if (installed !== undefined) return installed
  const original = owner.swagger
  const markers = new Set<() => void>()
  const secured = new WeakMap<object, boolean>()
  const yaml = new WeakMap<object, string>()
  const swagger: SwaggerFn = function (opts) {
    for (const mark of markers) mark()
    const doc = original({}) as Doc
    if (doc === null || typeof doc !== 'object') return opts?.yaml === true ? original(opts) : doc
    let marked = secured.get(doc)
    if (marked === undefined) { marked = secure(doc); secured.set(doc, marked) }
    if (opts?.yaml !== true) return doc
    if (!marked) return original(opts)
    let text = yaml.get(doc)
    if (text === undefined) { text = toYaml(doc); yaml.set(doc, text) }
    return text
  }
  swagger[kMarkers] = markers
  owner.swagger = swagger
  return markers
}

/**
 * Marks guarded routes while @fastify/swagger is registered, and completes the documents it builds,
 * whichever of the two plugins was registered first (and however many instances of this plugin).
 */
export function addOpenapi (fastify: FastifyInstance): void {
  // The routes swagger also keeps (the same objects): marked when the first document is built, once
  // every onRoute hook (the app's too) has run, so a marker never reaches the route Fastify runs.
  const routes: RouteOptions[] = []
  fastify.addHook('onRoute', route => { if (swaggerOwner(fastify) !== undefined) routes.push(route) })

  const mark = (): void => {
    for (const route of routes.splice(0)) {
      const schema = route.schema as Record<string, unknown> | undefined
      if (schema?.[MARK] !== undefined || schema?.security !== undefined) continue // the app said it itself
      const found = guardsOf(route)
      if (found.length > 0) route.schema = { ...schema, [MARK]: combine(found) } as RouteOptions['schema']
    }
  }
  const attach = (): void => {
    const owner = swaggerOwner(fastify)
    if (owner !== undefined) completeDocuments(owner).add(mark)
  }
  attach()
  fastify.addHook('onReady', async () => { attach() })
}
