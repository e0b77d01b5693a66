// Compile-only: the typings accept what the documentation shows and refuse
// what they should (checked by `npm run typecheck`, never run).
import { Guard, ManualClock, TagFilter, RateLimiter, InvalidTokenError, OpaqueStoreError, OpaqueTokenRejectedError, HttpOptions, HttpBody, type Decision, type Principal, type HttpDecision } from 'mcpguard'
import { createTokenVerifier } from 'mcpguard/mcp'
import { guardMiddleware, keepRawBody, metadataHandler } from 'mcpguard/express'

const guard = Guard.fromJson({ resource: 'https://mcp.example.com/mcp', auth: { issuers: [] } }, { clock: new ManualClock(0) })
const d: Decision = guard.authorize({ authorization: 'Bearer x', filter: { tagFilter: 'web' }, cost: 2 })
const status: number = d.status
const reason: string | null = d.reason
// @ts-expect-error: a filter has one kind
guard.authorize({ filter: { tags: 'a', preset: 'b' } })
// @ts-expect-error: Guards are built with fromJson / fromFile
new Guard()
const verifier = createTokenVerifier(guard)
const pending: Promise<{ clientId: string }> = verifier.verifyAccessToken('t')
const mw = guardMiddleware(guard, { server: (req) => req.url, readBody: true, listingItems: { oneMcp: true } })
// @ts-expect-error: the core reads the tools from the body; there is no tool option
guardMiddleware(guard, { tool: 'write_file' })
const meta = metadataHandler(guard)
const keep: (req: any, res: any, buf: Buffer) => void = keepRawBody
const options = new HttpOptions({ server: 'files', maxBodyBytes: 1 << 20 })
const http: HttpDecision = guard.authorizeHttp({ method: 'POST', path: '/mcp', headers: ['Authorization', 'Bearer x'], body: HttpBody.tooLarge }, options)
const action: 'respond' | 'forward' | 'pass' = http.action
const filtered = http.filterResponse('application/json', Buffer.from('{}'))
const sent: Uint8Array = filtered.ok ? filtered.body : filtered.response.body
const until: number | null = guard.validateWithExpiry('t').acceptedUntil
// @ts-expect-error: headers are the raw list of strings
guard.authorizeHttp({ headers: { authorization: 'x' } }, options)
const limiter = new RateLimiter({ limit: 10, windowSeconds: 60, algorithm: 'token_bucket', burst: 2 })
const retry: number | null = limiter.check('k').retryAfter
const tags: string[] = TagFilter.parseTags('a,b').tags()
try {
  guard.validate('t')
} catch (e) {
  if (e instanceof InvalidTokenError) console.log(e.reason, e.status, e.wwwAuthenticate)
}
guard.insertOpaque('opq-token', { clientId: 'app', scopes: ['tag:web'], expiresAt: 1767226200, resource: null })
// @ts-expect-error: the member is `scopes`
guard.insertOpaque('opq-token', { scope: 'tag:web' })
const introspected: Principal = guard.validateIntrospection({ active: true, sub: 'bob' })
const fromText: Principal = guard.validateIntrospection('{"active": true}')
try {
  guard.insertOpaque('opq-token', {})
} catch (e) {
  if (e instanceof OpaqueTokenRejectedError && e.code === 'expired') console.log(e.message)
  if (e instanceof OpaqueStoreError && e.code === 'full') console.log(e.status)
}
export { status, reason, pending, mw, retry, tags, introspected, fromText, meta, keep, action, sent, until }
