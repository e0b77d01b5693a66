'use strict'
// Opaque tokens the host issued itself (`insertOpaque`) and RFC 7662
// introspection responses (`validateIntrospection`), on the Guard and on
// the TokenValidator: the principal they give, the errors they throw, and
// an inserted token authorized through `authorize` and the Express
// middleware.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')

const { Guard, ManualClock, TokenValidator, GuardError, InvalidTokenError, InsufficientScopeError, OpaqueStoreError, OpaqueTokenRejectedError } = require('mcpguard')
const { guardMiddleware } = require('mcpguard/express')

const NOW = 1767225600
const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://auth.example.com'

function config(auth = {}) {
  return {
    resource: RESOURCE,
    auth: { issuers: [{ issuer: ISSUER, jwks: { keys: [] } }], role_claim: 'roles', opaque_tokens: true, ...auth },
    servers: {
      files: { tags: ['files'] },
      web: { tags: ['web'] },
      db: { tags: ['db'] },
    },
    roles: { analyst: { scopes: 'tag:db' } },
    rate_limit: { limit: 100, window_seconds: 60 },
  }
}

function guardAt(auth) {
  const clock = new ManualClock(NOW)
  return { clock, guard: Guard.fromJson(config(auth), { clock }) }
}

const ALICE = { clientId: 'app', subject: 'alice', scopes: ['tag:web', 'mcp:read'], resource: RESOURCE, expiresAt: NOW + 600 }

const RESPONSE = {
  active: true,
  iss: ISSUER,
  client_id: 'svc',
  sub: 'bob',
  aud: RESOURCE,
  scope: 'tag:files mcp:read',
  exp: NOW + 3600,
  iat: NOW,
}

/**
 * The error `fn` throws, checked to be an OpaqueStoreError with `code`: an
 * OpaqueTokenRejectedError for the entry's own faults (the core's kind
 * `opaque_token`), the base class for the store's (`opaque_store`).
 */
function opaqueError(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof OpaqueStoreError && e instanceof GuardError && e instanceof Error, String(e))
    const rejected = code === 'invalid_token' || code === 'expired'
    assert.equal(e instanceof OpaqueTokenRejectedError, rejected)
    assert.equal(e.name, rejected ? 'OpaqueTokenRejectedError' : 'OpaqueStoreError')
    assert.equal(e.code, code)
    assert.equal(e.reason, null)
    assert.equal(e.wwwAuthenticate, null)
    assert.ok(e.message.length > 0)
    return true
  })
}

test('an inserted opaque token validates to a principal of the shape validate returns', () => {
  const { guard } = guardAt()
  guard.insertOpaque('opq-alice-7Hd93kQ', ALICE)
  const p = guard.validate('opq-alice-7Hd93kQ')
  assert.deepEqual(p, {
    kind: 'opaque',
    subject: 'alice',
    clientId: 'app',
    issuer: '',
    audience: [RESOURCE],
    scopes: ['tag:web', 'mcp:read'],
    tags: ['web'],
    roles: [],
    expiresAt: NOW + 600,
    jwtId: null,
  })
})

test('an inserted token passes authorize with the tags of its scopes and roles', () => {
  const { guard } = guardAt()
  const before = guard.authorize({ authorization: 'Bearer opq-alice-7Hd93kQ', server: 'web' })
  assert.deepEqual([before.allowed, before.reason], [false, 'inactive'])
  guard.insertOpaque('opq-alice-7Hd93kQ', ALICE)
  const d = guard.authorize({ authorization: 'Bearer opq-alice-7Hd93kQ', server: 'web' })
  assert.equal(d.allowed, true)
  assert.deepEqual(d.visibleServers, ['web'])
  assert.equal(d.principal.clientId, 'app')
  assert.equal(guard.authorize({ authorization: 'Bearer opq-alice-7Hd93kQ', server: 'files' }).reason, 'insufficient_scope')
  guard.insertOpaque('opq-analyst', { clientId: 'bi', roles: ['analyst'], scopes: null, expiresAt: undefined })
  assert.deepEqual(guard.authorize({ authorization: 'Bearer opq-analyst', server: 'db' }).visibleServers, ['db'])
})

test('inserting again replaces the entry, revoke removes it, expiry applies with the leeway', () => {
  const { guard, clock } = guardAt()
  guard.insertOpaque('opq-1', ALICE)
  guard.validate('opq-1')
  guard.insertOpaque('opq-1', { ...ALICE, scopes: ['tag:files'] })
  assert.deepEqual(guard.validate('opq-1').tags, ['files'], 'a cached principal is dropped')
  guard.revoke('opq-1')
  assert.throws(() => guard.validate('opq-1'), (e) => e instanceof InvalidTokenError && e.reason === 'inactive')
  guard.insertOpaque('opq-2', { expiresAt: NOW + 10 })
  clock.advance(39)
  assert.equal(guard.validate('opq-2').expiresAt, NOW + 10)
  clock.advance(1)
  assert.throws(() => guard.validate('opq-2'), (e) => e.reason === 'expired' && e.status === 401)
})

test('insertOpaque refuses a token that cannot be opaque with code invalid_token', () => {
  const { guard } = guardAt()
  for (const bad of ['', 'a.b', 'a b', '==', 'é', 'a'.repeat(4097)]) opaqueError(() => guard.insertOpaque(bad, {}), 'invalid_token')
  guard.insertOpaque('a'.repeat(4096), {})
})

test('insertOpaque refuses an entry already expired with code expired', () => {
  const { guard } = guardAt()
  opaqueError(() => guard.insertOpaque('opq-stale', { expiresAt: NOW }), 'expired')
  opaqueError(() => guard.insertOpaque('opq-stale', { expiresAt: NOW - 1 }), 'expired')
})

test('insertOpaque without auth.opaque_tokens has code disabled', () => {
  const { guard } = guardAt({ opaque_tokens: false })
  opaqueError(() => guard.insertOpaque('opq-nowhere', { clientId: 'app' }), 'disabled')
  const { guard: implicit } = guardAt({ opaque_tokens: undefined })
  opaqueError(() => implicit.insertOpaque('opq-nowhere', {}), 'disabled')
})

test('a full store refuses a new token with code full and status 503, and keeps every live one', () => {
  const { guard } = guardAt()
  // The store holds 100000 tokens (the core's default capacity).
  let n = 0
  for (;;) {
    try {
      guard.insertOpaque(`opq-${n}`, {})
    } catch (e) {
      assert.ok(e instanceof OpaqueStoreError, String(e))
      assert.equal(e.code, 'full')
      assert.equal(e.status, 503)
      break
    }
    n++
    assert.ok(n <= 100000, 'the store must fill up')
  }
  assert.equal(n, 100000)
  assert.equal(guard.validate('opq-0').issuer, '')
  assert.equal(guard.validate(`opq-${n - 1}`).issuer, '')
  guard.insertOpaque('opq-0', { clientId: 'again' })
})

test('insertOpaque refuses arguments of the wrong type with a TypeError naming the member', () => {
  const { guard } = guardAt()
  const typeError = (fn, pattern) =>
    assert.throws(fn, (e) => {
      assert.ok(e instanceof TypeError, String(e))
      assert.match(e.message, pattern)
      return true
    })
  typeError(() => guard.insertOpaque(42, {}), /token must be a string/)
  typeError(() => guard.insertOpaque(null, {}), /token must be a string/)
  for (const entry of [undefined, null, 'x', 3, ['a']]) typeError(() => guard.insertOpaque('opq', entry), /entry must be an object/)
  typeError(() => guard.insertOpaque('opq', { scope: 'tag:web' }), /entry\.scope is not a member/)
  typeError(() => guard.insertOpaque('opq', { client_id: 'app' }), /entry\.client_id is not a member/)
  typeError(() => guard.insertOpaque('opq', { scopes: 'tag:web' }), /^entry\.scopes: /)
  typeError(() => guard.insertOpaque('opq', { scopes: ['tag:web', 1] }), /^entry\.scopes\[1\]: /)
  typeError(() => guard.insertOpaque('opq', { clientId: 7 }), /^entry\.clientId: /)
  typeError(() => guard.insertOpaque('opq', { expiresAt: NOW + 0.5 }), /^entry\.expiresAt: /)
  typeError(() => guard.insertOpaque('opq', { expiresAt: String(NOW + 60) }), /^entry\.expiresAt: /)
  typeError(() => guard.insertOpaque('opq', { expiresAt: Number.NaN }), /entry\.expiresAt cannot be NaN/)
  typeError(() => guard.insertOpaque('opq', { expiresAt: Infinity }), /entry\.expiresAt cannot be Infinity/)
  typeError(() => guard.insertOpaque('opq', { subject: () => 'alice' }), /entry\.subject cannot be/)
  assert.throws(() => guard.validate('opq'), (e) => e.reason === 'inactive', 'nothing was stored')
})

test('validateIntrospection takes the response as an object or as text and returns what validate returns', () => {
  const { guard } = guardAt()
  const fromObject = guard.validateIntrospection(RESPONSE)
  assert.deepEqual(fromObject, {
    kind: 'introspected',
    subject: 'bob',
    clientId: 'svc',
    issuer: ISSUER,
    audience: [RESOURCE],
    scopes: ['tag:files', 'mcp:read'],
    tags: ['files'],
    roles: [],
    expiresAt: NOW + 3600,
    jwtId: null,
  })
  assert.deepEqual(guard.validateIntrospection(JSON.stringify(RESPONSE)), fromObject)
  assert.deepEqual(Object.keys(fromObject), Object.keys(guard.validateIntrospection({ active: true })))
})

test('validateIntrospection throws what validate throws, with the challenge', () => {
  const { guard } = guardAt()
  const refused = (response, reason) =>
    assert.throws(
      () => guard.validateIntrospection(response),
      (e) => {
        assert.ok(e instanceof InvalidTokenError, String(e))
        assert.deepEqual([e.code, e.reason, e.status], ['invalid_token', reason, 401])
        assert.match(e.wwwAuthenticate, /error="invalid_token".*resource_metadata=/)
        return true
      },
    )
  refused({ active: false }, 'inactive')
  refused({ ...RESPONSE, exp: NOW - 3600 }, 'expired')
  refused({ ...RESPONSE, aud: 'https://other.example.com/mcp' }, 'wrong_audience')
  refused({ ...RESPONSE, iss: 'https://evil.example.com' }, 'wrong_issuer')
  refused('{"active": true, "sub": "bob", "sub": "eve"}', 'malformed')
  refused('not json', 'malformed')
  refused(['active', true], 'malformed')
  const { guard: strict } = guardAt({ required_scopes: ['mcp:admin'] })
  assert.throws(() => strict.validateIntrospection(RESPONSE), (e) => e instanceof InsufficientScopeError && e.status === 403)
})

test('validateIntrospection refuses a response that is neither text nor an object with a TypeError', () => {
  const { guard } = guardAt()
  for (const bad of [undefined, null, 42, true]) {
    assert.throws(() => guard.validateIntrospection(bad), TypeError, String(bad))
  }
})

test('TokenValidator stores opaque tokens and reads introspection responses too', () => {
  const clock = new ManualClock(NOW)
  const auth = { issuers: [{ issuer: ISSUER, jwks: { keys: [] } }], opaque_tokens: true }
  const v = new TokenValidator(auth, RESOURCE, { clock })
  v.insertOpaque('opq-alice', ALICE)
  const p = v.validate('opq-alice')
  assert.deepEqual([p.clientId, p.subject, p.scopes], ['app', 'alice', ['tag:web', 'mcp:read']])
  v.revoke('opq-alice')
  assert.throws(() => v.validate('opq-alice'), (e) => e instanceof InvalidTokenError && e.reason === 'inactive')
  opaqueError(() => v.insertOpaque('opq', { expiresAt: NOW }), 'expired')
  assert.throws(() => v.insertOpaque('opq', { scope: 'x' }), TypeError)
  assert.equal(v.validateIntrospection(RESPONSE).subject, 'bob')
  assert.equal(v.validateIntrospection(JSON.stringify(RESPONSE)).clientId, 'svc')
  assert.throws(
    () => v.validateIntrospection({ active: false }),
    (e) => e instanceof InvalidTokenError && e.reason === 'inactive' && e.wwwAuthenticate !== null,
  )
  assert.throws(() => v.validateIntrospection(7), TypeError)
  const off = new TokenValidator({ issuers: [] }, RESOURCE, { clock })
  opaqueError(() => off.insertOpaque('opq', {}), 'disabled')
})

test('an inserted token passes the Express middleware and becomes req.auth', async () => {
  const guard = Guard.fromJson(config())
  guard.insertOpaque('opq-express-token', { clientId: 'app', subject: 'alice', scopes: ['tag:web'] })
  const mw = guardMiddleware(guard, { server: 'web' })
  const server = http.createServer((req, res) =>
    mw(req, res, () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ clientId: req.auth.clientId, scopes: req.auth.scopes, token: req.auth.token }))
    }),
  )
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${server.address().port}/mcp`
    const ok = await fetch(url, { headers: { authorization: 'Bearer opq-express-token' } })
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { clientId: 'app', scopes: ['tag:web'], token: 'opq-express-token' })
    const unknown = await fetch(url, { headers: { authorization: 'Bearer opq-unknown-token' } })
    assert.equal(unknown.status, 401)
    assert.match(unknown.headers.get('www-authenticate'), /invalid_token/)
    await unknown.arrayBuffer()
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
})
