'use strict'
// The JavaScript surface beyond the vectors: argument conventions, the
// error classes, the engines on their own, audit and counters.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')

const mcpguard = require('mcpguard')
const {
  Guard,
  ManualClock,
  TokenValidator,
  TagFilter,
  RateLimiter,
  validateScopes,
  scopesToTags,
  tagsToScopes,
  GuardError,
  InvalidTokenError,
  InsufficientScopeError,
  InvalidRequestError,
  ConfigError,
  RateLimitedError,
  errorFromDecision,
} = mcpguard

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples')
const DEMO_TIME = 1767225600
const tokens = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'tokens.json'), 'utf8'))

function demoGuard() {
  const clock = new ManualClock(DEMO_TIME)
  return { clock, guard: Guard.fromFile(path.join(EXAMPLES, 'guard.json'), { clock }) }
}

test('a decision is a plain object with explicit nulls in the config.md shape', () => {
  const { guard } = demoGuard()
  const d = guard.authorize({ authorization: `Bearer ${tokens.developer}`, server: 'memory' })
  assert.deepEqual(Object.keys(d).sort(), [
    'allowed',
    'error',
    'errorDescription',
    'headers',
    'principal',
    'rateLimit',
    'reason',
    'status',
    'visibleServers',
  ])
  assert.equal(d.allowed, true)
  assert.equal(d.error, null)
  assert.equal(d.reason, null)
  assert.equal(d.principal.clientId, 'ide-plugin')
  assert.equal(d.rateLimit.retryAfter, null)
  const refused = guard.authorize({})
  assert.equal(refused.principal, null)
  assert.equal(refused.rateLimit, null)
})

test('a repeated token gets an equal principal of its own, and none once it is refused', () => {
  const { guard } = demoGuard()
  const developer = { authorization: `Bearer ${tokens.developer}` }
  const first = guard.authorize(developer).principal
  const second = guard.authorize(developer).principal
  assert.deepEqual(second, first)
  assert.notEqual(second, first, 'no principal object is kept per token')
  assert.deepEqual(first, guard.validate(tokens.developer))
  assert.equal(guard.authorize({ authorization: `Bearer ${tokens.analyst}` }).principal.subject, 'ana-bob')
  guard.revoke(tokens.developer)
  const refused = guard.authorize(developer)
  assert.equal(refused.reason, 'revoked')
  assert.equal(refused.principal, null)
})

test('null request fields read as absent', () => {
  const { guard } = demoGuard()
  const d = guard.authorize({
    authorization: `Bearer ${tokens.developer}`,
    server: null,
    tool: null,
    filter: null,
    key: null,
    cost: null,
  })
  assert.equal(d.status, 200)
  assert.equal(guard.authorize(null).reason, 'missing_token')
})

test('a badly shaped request is a 400 decision, not a throw', () => {
  const { guard } = demoGuard()
  const auth = `Bearer ${tokens.developer}`
  for (const request of [
    { authorization: auth, filter: { tags: 'web', preset: 'local' } },
    { authorization: auth, cost: 1.5 },
    { authorization: auth, cost: 0 },
    { authorization: auth, tool: 'write_file' },
  ]) {
    const d = guard.authorize(request)
    assert.equal(d.status, 400, JSON.stringify(request))
    assert.equal(d.reason, 'invalid_request')
    assert.equal(d.error, 'invalid_request')
  }
})

test('validate throws InvalidTokenError with code, reason, status and the challenge', () => {
  const { guard } = demoGuard()
  assert.equal(guard.validate(tokens.analyst).subject, 'ana-bob')
  assert.throws(
    () => guard.validate(tokens.expired),
    (e) => {
      assert.ok(e instanceof InvalidTokenError && e instanceof GuardError && e instanceof Error)
      assert.equal(e.name, 'InvalidTokenError')
      assert.equal(e.code, 'invalid_token')
      assert.equal(e.reason, 'expired')
      assert.equal(e.status, 401)
      assert.match(e.wwwAuthenticate, /error="invalid_token".*resource_metadata=/)
      return true
    },
  )
})

test('a required scope the token lacks is InsufficientScopeError (403)', () => {
  const config = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'guard.json'), 'utf8'))
  config.auth.issuers[0].jwks = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'jwks.json'), 'utf8'))
  delete config.auth.issuers[0].jwks_file
  config.auth.required_scopes = ['mcp:admin']
  const guard = Guard.fromJson(config, { clock: new ManualClock(DEMO_TIME) })
  assert.throws(() => guard.validate(tokens.developer), (e) => e instanceof InsufficientScopeError && e.status === 403)
})

test('configuration errors are ConfigError with the JSON path', () => {
  assert.throws(
    () => Guard.fromJson({ resource: 'https://mcp.example.com/mcp', auth: { issuers: [] }, rate_limit: { limt: 5 } }),
    (e) => e instanceof ConfigError && e.path.startsWith('rate_limit') && /limt/.test(e.message),
  )
  assert.throws(() => Guard.fromJson('{ not json'), ConfigError)
  assert.throws(() => Guard.fromFile('/nonexistent/guard.json'), ConfigError)
  assert.throws(() => Guard.fromJson(42), TypeError)
  assert.throws(() => Guard.fromJson('{}', { clock: {} }), TypeError)
})

test('revoke makes a later validate fail with reason revoked', () => {
  const { guard } = demoGuard()
  guard.validate(tokens.demo)
  guard.revoke(tokens.demo)
  assert.throws(() => guard.validate(tokens.demo), (e) => e.reason === 'revoked')
  assert.throws(() => guard.revoke('not-a-token'), InvalidTokenError)
})

test('setJwks rotates keys and refuses a bad set with ConfigError', () => {
  const { guard } = demoGuard()
  assert.throws(() => guard.setJwks('https://auth.example.com', '{"keys": 3}'), ConfigError)
  assert.equal(guard.validate(tokens.demo).subject, 'demo-carol', 'a refused set changes nothing')
  guard.setJwks('https://auth.example.com', { keys: [] })
  assert.throws(() => guard.validate(tokens.demo), InvalidTokenError, 'an empty set verifies nothing')
})

test('metadata document, path and URL', () => {
  const { guard } = demoGuard()
  assert.equal(guard.metadataPath(), '/.well-known/oauth-protected-resource/mcp')
  assert.equal(guard.metadataUrl(), 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp')
  assert.equal(guard.resource(), 'https://mcp.example.com/mcp')
  assert.deepEqual(guard.metadataDocument().authorization_servers, ['https://auth.example.com'])
})

test('the audit callback receives events on the event loop; drainAudit and counters agree', async () => {
  const { guard } = demoGuard()
  const seen = []
  guard.onAudit((e) => seen.push(e))
  guard.authorize({ authorization: `Bearer ${tokens.demo}`, server: 'database' })
  guard.authorize({})
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(
    seen.map((e) => e.kind),
    ['auth_success', 'access_denied', 'auth_failure'],
  )
  assert.equal(seen[1].reason, 'insufficient_scope')
  assert.equal(seen[1].clientId, 'playground')
  assert.equal(seen[1].server, 'database')
  assert.deepEqual(seen[1].missingScopes, ['tag:database', 'tag:sensitive'])
  const drained = guard.drainAudit()
  assert.deepEqual(drained, seen)
  assert.deepEqual(guard.drainAudit(), [])
  const c = guard.counters()
  assert.equal(c.deniedTotal, 2)
  assert.equal(c.denied.insufficient_scope, 1)
  assert.equal(c.denied.missing_token, 1)
  guard.onAudit(null)
  guard.authorize({})
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(seen.length, 3, 'a removed callback gets nothing')
})

test('a throwing audit callback becomes a warning, not a crash', async () => {
  const { guard } = demoGuard()
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    guard.onAudit(() => {
      throw new Error('sink failed')
    })
    guard.authorize({})
    // The event arrives on the event loop soon after; on a loaded machine
    // that can take longer than a fixed pause, so wait for it (bounded).
    const warned = () => warnings.some((w) => w.name === 'MCPGuardAuditWarning' && /sink failed/.test(w.message))
    for (let waited = 0; !warned() && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.ok(warned())
  } finally {
    process.off('warning', onWarning)
    guard.onAudit(null)
  }
})

test('audit events never run inside authorize: they queue and arrive in order after it', async () => {
  const { guard } = demoGuard()
  const seen = []
  let inside = false
  guard.onAudit((e) => {
    assert.equal(inside, false)
    seen.push(e.kind)
  })
  inside = true
  for (let i = 0; i < 50; i++) guard.authorize({ authorization: `Bearer ${tokens.analyst}` })
  inside = false
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(seen.length, 50)
  guard.onAudit(null)
})

test('checkRateLimit counts a raw key; an unknown rule is InvalidRequestError', () => {
  const { guard, clock } = demoGuard()
  const first = guard.checkRateLimit('k')
  assert.equal(first.allowed, true)
  assert.equal(first.remaining, 99)
  assert.equal(guard.checkRateLimit('k', { cost: 99 }).remaining, 0)
  const denied = guard.checkRateLimit('k')
  assert.equal(denied.allowed, false)
  assert.equal(denied.retryAfter, 900)
  clock.advance(900)
  assert.equal(guard.checkRateLimit('k').allowed, true)
  assert.throws(() => guard.checkRateLimit('k', { rule: 'nope' }), InvalidRequestError)
})

test('TokenValidator validates alone', () => {
  const jwks = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'jwks.json'), 'utf8'))
  const v = new TokenValidator(
    { issuers: [{ issuer: 'https://auth.example.com', jwks }], role_claim: 'roles' },
    'https://mcp.example.com/mcp',
    { clock: new ManualClock(DEMO_TIME) },
  )
  const p = v.validate(tokens.developer)
  assert.deepEqual(p.roles, ['developer'])
  assert.deepEqual(p.tags, [], 'tags come from the Guard, which knows the roles')
  assert.throws(() => v.validate(tokens.wrong_audience), (e) => e.reason === 'wrong_audience' && e.wwwAuthenticate !== null)
  assert.throws(() => new TokenValidator({ issuers: 3 }, 'https://x.example'), (e) => e instanceof ConfigError && e.path.startsWith('auth'))
})

test('TagFilter parses 1MCP filters and reports 1MCP errors as InvalidRequestError', () => {
  const f = TagFilter.parseExpression('web AND (api OR db)')
  assert.deepEqual(f.tags(), ['web', 'api', 'db'])
  assert.equal(f.matches(['web', 'db']), true)
  assert.equal(f.matches(['web']), false)
  assert.equal(TagFilter.parseTags('web, api').matches(['api']), true)
  assert.equal(TagFilter.fromQuery({ $or: [{ tag: 'web' }, { tag: 'db' }] }).matches(['db']), true)
  assert.ok(f instanceof TagFilter)
  assert.throws(
    () => TagFilter.parseExpression('web AND ('),
    (e) => e instanceof InvalidRequestError && e.reason === 'invalid_filter' && e.status === 400,
  )
})

test('scope helpers follow 1MCP', () => {
  assert.deepEqual(validateScopes(['tag:web'], ['web', 'db']), { ok: true, scopes: ['tag:web'], errors: [] })
  const bad = validateScopes(['tag:nope'], ['web'])
  assert.equal(bad.ok, false)
  assert.equal(bad.errors.length, 1)
  assert.deepEqual(scopesToTags(['tag:web', 'openid', 'tag:db']), ['web', 'db'])
  assert.deepEqual(tagsToScopes(['web']), ['tag:web'])
})

test('RateLimiter on a manual clock', () => {
  const clock = new ManualClock(DEMO_TIME)
  const limiter = new RateLimiter({ algorithm: 'token_bucket', limit: 10, windowSeconds: 10, burst: 2, clock })
  assert.equal(limiter.check('a').allowed, true)
  assert.equal(limiter.check('a').allowed, true)
  const denied = limiter.check('a')
  assert.equal(denied.allowed, false)
  assert.equal(denied.retryAfter, 1)
  assert.equal(limiter.peek('a').allowed, false)
  clock.advance(1)
  assert.equal(limiter.check('a').allowed, true)
  limiter.reset('a')
  assert.equal(limiter.peek('a').remaining, 2)
  assert.equal(limiter.trackedKeys, 1)
  assert.throws(() => limiter.check('a', 0.5), InvalidRequestError)
  assert.throws(() => new RateLimiter({ algorithm: 'leaky', limit: 1, windowSeconds: 1 }), (e) => e instanceof ConfigError && e.path === 'algorithm')
  assert.throws(() => new RateLimiter({ limit: 1, windowSeconds: 0 }), (e) => e instanceof ConfigError && e.path === 'window_seconds')
})

test('ManualClock refuses times it cannot hold', () => {
  assert.throws(() => new ManualClock(Number.NaN), InvalidRequestError)
  assert.throws(() => new ManualClock(-1), InvalidRequestError)
  const c = new ManualClock(10.5)
  c.advance(-0.5)
  assert.equal(c.now(), 10)
  c.set(20)
  assert.equal(c.now(), 20)
})

test('errorFromDecision turns a refusal into the matching error class', () => {
  const { guard } = demoGuard()
  const e = errorFromDecision(guard.authorize({}))
  assert.ok(e instanceof InvalidTokenError)
  assert.equal(e.reason, 'missing_token')
  assert.match(e.wwwAuthenticate, /resource_metadata=/)
  const burst = { authorization: `Bearer ${tokens.demo}` }
  let d
  for (let i = 0; i < 101; i++) d = guard.authorize(burst)
  const limited = errorFromDecision(d)
  assert.ok(limited instanceof RateLimitedError)
  assert.equal(limited.retryAfter, 900)
})

test('the ESM entry exports the very same classes', async () => {
  const esm = await import('mcpguard')
  assert.equal(esm.Guard, Guard)
  assert.equal(esm.InvalidTokenError, InvalidTokenError)
  assert.equal(esm.default, mcpguard)
  const express = await import('mcpguard/express')
  assert.equal(express.guardMiddleware, require('mcpguard/express').guardMiddleware)
})

test('any claim text survives the trip from the core: separators, non-BMP characters, long values', () => {
  const { config, sign } = require('./helpers/scenario.js')
  const guard = Guard.fromJson(config())
  const subject = `a:b;s3:z n1; 😀é ${'x'.repeat(300)}`
  const token = sign({ sub: subject, client_id: 'c;:😀', roles: ['reader', 'r:1'] })
  const p = guard.validate(token)
  assert.equal(p.subject, subject)
  assert.equal(p.clientId, 'c;:😀')
  assert.deepEqual(p.roles, ['reader', 'r:1'])
  const d = guard.authorize({ authorization: `Bearer ${token}`, server: 'web' })
  assert.equal(d.allowed, true)
  assert.deepEqual(d.principal, p)
  assert.deepEqual(d.visibleServers, ['files', 'web'])
  assert.equal(d.rateLimit.policy, 'default')
})

test("the query string's 1MCP filter parameters are read by the core", () => {
  const { guard } = demoGuard()
  const authorization = `Bearer ${tokens.developer}`
  const d = guard.authorize({ authorization, query: new URLSearchParams('session=1&tag-filter=files') })
  assert.equal(d.allowed, true)
  assert.deepEqual(d.visibleServers, ['filesystem'])
  const repeated = guard.authorize({ authorization, query: new URLSearchParams('tags=web&tags=files') })
  assert.deepEqual([repeated.status, repeated.reason], [400, 'invalid_request'])
  const both = guard.authorize({ authorization, filter: { tags: 'web' }, query: [['preset', 'local']] })
  assert.deepEqual([both.status, both.reason], [400, 'invalid_request'])
})

test('numbers survive the trip from the core: fractions, 15- and 16-digit integers', () => {
  const { config, sign } = require('./helpers/scenario.js')
  // 3 per 7 s: the token bucket's reset after one request is 7/3 s.
  const guard = Guard.fromJson({ ...config(), rate_limit: { limit: 3, window_seconds: 7, algorithm: 'token_bucket' } })
  for (const exp of [999999999999999, 9007199254740993]) {
    const p = guard.validate(sign({ exp }))
    // 2^53 + 1 is not a double: the core's f64 is 2^53, read back exactly.
    assert.equal(p.expiresAt, exp === 9007199254740993 ? 9007199254740992 : exp)
  }
  const d = guard.authorize({ authorization: `Bearer ${sign()}`, server: 'web' })
  assert.equal(d.allowed, true)
  assert.equal(d.rateLimit.remaining, 2)
  assert.ok(Math.abs(d.rateLimit.reset - 7 / 3) < 1e-12, `${d.rateLimit.reset}`)
  assert.notEqual(d.rateLimit.reset, Math.trunc(d.rateLimit.reset))
})

test('an argument of the wrong type is a TypeError that keeps its code, on every method', () => {
  const { guard } = demoGuard()
  const wrongType = (fn) =>
    assert.throws(fn, (e) => e instanceof TypeError && e.code === 'StringExpected', String(fn))
  wrongType(() => guard.validate(123))
  wrongType(() => guard.revoke(null))
  wrongType(() => guard.authorize({ authorization: 5 }))
  wrongType(() => guard.authorize({ authorization: 'Bearer x', server: 7 }))
  wrongType(() => guard.checkRateLimit(5))
})
