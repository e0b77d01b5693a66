'use strict'
// The embedded authorization server through the TypeScript MCP SDK: the real
// SDK client (its `auth()` flow driven by the Streamable HTTP transport and an
// `OAuthClientProvider`) against an Express host serving `mcpAuthRouter` with
// mcpguard's provider and a Guard-protected MCP endpoint. Discovery from the
// 401, dynamic registration, the consent page, the code exchange with PKCE,
// a tool call, a refresh, a revocation, a reuse of the old refresh token.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const { mcpAuthRouter } = require('@modelcontextprotocol/sdk/server/auth/router.js')
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js')
const { Client } = require('@modelcontextprotocol/sdk/client/index.js')
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js')
const { UnauthorizedError, auth, refreshAuthorization, discoverAuthorizationServerMetadata } = require(
  '@modelcontextprotocol/sdk/client/auth.js',
)
const { Guard } = require('mcpguard')
const { McpguardOAuthProvider } = require('mcpguard/oauth')
const { guardMiddleware, metadataHandler } = require('mcpguard/express')

const CALLBACK = 'http://127.0.0.1:9/callback'

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server))
  })
}

/** An `OAuthClientProvider` that keeps everything in memory and records the redirect. */
class MemoryClientProvider {
  constructor() {
    this.saved = {}
  }
  get redirectUrl() {
    return CALLBACK
  }
  get clientMetadata() {
    return {
      client_name: 'mcpguard test client',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }
  state() {
    return 'state-123'
  }
  clientInformation() {
    return this.saved.client
  }
  saveClientInformation(info) {
    this.saved.client = info
  }
  tokens() {
    return this.saved.tokens
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier
  }
  codeVerifier() {
    return this.saved.verifier
  }
}

/** What a browser does with the authorization URL: show the consent page, approve, follow the redirect. */
async function approveInBrowser(url) {
  const page = await fetch(url, { redirect: 'manual' })
  assert.equal(page.status, 200, await page.clone().text())
  const html = await page.text()
  assert.match(html, /tag:web/)
  const field = (name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1]
  const cookie = page.headers.get('set-cookie').split(';')[0]
  const action = new URL(html.match(/action="([^"]*)"/)[1], url)
  const answer = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
    body: new URLSearchParams({
      request_id: field('request_id'),
      csrf_token: field('csrf_token'),
      decision: 'approve',
    }),
  })
  assert.equal(answer.status, 302, await answer.text())
  const location = new URL(answer.headers.get('location'))
  assert.equal(location.origin + location.pathname, CALLBACK)
  assert.equal(location.searchParams.get('state'), 'state-123')
  assert.ok(location.searchParams.get('iss'))
  return location.searchParams.get('code')
}

async function host() {
  const app = express()
  const server = await listen(app)
  const base = `http://127.0.0.1:${server.address().port}`
  const guard = Guard.fromJson({
    resource: `${base}/mcp`,
    servers: { 'web-search': { tags: ['web'] } },
    authorization_server: { issuer: `${base}/` },
  })
  const provider = new McpguardOAuthProvider(guard, { subject: () => 'alice' })
  app.get(guard.metadataPath(), metadataHandler(guard))
  app.use(mcpAuthRouter({ provider, issuerUrl: new URL(`${base}/`) }))
  app.post('/consent', provider.consentHandler())
  app.post('/mcp', express.json(), guardMiddleware(guard, { server: 'web-search' }), async (req, res) => {
    const mcp = new McpServer({ name: 'oauth-test', version: '1.0.0' })
    mcp.registerTool('whoami', { description: 'The caller' }, async (extra) => ({
      content: [{ type: 'text', text: `${extra.authInfo?.extra?.subject} via ${extra.authInfo?.clientId}` }],
    }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => transport.close())
    await mcp.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  return { server, base, guard, provider }
}

async function callWith(base, accessToken) {
  return fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${accessToken}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  })
}

test('the SDK client registers, consents, exchanges, calls, refreshes; revocation and reuse end access', async (t) => {
  const { server, base } = await host()
  t.after(() => server.close())
  const mcpUrl = new URL(`${base}/mcp`)
  const client = new MemoryClientProvider()

  // Discovery from the 401 and registration happen inside connect().
  const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: client })
  await assert.rejects(new Client({ name: 'c', version: '1' }).connect(first), UnauthorizedError)
  assert.ok(client.saved.client.client_id, 'registered')
  assert.equal(client.saved.client.client_secret, undefined, 'a public client')
  const authUrl = client.authorizationUrl
  assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256')

  const code = await approveInBrowser(authUrl)
  await first.finishAuth(code)
  const tokens = client.saved.tokens
  assert.equal(tokens.token_type.toLowerCase(), 'bearer')
  assert.equal(tokens.scope, 'tag:web')
  const jwt = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url'))
  assert.equal(jwt.aud, `${base}/mcp`)
  assert.equal(jwt.sub, 'alice')

  const mcp = new Client({ name: 'c', version: '1' })
  await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: client }))
  const who = await mcp.callTool({ name: 'whoami', arguments: {} })
  assert.equal(who.content[0].text, `alice via ${client.saved.client.client_id}`)

  // A refresh: auth() with a stored refresh token rotates it.
  const oldRefresh = tokens.refresh_token
  assert.equal(await auth(client, { serverUrl: mcpUrl }), 'AUTHORIZED')
  const refreshed = client.saved.tokens
  assert.notEqual(refreshed.refresh_token, oldRefresh)
  assert.notEqual(refreshed.access_token, tokens.access_token)
  const again = await mcp.callTool({ name: 'whoami', arguments: {} })
  assert.equal(again.content[0].text, `alice via ${client.saved.client.client_id}`)
  await mcp.close()

  // Revocation (RFC 7009) of the current access token: the next call is 401.
  const revoked = await fetch(`${base}/revoke`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: refreshed.access_token, client_id: client.saved.client.client_id }),
  })
  assert.equal(revoked.status, 200)
  assert.equal((await callWith(base, refreshed.access_token)).status, 401)

  // Reusing the rotated refresh token revokes the family: it fails, and so
  // does the newest refresh token.
  const metadata = await discoverAuthorizationServerMetadata(new URL(`${base}/`))
  await assert.rejects(
    refreshAuthorization(new URL(`${base}/`), { metadata, clientInformation: client.saved.client, refreshToken: oldRefresh }),
    /already used/,
  )
  await assert.rejects(
    refreshAuthorization(new URL(`${base}/`), {
      metadata,
      clientInformation: client.saved.client,
      refreshToken: refreshed.refresh_token,
    }),
    /revoked/,
  )
})

test('the consent form without the CSRF cookie is refused', async (t) => {
  const { server, base } = await host()
  t.after(() => server.close())
  const client = new MemoryClientProvider()
  assert.equal(await auth(client, { serverUrl: new URL(`${base}/mcp`) }), 'REDIRECT')
  const page = await fetch(client.authorizationUrl, { redirect: 'manual' })
  const html = await page.text()
  const field = (name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1]
  const answer = await fetch(`${base}/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: field('request_id'), csrf_token: field('csrf_token'), decision: 'approve' }),
  })
  assert.equal(answer.status, 403)
})

test('a wrong PKCE verifier is refused through the SDK token endpoint', async (t) => {
  const { server, base } = await host()
  t.after(() => server.close())
  const client = new MemoryClientProvider()
  assert.equal(await auth(client, { serverUrl: new URL(`${base}/mcp`) }), 'REDIRECT')
  const code = await approveInBrowser(client.authorizationUrl)
  const r = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: 'x'.repeat(43),
      redirect_uri: CALLBACK,
      client_id: client.saved.client.client_id,
    }),
  })
  assert.equal(r.status, 400)
  assert.equal((await r.json()).error, 'invalid_grant')
})

test('confidential and machine clients use the engine endpoints through handleHttp', async () => {
  const guard = Guard.fromJson({
    resource: 'https://mcp.example.com/mcp',
    servers: { postgres: { tags: ['db'] } },
    authorization_server: { issuer: 'https://mcp.example.com' },
  })
  const { server } = new McpguardOAuthProvider(guard)
  const send = (method, path, headers, body) => {
    const out = server.handleHttp(JSON.stringify({ method, path, query: '', headers }), Buffer.from(body), '10.0.0.1', null)
    return out === null ? null : JSON.parse(out)
  }
  assert.equal(send('GET', '/elsewhere', [], ''), null)
  const registered = send(
    'POST',
    '/register',
    [['Content-Type', 'application/json']],
    JSON.stringify({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'] }),
  )
  assert.equal(registered.status, 201)
  const client = JSON.parse(registered.body)
  const basic = (secret) => `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`
  const form = [['Content-Type', 'application/x-www-form-urlencoded']]
  const denied = send('POST', '/token', [...form, ['Authorization', basic('wrong')]], 'grant_type=client_credentials')
  assert.equal(denied.status, 401)
  const granted = send('POST', '/token', [...form, ['Authorization', basic(client.client_secret)]], 'grant_type=client_credentials&scope=tag:db')
  assert.equal(granted.status, 200, granted.body)
  const token = JSON.parse(granted.body).access_token
  assert.equal(guard.authorize({ authorization: `Bearer ${token}`, server: 'postgres' }).allowed, true)
  assert.throws(() => server.handleHttp('{"headers": [["only-a-name"]]}', Buffer.alloc(0), 'p', null), /pairs/)
})
