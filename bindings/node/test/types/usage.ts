// Compile-only: the typings accept what the documentation shows and refuse
// what they should (checked by `npm run typecheck`, never run).
import { Guard, ManualClock, TagFilter, RateLimiter, InvalidTokenError, OpaqueStoreError, type Decision, type Principal } from 'mcpguard'
import { createTokenVerifier } from 'mcpguard/mcp'
import { guardMiddleware } from 'mcpguard/express'

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
const mw = guardMiddleware(guard, { server: (req) => req.url, toolFromBody: true })
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
  if (e instanceof OpaqueStoreError && e.code === 'full') console.log(e.status)
}
export { status, reason, pending, mw, retry, tags, introspected, fromText }
