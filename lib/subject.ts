import type { FastifyRequest } from 'fastify'
import { authError, errors } from './errors'
import type { Config } from './options'
import type { AuthxSubject } from './types'

/**
 * `request.getSubject()`: the `getSubject` option's answer for the verified token, loaded at most once
 * per request. A missing subject is 401, a failing loader 500 with its cause logged (class and message)
 * and never sent.
 */
export function createGetSubject (config: Pick<Config, 'getSubject' | 'identityClaim'>): (this: FastifyRequest) => Promise<AuthxSubject> {
  const { getSubject, identityClaim } = config
  const subjects = new WeakMap<FastifyRequest, Promise<AuthxSubject>>()
  return function (this: FastifyRequest): Promise<AuthxSubject> {
    if (getSubject === undefined) return Promise.reject(new errors.FST_AUTHX_GET_SUBJECT_MISSING())
    const payload = this.tokenPayload as TokenPayloadOrNull
    // No verified token (no guard ran, or an optional one found none): the request is not authenticated.
    if (payload === null) return Promise.reject(authError('FST_AUTHX_MISSING_TOKEN'))
    let subject = subjects.get(this)
    if (subject === undefined) {
      subject = Promise.resolve().then(() => getSubject(payload[identityClaim], payload, this)).then(found => {
        if (found === null || found === undefined) throw authError('FST_AUTHX_SUBJECT_NOT_FOUND')
        return found
      }, (err: unknown) => {
        // The loader's own text may name the subject or a database: logged (class and message), never sent.
        this.log.error({ loader: { type: (err as Error)?.constructor?.name ?? typeof err, message: (err as Error)?.message } }, 'fastify-authx: getSubject failed')
        throw new errors.FST_AUTHX_SUBJECT_LOAD_FAILED()
      })
      subjects.set(this, subject)
    }
    return subject
  }
}

/** `request.tokenPayload` is typed as present for guarded handlers; here it may be null. */
type TokenPayloadOrNull = FastifyRequest['tokenPayload'] & Record<string, any> | null
