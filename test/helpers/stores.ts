import { MemoryStore } from '../../lib/index'
import type { TokenStore } from '../../lib/index'

/** Every method of the store contract, the optional synchronous read included. */
export const STORE_METHODS = ['status', 'statusNow', 'revokeToken', 'revokeFamily', 'revokeAllSessions', 'redeem', 'recordFamily', 'saveSession', 'touchSession', 'listSessions', 'familySubject'] as const
type Method = typeof STORE_METHODS[number]

export interface ProbeMode {
  /** every call fails: a synchronous read throws, the others reject (with driver-like text) */
  fail?: boolean
  /** every asynchronous call never settles */
  hang?: boolean
}

export const DRIVER_TEXT = 'READONLY You can\'t write against a read only replica. secret=hunter2'

/**
 * A MemoryStore that records every call, by method name, in order. A subclass, not a Proxy: it keeps the
 * synchronous read (`statusNow`) and runs the path production runs with the default store. `mode` can be
 * changed at any time to make it fail or hang.
 */
export class ProbeStore extends MemoryStore {
  readonly calls: Method[] = []
  readonly mode: ProbeMode = {}

  constructor (options?: ConstructorParameters<typeof MemoryStore>[0]) {
    super(options)
    const self = this as unknown as Record<Method, (...args: unknown[]) => unknown>
    for (const name of STORE_METHODS) {
      const inner = self[name].bind(this)
      self[name] = (...args: unknown[]) => {
        this.calls.push(name)
        if (name === 'statusNow') {
          if (this.mode.fail === true) throw new Error(DRIVER_TEXT)
          return inner(...args)
        }
        if (this.mode.fail === true) return Promise.reject(new Error(DRIVER_TEXT))
        if (this.mode.hang === true) return new Promise(() => {})
        return inner(...args)
      }
    }
  }

  /** How many calls each method had. */
  counts (): Partial<Record<Method, number>> {
    const counts: Partial<Record<Method, number>> = {}
    for (const name of this.calls) counts[name] = (counts[name] ?? 0) + 1
    return counts
  }
}

/**
 * A store the plugin can only reach asynchronously, like a network store: every method of a MemoryStore
 * but `statusNow`, each call first waiting `delay(method)` ms (0 = a microtask). Atomic steps stay atomic:
 * the wait comes before the inner call, never inside it. `mode` makes every call reject or never settle.
 */
export function remoteStore (delay: (method: string) => number = () => 0, options?: ConstructorParameters<typeof MemoryStore>[0]): TokenStore & { calls: string[], mode: ProbeMode } {
  const inner = new MemoryStore(options)
  const calls: string[] = []
  const mode: ProbeMode = {}
  const store: Record<string, unknown> = { calls, mode }
  for (const name of STORE_METHODS) {
    if (name === 'statusNow') continue
    const method = (inner[name] as (...args: unknown[]) => Promise<unknown>).bind(inner)
    store[name] = async (...args: unknown[]) => {
      calls.push(name)
      if (mode.fail === true) throw new Error(DRIVER_TEXT)
      if (mode.hang === true) await new Promise(() => {})
      const ms = delay(name)
      await (ms > 0 ? new Promise(resolve => setTimeout(resolve, ms)) : Promise.resolve())
      return await method(...args)
    }
  }
  return store as unknown as TokenStore & { calls: string[], mode: ProbeMode }
}

/** A promise that never settles: what a hung store answers. */
export const never = (): Promise<never> => new Promise(() => {})

type AsyncMethod = Exclude<Method, 'statusNow'>

/**
 * A MemoryStore whose `methods` answer `answer(...args)` instead (a hang, a rejection, a throw, garbage),
 * as a subclass overriding them would, named `name` (for labels). One that overrides `status` has no
 * `statusNow` (lib/stores/memory.ts): a guard asks its `status`, as it asks a remote store.
 */
export function storeWith (name: string, methods: readonly AsyncMethod[], answer: (this: MemoryStore, ...args: any[]) => unknown): MemoryStore {
  const Store = class extends MemoryStore {}
  Object.defineProperty(Store, 'name', { value: name })
  for (const method of methods) Object.defineProperty(Store.prototype, method, { value: answer, writable: true, configurable: true })
  return new Store()
}
