'use strict'
// The MCP SDK + Express scenario, run once from a CommonJS host
// (sdk.cjs.test.js) and once from an ESM host (sdk.esm.test.mjs). Each host
// hands in the modules as ITS module system loads them (the SDK's CommonJS
// or ESM build, mcpguard's matching entries), so the SDK's `instanceof`
// checks are exercised in both. Servers listen on 127.0.0.1 with ephemeral
// ports and are closed at the end. Tokens are signed here, on the real
// clock (the SDK checks `expiresAt` against Date.now()), with the committed
// RSA test key.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const jwt = require('jsonwebtoken')

const KEYS = path.join(__dirname, '..', '..', '..', '..', 'conformance', 'keys')
const ISSUER = 'https://auth.test.example'
const RESOURCE = 'https://mcp.test.example/mcp'
const KID = 'test-rsa'

function config(extra = {}) {
  const jwk = JSON.parse(fs.readFileSync(path.join(KEYS, 'rsa.jwk.json'), 'utf8'))
  return {
    resource: RESOURCE,
    auth: {
      issuers: [{ issuer: ISSUER, jwks: { keys: [{ ...jwk, kid: KID, alg: 'RS256' }] } }],
      role_claim: 'roles',
      ...(extra.auth ?? {}),
    },
    servers: {
      files: { tags: ['files'], tools: { write_file: { tags: ['files-write'] } } },
      web: { tags: ['web'] },
    },
    roles: { reader: { scopes: 'tag:web' } },
    rate_limit: { limit: 3, window_seconds: 60, headers: 'draft-7' },
  }
}

function sign(claims = {}, options = {}) {
  const now = Math.floor(Date.now() / 1000)
  const key = fs.readFileSync(path.join(KEYS, 'rsa.pem'))
  return jwt.sign(
    {
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'alice',
      client_id: 'cli-1',
      iat: now,
      exp: now + 3600,
      scope: 'tag:web tag:files',
      ...claims,
    },
    key,
    { algorithm: 'RS256', keyid: KID, ...options },
  )
}

function listen(app) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server))
    server.on('error', reject)
  })
}

function close(server) {
  return new Promise((resolve) => server.close(() => resolve()))
}

function baseUrl(server) {
  const { port } = server.address()
  return `http://127.0.0.1:${port}`
}

async function post(url, { token, body = { jsonrpc: '2.0', id: 1, method: 'ping' }, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers }
  if (token !== undefined) h.authorization = `Bearer ${token}`
  const res = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

/** What a handler behind either guard sees. */
function echoAuth(req, res) {
  const a = req.auth
  res.json({
    token: a.token,
    clientId: a.clientId,
    scopes: a.scopes,
    expiresAt: a.expiresAt,
    resource: a.resource instanceof URL ? a.resource.href : null,
    extra: a.extra,
  })
}

/**
 * Registers the scenario's tests. `m` holds the modules as the host loaded
 * them: { test, Guard, createTokenVerifier, guardMiddleware,
 * requireBearerAuth, SdkInvalidTokenError, SdkInsufficientScopeError, express }.
 */
function scenario(m) {
  const { test } = m

  test('the verifier resolves the SDK AuthInfo and rejects with the SDK error classes of this host', async () => {
    const guard = m.Guard.fromJson(config())
    const verifier = m.createTokenVerifier(guard)
    const token = sign({ roles: ['reader'], scope: 'tag:files openid' })
    const info = await verifier.verifyAccessToken(token)
    assert.equal(info.token, token)
    assert.equal(info.clientId, 'cli-1')
    assert.deepEqual(info.scopes, ['tag:files', 'openid', 'tag:web'])
    assert.equal(typeof info.expiresAt, 'number')
    assert.ok(info.resource instanceof URL)
    assert.equal(info.resource.href, RESOURCE)
    assert.equal(info.extra.subject, 'alice')
    assert.equal(info.extra.issuer, ISSUER)
    assert.deepEqual(info.extra.tags, ['files', 'web'])
    await assert.rejects(verifier.verifyAccessToken(sign({ exp: 1000 })), m.SdkInvalidTokenError)
    const strict = m.createTokenVerifier(m.Guard.fromJson(config({ auth: { required_scopes: ['mcp:write'] } })))
    await assert.rejects(strict.verifyAccessToken(sign()), m.SdkInsufficientScopeError)
  })

  test('requireBearerAuth with the mcpguard verifier: 200, 401 with WWW-Authenticate, 403', async () => {
    const guard = m.Guard.fromJson(config())
    const strictGuard = m.Guard.fromJson(config({ auth: { required_scopes: ['mcp:write'] } }))
    const app = m.express()
    app.use(m.express.json())
    const bearer = m.requireBearerAuth({ verifier: m.createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() })
    app.post('/mcp', bearer, echoAuth)
    app.post('/admin', m.requireBearerAuth({ verifier: m.createTokenVerifier(guard), requiredScopes: ['tag:admin'] }), echoAuth)
    app.post('/strict', m.requireBearerAuth({ verifier: m.createTokenVerifier(strictGuard) }), echoAuth)
    const server = await listen(app)
    try {
      const url = baseUrl(server)
      const ok = await post(`${url}/mcp`, { token: sign() })
      assert.equal(ok.status, 200)
      assert.equal(ok.body.clientId, 'cli-1')
      assert.equal(ok.body.resource, RESOURCE)
      assert.deepEqual(ok.body.extra.tags, ['web', 'files'])

      const missing = await post(`${url}/mcp`)
      assert.equal(missing.status, 401)
      assert.match(missing.headers.get('www-authenticate'), /^Bearer /)

      const expired = await post(`${url}/mcp`, { token: sign({ exp: Math.floor(Date.now() / 1000) - 3600 }) })
      assert.equal(expired.status, 401)
      assert.match(expired.headers.get('www-authenticate'), /error="invalid_token"/)
      assert.match(expired.headers.get('www-authenticate'), /resource_metadata=/)
      assert.equal(expired.body.error, 'invalid_token')

      const elsewhere = await post(`${url}/mcp`, { token: sign({ aud: 'https://other.example/mcp' }) })
      assert.equal(elsewhere.status, 401)
      assert.match(elsewhere.headers.get('www-authenticate'), /error="invalid_token"/)

      const admin = await post(`${url}/admin`, { token: sign() })
      assert.equal(admin.status, 403)
      assert.match(admin.headers.get('www-authenticate'), /error="insufficient_scope"/)

      const strict = await post(`${url}/strict`, { token: sign() })
      assert.equal(strict.status, 403, 'the verifier rejection must be the SDK class the middleware knows')
      assert.equal(strict.body.error, 'insufficient_scope')
    } finally {
      await close(server)
    }
  })

  test('guardMiddleware: tags, tools from the body, 429 with Retry-After, metadata, req.auth, audit events', async () => {
    const guard = m.Guard.fromJson(config())
    const events = []
    guard.onAudit((event) => events.push(event))
    const app = m.express()
    app.use(m.express.json())
    app.use(guardMiddleware(m, guard))
    app.post('/mcp', echoAuth)
    app.post('/files', echoAuth)
    const server = await listen(app)
    try {
      const url = baseUrl(server)
      const meta = await fetch(`${url}${guard.metadataPath()}`)
      assert.equal(meta.status, 200)
      assert.equal(meta.headers.get('access-control-allow-origin'), '*')
      assert.deepEqual(await meta.json(), guard.metadataDocument())
      const preflight = await fetch(`${url}${guard.metadataPath()}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      })
      assert.equal(preflight.status, 204)
      assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
      assert.match(preflight.headers.get('access-control-allow-methods'), /GET/)

      const anonymous = await post(`${url}/mcp`)
      assert.equal(anonymous.status, 401)
      assert.match(anonymous.headers.get('www-authenticate'), /resource_metadata="https:\/\/mcp\.test\.example/)
      assert.equal(anonymous.body.error, 'invalid_token')

      const badFilter = await post(`${url}/mcp?tag-filter=web%20AND%20(`, { token: sign({ client_id: 'cli-f' }) })
      assert.equal(badFilter.status, 400)
      assert.equal(badFilter.body.error, 'invalid_request')

      const notGranted = await post(`${url}/mcp?tags=files`, { token: sign({ client_id: 'cli-g', scope: 'tag:web' }) })
      assert.equal(notGranted.status, 403)
      assert.match(notGranted.headers.get('www-authenticate'), /insufficient_scope/)

      const write = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'write_file', arguments: {} } }
      const tool = await post(`${url}/files`, { token: sign({ client_id: 'cli-t' }), body: write })
      assert.equal(tool.status, 403, 'write_file needs tag:files-write')
      assert.match(tool.body.error_description, /write_file/)

      const token = sign({ client_id: 'cli-r' })
      for (let i = 0; i < 3; i++) {
        const r = await post(`${url}/mcp?tags=web`, { token })
        assert.equal(r.status, 200)
        assert.equal(r.body.clientId, 'cli-r')
        assert.equal(r.body.resource, RESOURCE)
        assert.match(r.headers.get('ratelimit'), new RegExp(`remaining=${2 - i}`))
      }
      const limited = await post(`${url}/mcp?tags=web`, { token })
      assert.equal(limited.status, 429)
      assert.ok(Number(limited.headers.get('retry-after')) >= 1)
      assert.equal(limited.body.error, 'rate_limited')

      // Audit events arrive on the event loop while the server runs.
      await new Promise((resolve) => setImmediate(resolve))
      const kinds = new Set(events.map((e) => e.kind))
      for (const kind of ['auth_success', 'auth_failure', 'access_denied', 'rate_limited']) {
        assert.ok(kinds.has(kind), `an audit event of kind ${kind} (got ${[...kinds]})`)
      }
      assert.ok(events.some((e) => e.kind === 'rate_limited' && e.clientId === 'cli-r'))
    } finally {
      guard.onAudit(null)
      await close(server)
    }
  })
}

function guardMiddleware(m, guard) {
  return m.guardMiddleware(guard, {
    server: (req) => (req.path === '/files' ? 'files' : 'web'),
    toolFromBody: true,
  })
}

module.exports = { scenario, config, sign }
