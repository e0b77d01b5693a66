'use strict'
// The HTTP edge through what a host uses: `guardMiddleware` on a real
// Express 5 app, the real MCP TypeScript SDK (its McpServer on the
// Streamable HTTP transport, its requireBearerAuth), loopback HTTP. One
// test per defect of issue 13 that concerns Node (2 to 6 and 8; 7, the
// linked installs, is install.test.js).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const express = require('express')
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js')
const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js')
const { Guard, HttpOptions } = require('mcpguard')
const { createTokenVerifier } = require('mcpguard/mcp')
const { guardMiddleware, keepRawBody, metadataHandler } = require('mcpguard/express')
const { config, sign } = require('./helpers/scenario.js')

function listen(app) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server))
    server.on('error', reject)
  })
}

async function withServer(app, fn) {
  const server = await listen(app)
  try {
    return await fn(`http://127.0.0.1:${server.address().port}`)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(() => resolve()))
  }
}

/**
 * A raw request: `headers` a flat [name, value, …] list (repeats kept;
 * Node adds no Host to such a list, so it comes first), `body` text sent as
 * it is.
 */
function raw(url, { method = 'POST', headers = [], body = null } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: ['Host', new URL(url).host, ...headers] }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const ACCEPT = ['Accept', 'application/json, text/event-stream']
const JSON_TYPE = ['Content-Type', 'application/json']

function bearer(token) {
  return ['Authorization', `Bearer ${token}`]
}

function echoAuth(req, res) {
  res.json({ auth: req.auth ?? null, body: req.body ?? null, decision: req.mcpguard ?? null })
}

const CALL_READ = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{}'

test('defect 2: NaN, 1e999, -Infinity and deep bodies are a 400 invalid_request, with or without express.json in front', async () => {
  const guard = Guard.fromJson(config())
  const token = sign({ client_id: 'cli-bodies' })
  const deep = `${CALL_READ},"_meta":{"x":${'['.repeat(150)}${']'.repeat(150)}}}}`
  const bad = [`${CALL_READ},"_meta":{"x":NaN}}}`, `${CALL_READ},"_meta":{"x":1e999}}}`, `${CALL_READ},"_meta":{"x":-Infinity}}}`, deep]
  const bare = express()
  bare.use(guardMiddleware(guard, { server: 'files' }))
  bare.post('/mcp', echoAuth)
  const parsed = express()
  parsed.use(express.json({ verify: keepRawBody }))
  parsed.use(guardMiddleware(guard, { server: 'files' }))
  parsed.post('/mcp', echoAuth)
  await withServer(bare, async (url) => {
    for (const body of bad) {
      const r = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(token)], body })
      assert.equal(r.status, 400, body.slice(0, 90))
      assert.equal(r.json().error, 'invalid_request')
    }
    const ok = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(token)], body: `${CALL_READ}}}` })
    assert.equal(ok.status, 200)
    assert.equal(ok.json().body.params.name, 'read_file', 'the body read by the middleware reaches the app as req.body')
  })
  await withServer(parsed, async (url) => {
    // NaN and -Infinity are refused by express.json itself; 1e999 and deep
    // nesting it parses, and the Guard reads the bytes it kept.
    for (const body of [bad[1], deep]) {
      const r = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(token)], body })
      assert.equal(r.status, 400, body.slice(0, 90))
      assert.equal(r.json().error, 'invalid_request')
    }
  })
})

test('defect 3: a replaced opaque entry shows its new principal in decision.principal and req.auth', async () => {
  const guard = Guard.fromJson({ ...config(), auth: { ...config().auth, opaque_tokens: true } })
  guard.insertOpaque('opq-1', { clientId: 'app', scopes: ['tag:web'] })
  const first = guard.authorize({ authorization: 'Bearer opq-1', server: 'web' })
  assert.equal(first.principal.clientId, 'app')
  guard.insertOpaque('opq-1', { clientId: 'other', scopes: ['tag:files'] })
  const second = guard.authorize({ authorization: 'Bearer opq-1', server: 'files' })
  assert.equal(second.allowed, true)
  assert.equal(second.principal.clientId, 'other')
  assert.deepEqual(second.principal.scopes, ['tag:files'])
  assert.deepEqual(second.principal.tags, ['files'])

  const app = express()
  app.use(guardMiddleware(guard, { server: 'files', readBody: false }))
  app.post('/mcp', echoAuth)
  await withServer(app, async (url) => {
    guard.insertOpaque('opq-2', { clientId: 'app', scopes: ['tag:web', 'tag:files'] })
    const a = await raw(`${url}/mcp`, { headers: bearer('opq-2') })
    assert.equal(a.json().auth.clientId, 'app')
    guard.insertOpaque('opq-2', { clientId: 'other', scopes: ['tag:files'] })
    const b = await raw(`${url}/mcp`, { headers: bearer('opq-2') })
    assert.equal(b.status, 200)
    assert.equal(b.json().auth.clientId, 'other')
    assert.deepEqual(b.json().auth.scopes, ['tag:files'])
    assert.equal(b.json().decision.principal.clientId, 'other')
  })
})

test('defect 4: a batch is one decision, charged once, all or nothing', async () => {
  const guard = Guard.fromJson({ ...config(), rate_limit: { limit: 10, window_seconds: 60, headers: 'draft-7' } })
  const app = express()
  app.use(guardMiddleware(guard, { server: 'files' }))
  app.post('/mcp', echoAuth)
  const call = (id, name) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })
  await withServer(app, async (url) => {
    const token = sign({ client_id: 'cli-batch', scope: 'tag:files' })
    const refused = await raw(`${url}/mcp`, {
      headers: [...JSON_TYPE, ...bearer(token)],
      body: JSON.stringify([call(1, 'read_file'), call(2, 'write_file')]),
    })
    assert.equal(refused.status, 403)
    assert.match(refused.json().error_description, /write_file/)
    const batch = await raw(`${url}/mcp`, {
      headers: [...JSON_TYPE, ...bearer(token)],
      body: JSON.stringify([call(3, 'read_file'), call(4, 'read_file')]),
    })
    assert.equal(batch.status, 200)
    // Nothing was charged for the refused batch; this one costs 2 at once.
    assert.match(batch.headers.ratelimit, /remaining=8/)
    const counters = guard.counters()
    assert.equal(counters.allowed, 1, 'one decision for the allowed batch')
    assert.equal(counters.deniedTotal, 1, 'one decision for the refused batch')
  })
})

/** An MCP server with a read and a write tool, on the SDK's stateless Streamable HTTP transport. */
function mcpApp(guard, { json, parser }) {
  const app = express()
  if (parser) app.use(express.json({ verify: keepRawBody }))
  app.use(guardMiddleware(guard, { server: 'files' }))
  app.post('/mcp', async (req, res) => {
    const server = new McpServer({ name: 'files', version: '1.0.0' })
    server.registerTool('read_file', { description: 'reads' }, async () => ({ content: [{ type: 'text', text: 'r' }] }))
    server.registerTool('write_file', { description: 'writes' }, async () => ({ content: [{ type: 'text', text: 'w' }] }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json })
    res.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  return app
}

/** The JSON-RPC messages of a JSON or SSE response. */
function messages(r) {
  if (r.headers['content-type'].startsWith('text/event-stream')) {
    return r.text
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => JSON.parse(line.slice(5)))
  }
  const v = JSON.parse(r.text)
  return Array.isArray(v) ? v : [v]
}

test('defect 5: tools/list through guardMiddleware hides write_file without tag:files-write (JSON and SSE, with and without a parser)', async () => {
  const guard = Guard.fromJson({ ...config(), rate_limit: { limit: 1000, window_seconds: 60 } })
  const list = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' })
  for (const json of [true, false]) {
    for (const parser of [false, true]) {
      await withServer(mcpApp(guard, { json, parser }), async (url) => {
        const names = async (scope) => {
          const r = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...ACCEPT, ...bearer(sign({ scope }))], body: list })
          assert.equal(r.status, 200, r.text)
          assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.text), 'a fixed Content-Length')
          assert.equal(r.headers['content-type'].split(';')[0], json ? 'application/json' : 'text/event-stream')
          const [m] = messages(r)
          assert.equal(m.id, 7)
          return m.result.tools.map((t) => t.name).sort()
        }
        assert.deepEqual(await names('tag:files'), ['read_file'], `json=${json} parser=${parser}`)
        assert.deepEqual(await names('tag:files tag:files-write'), ['read_file', 'write_file'])
        const call = JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'read_file', arguments: {} } })
        const called = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...ACCEPT, ...bearer(sign({ scope: 'tag:files' }))], body: call })
        assert.equal(called.status, 200)
        assert.equal(messages(called)[0].result.content[0].text, 'r')
      })
    }
  }
})

test('defect 6: a token expired 10 s ago (within the leeway) passes requireBearerAuth with the verifier, and req.auth.expiresAt is exp + leeway', async () => {
  const guard = Guard.fromJson(config({ auth: { leeway_seconds: 30 } }))
  const app = express()
  app.use(express.json())
  app.get(guard.metadataPath(), metadataHandler(guard))
  app.post('/sdk', requireBearerAuth({ verifier: createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() }), echoAuth)
  app.post('/guarded', guardMiddleware(guard, { server: 'web' }), echoAuth)
  const exp = Math.floor(Date.now() / 1000) - 10
  const token = sign({ exp, iat: exp - 600 })
  await withServer(app, async (url) => {
    const sdk = await raw(`${url}/sdk`, { headers: [...JSON_TYPE, ...bearer(token)], body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' })
    assert.equal(sdk.status, 200, sdk.text)
    assert.equal(sdk.json().auth.expiresAt, exp + 30)
    const guarded = await raw(`${url}/guarded`, { headers: [...JSON_TYPE, ...bearer(token)], body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' })
    assert.equal(guarded.status, 200, guarded.text)
    assert.equal(guarded.json().auth.expiresAt, exp + 30)
    const old = sign({ exp: exp - 60, iat: exp - 600 })
    const refused = await raw(`${url}/sdk`, { headers: [...JSON_TYPE, ...bearer(old)], body: '{}' })
    assert.equal(refused.status, 401)
    assert.match(refused.headers['www-authenticate'], /resource_metadata=/)
  })
})

test('defect 8: two Authorization headers are a 400; the metadata route ignores the query', async () => {
  const guard = Guard.fromJson(config())
  const app = express()
  app.use(guardMiddleware(guard, { server: 'web' }))
  app.post('/mcp', echoAuth)
  await withServer(app, async (url) => {
    const token = sign()
    const two = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(token), ...bearer(token)], body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' })
    assert.equal(two.status, 400)
    assert.equal(two.json().error, 'invalid_request')
    const meta = await raw(`${url}${guard.metadataPath()}?x=1&tags=web`, { method: 'GET' })
    assert.equal(meta.status, 200)
    assert.deepEqual(meta.json(), guard.metadataDocument())
  })
})

test('defect 8: a POST whose body a parser consumed without keeping it fails loudly, never skipping the tool check', async () => {
  const guard = Guard.fromJson(config())
  const app = express()
  // Consumes the stream and keeps nothing (no req.body, no req.rawBody).
  app.use((req, res, next) => {
    req.on('end', () => next())
    req.resume()
  })
  app.use(guardMiddleware(guard, { server: 'files' }))
  app.post('/mcp', echoAuth)
  await withServer(app, async (url) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'write_file', arguments: {} } })
    const r = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(sign())], body })
    assert.equal(r.status, 500)
    assert.match(r.json().error_description, /express\.json/)
  })
})

test('a body over maxBodyBytes is a 400 without reading it all', async () => {
  const guard = Guard.fromJson(config())
  const app = express()
  app.use(guardMiddleware(guard, { server: 'files', maxBodyBytes: 64 }))
  app.post('/mcp', echoAuth)
  await withServer(app, async (url) => {
    const body = `${CALL_READ},"pad":"${'x'.repeat(200)}"}}`
    const r = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(sign())], body })
    assert.equal(r.status, 400)
    assert.match(r.json().error_description, /larger than 64 bytes/)
  })
})

test('authorizeHttp: options built once, Latin-1 header strings as bytes, the response to send', () => {
  const guard = Guard.fromJson(config())
  const options = new HttpOptions({ server: 'files', maxBodyBytes: 1024 })
  assert.equal(options.readBody, true)
  assert.equal(options.maxBodyBytes, 1024)
  const missing = guard.authorizeHttp({ method: 'POST', path: '/mcp', headers: [], body: Buffer.from(`${CALL_READ}}}`) }, options)
  assert.equal(missing.action, 'respond')
  assert.equal(missing.status, 401)
  assert.equal(missing.decision.reason, 'missing_token')
  assert.equal(JSON.parse(missing.body.toString()).error, 'invalid_token')
  const obsText = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization', 'Bearer abc\u00e9'] }, options)
  assert.equal(obsText.decision.reason, 'malformed')
  const beyond = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization', 'Bearer abc\u20ac'] }, options)
  assert.equal(beyond.decision.reason, 'malformed')
  const ok = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign()}`] }, options)
  assert.equal(ok.action, 'forward')
  assert.equal(ok.decision.allowed, true)
  assert.equal(ok.filtersResponse, false)
  assert.throws(() => new HttpOptions({ server: 'files', colour: 'red' }), (e) => e.name === 'ConfigError' && e.path === 'colour')
})

test('authorizeHttp reads header strings of any length whole, and names a header list it cannot read', () => {
  const guard = Guard.fromJson(config())
  const options = new HttpOptions({ server: 'files', readBody: false })
  // Strings past the binding's stack buffer (4095 UTF-16 units) are read
  // whole from the heap: the decision is the same as with short ones.
  const token = sign({ pad: 'x'.repeat(3200) })
  assert.ok(token.length > 4096 && token.length < 8000)
  const long = ['X-Long', 'y'.repeat(10000), 'Authorization', `Bearer ${token}`]
  const ok = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: long }, options)
  assert.equal(ok.action, 'forward')
  assert.equal(ok.token, token)
  const beyond = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${'a'.repeat(5000)}\u20ac`] }, options)
  assert.equal(beyond.decision.reason, 'malformed')
  const typed = (headers, code, message) =>
    assert.throws(
      () => guard.authorizeHttp({ method: 'GET', path: '/mcp', headers }, options),
      (e) => e instanceof TypeError && e.code === code && message.test(e.message),
    )
  typed({ authorization: 'Bearer x' }, 'ArrayExpected', /request\.headers must be an array of strings/)
  typed('Authorization', 'ArrayExpected', /request\.headers must be an array of strings/)
  typed(['Authorization', 7], 'StringExpected', /request\.headers\[1\] must be a string/)
  // A hole in the list reads as undefined: not a string.
  typed(['Authorization', , 'Host', 'a'], 'StringExpected', /request\.headers\[1\] must be a string/)
  // A list of names without values is the host's mistake, stated by the core's rule.
  assert.throws(() => guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization'] }, options), (e) => e.name === 'InvalidRequestError')
})

test('authorizeHttp: an admitted request names its bearer token and the scopes its roles grant; a refusal names neither', () => {
  const guard = Guard.fromJson(config())
  const options = new HttpOptions({ server: 'files', readBody: false })
  const token = sign({ roles: ['reader'], scope: 'tag:files openid' })
  const ok = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['authorization', `bearer  ${token}`] }, options)
  assert.equal(ok.action, 'forward')
  assert.equal(ok.token, token)
  assert.deepEqual(ok.effectiveScopes, ['tag:files', 'openid', 'tag:web'])
  const refused = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ scope: 'tag:web' })}`] }, options)
  assert.equal(refused.status, 403)
  assert.equal(refused.token, null)
  assert.deepEqual(refused.effectiveScopes, [])
  const anonymous = guard.authorizeHttp({ method: 'GET', path: '/mcp', headers: [] }, options)
  assert.equal(anonymous.token, null)
  assert.deepEqual(anonymous.effectiveScopes, [])
})

test('guardMiddleware with offload decides on the thread pool and answers as without it', async () => {
  assert.throws(() => guardMiddleware(Guard.fromJson(config()), { server: 'files', offload: 'yes' }), TypeError)
  for (const offload of [false, true]) {
    const guard = Guard.fromJson(config())
    const app = express()
    app.use(guardMiddleware(guard, { server: 'files', offload }))
    app.post('/mcp', echoAuth)
    await withServer(app, async (url) => {
      const token = sign({ roles: ['reader'], scope: 'tag:files' })
      const ok = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...ACCEPT, ...bearer(token)], body: `${CALL_READ}}}` })
      assert.equal(ok.status, 200, `offload ${offload}`)
      const { auth, body } = ok.json()
      assert.equal(auth.token, token)
      assert.deepEqual(auth.scopes, ['tag:files', 'tag:web'])
      assert.equal(body.params.name, 'read_file')
      const write = await raw(`${url}/mcp`, {
        headers: [...JSON_TYPE, ...bearer(token)],
        body: '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write_file","arguments":{}}}',
      })
      assert.equal(write.status, 403, `offload ${offload}`)
      const bad = await raw(`${url}/mcp`, { headers: [...JSON_TYPE, ...bearer(token)], body: '{"jsonrpc":"2.0","id":3,"x":NaN}' })
      assert.equal(bad.status, 400, `offload ${offload}`)
      const none = await raw(`${url}/mcp`, { headers: JSON_TYPE, body: `${CALL_READ}}}` })
      assert.equal(none.status, 401, `offload ${offload}`)
    })
  }
})
