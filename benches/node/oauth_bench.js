'use strict'
// The full code-exchange round trip through the TypeScript MCP SDK's
// `mcpAuthRouter` on Express (issue 16, "Speed"): mcpguard's provider
// (`mcpguard/oauth`'s McpguardOAuthProvider over the core's engine) against
// the SDK's own in-memory demo provider (`DemoInMemoryAuthProvider`, shipped
// in the SDK's dist/*/examples/server/demoInMemoryOAuthProvider.js), in one
// process and one run. Run by `make -C bindings/node bench` on the release
// build of the addon.
//
// Both providers sit behind the same router options (the SDK's per-endpoint
// express-rate-limit limiters off for both; mcpguard's own limits raised,
// since every round trip registers a client from the same address), each on
// its own Express app listening on 127.0.0.1, driven over real loopback HTTP
// by one keep-alive connection per app. The repeats are interleaved (and
// their order alternates) so that a busy machine slows both alike; each
// figure is the median of every round trip timed, and of every step of it
// (the bench fails if an app saw more than one connection: keep-alive held).
//
// The steps are not the same number of requests. mcpguard's round trip is
// register -> authorize (the consent page, with its CSRF cookie) -> consent
// (the form posted; 302 with the code) -> token: four requests. The demo
// provider auto-approves: its authorize answers 302 with the code at once,
// so it has no consent request: register -> authorize -> token, three
// requests. It also does far less per step: an opaque random UUID for a
// token (no signed JWT), no refresh token, no hashing, no CSRF, no scope
// rules, no single-use bookkeeping beyond a Map; PKCE is checked by the
// SDK's token handler for it (by the engine for mcpguard).

const http = require('node:http')
const path = require('node:path')
const assert = require('node:assert/strict')
const { createHash } = require('node:crypto')

const BINDING = path.join(__dirname, '..', '..', 'bindings', 'node')
const need = (name) => require(require.resolve(name, { paths: [BINDING] }))
const express = need('express')
const { mcpAuthRouter } = need('@modelcontextprotocol/sdk/server/auth/router.js')
const { Guard } = need('mcpguard')
const { McpguardOAuthProvider } = need('mcpguard/oauth')

const DEMO_MODULE = '@modelcontextprotocol/sdk/examples/server/demoInMemoryOAuthProvider.js'

function demoProviderClass() {
  try {
    return need(DEMO_MODULE).DemoInMemoryAuthProvider
  } catch (e) {
    throw new Error(`the installed @modelcontextprotocol/sdk does not ship ${DEMO_MODULE}: ${e.message}`)
  }
}

const REDIRECT = 'http://localhost:3030/callback'
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url')
const SCOPES = 'tag:web tag:db'

/** Every SDK endpoint without its express-rate-limit limiter (same for both apps). */
const NO_SDK_LIMITS = {
  authorizationOptions: { rateLimit: false },
  tokenOptions: { rateLimit: false },
  clientRegistrationOptions: { rateLimit: false },
  revocationOptions: { rateLimit: false },
}

/** Listen on a free loopback port; `server.connections` counts the TCP connections accepted. */
function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server))
    server.connections = 0
    server.on('connection', () => server.connections++)
  })
}

/** An Express app serving mcpAuthRouter over mcpguard's provider, with its consent route. */
async function mcpguardApp() {
  const app = express()
  const server = await listen(app)
  const base = `http://127.0.0.1:${server.address().port}`
  const guard = Guard.fromJson({
    resource: `${base}/mcp`,
    servers: { 'web-search': { tags: ['web'] }, postgres: { tags: ['db'] } },
    authorization_server: {
      issuer: `${base}/`,
      // The round trips register many clients from one address.
      rate_limit: {
        register: { limit: 1000000, window_seconds: 3600 },
        token: { limit: 1000000, window_seconds: 60 },
      },
    },
  })
  const provider = new McpguardOAuthProvider(guard, { subject: () => 'alice' })
  app.use(mcpAuthRouter({ provider, issuerUrl: new URL(`${base}/`), ...NO_SDK_LIMITS }))
  app.post('/consent', provider.consentHandler())
  return { name: 'mcpguard', server, base, resource: `${base}/mcp` }
}

/** The same router over the SDK's demo provider (resource checked, as its strictResource mode does). */
async function demoApp() {
  const DemoInMemoryAuthProvider = demoProviderClass()
  const app = express()
  const server = await listen(app)
  const base = `http://127.0.0.1:${server.address().port}`
  const resource = `${base}/mcp`
  const provider = new DemoInMemoryAuthProvider((r) => r !== undefined && r.href === resource)
  app.use(mcpAuthRouter({ provider, issuerUrl: new URL(`${base}/`), ...NO_SDK_LIMITS }))
  return { name: 'SDK demo', server, base, resource }
}

/** One request on the keep-alive agent: status, headers and the body as text. */
function send(agent, base, method, pathAndQuery, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, base)
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const FORM = 'application/x-www-form-urlencoded'

/** The code from a 302 to the client's redirect URI. */
function codeOf(answer) {
  assert.equal(answer.status, 302, answer.body)
  const location = new URL(answer.headers.location)
  assert.equal(location.origin + location.pathname, REDIRECT)
  assert.equal(location.searchParams.get('state'), 'st')
  return location.searchParams.get('code')
}

const STEPS = ['register', 'authorize', 'consent', 'token']

/**
 * Register, authorize, answer the consent page when there is one, exchange
 * the code. Returns the microseconds each step took (`consent` is 0 for the
 * demo, which has none).
 */
async function roundTrip(agent, target) {
  const steps = { register: 0, authorize: 0, consent: 0, token: 0 }
  let t = process.hrtime.bigint()
  const lap = (step) => {
    const now = process.hrtime.bigint()
    steps[step] = Number(now - t) / 1000
    t = now
  }
  const registration = JSON.stringify({
    client_name: 'bench',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: SCOPES,
  })
  let r = await send(agent, target.base, 'POST', '/register', { 'Content-Type': 'application/json' }, registration)
  assert.equal(r.status, 201, r.body)
  const clientId = JSON.parse(r.body).client_id
  lap('register')
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    state: 'st',
    scope: SCOPES,
    resource: target.resource,
  })
  r = await send(agent, target.base, 'GET', `/authorize?${query}`)
  let code
  if (r.status === 200) {
    lap('authorize')
    // mcpguard's consent page: post the form back with its CSRF cookie.
    const field = (name) => r.body.match(new RegExp(`name="${name}" value="([^"]*)"`))[1]
    const action = r.body.match(/action="([^"]*)"/)[1]
    const cookie = r.headers['set-cookie'][0].split(';')[0]
    const form = new URLSearchParams({
      request_id: field('request_id'),
      csrf_token: field('csrf_token'),
      decision: 'approve',
    })
    const headers = { 'Content-Type': FORM, Cookie: cookie }
    code = codeOf(await send(agent, target.base, 'POST', action, headers, form.toString()))
    lap('consent')
  } else {
    code = codeOf(r)
    lap('authorize')
  }
  const exchange = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: VERIFIER,
    client_id: clientId,
    resource: target.resource,
  })
  r = await send(agent, target.base, 'POST', '/token', { 'Content-Type': FORM }, exchange.toString())
  assert.equal(r.status, 200, r.body)
  const tokens = JSON.parse(r.body)
  assert.ok(tokens.access_token)
  assert.equal(tokens.scope, SCOPES)
  lap('token')
  return steps
}

function median(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

async function main() {
  const targets = [await mcpguardApp(), await demoApp()]
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }))
  const rounds = Number(process.env.OAUTH_BENCH_ROUNDS ?? 100)
  const repeats = Number(process.env.OAUTH_BENCH_REPEATS ?? 9)
  const samples = targets.map(() => [])
  const perStep = targets.map(() => Object.fromEntries(STEPS.map((step) => [step, []])))
  try {
    // Warm up: the JIT, the connections, the stores.
    for (let i = 0; i < targets.length; i++) for (let w = 0; w < 50; w++) await roundTrip(agents[i], targets[i])
    for (let rep = 0; rep < repeats; rep++) {
      const order = rep % 2 === 0 ? [0, 1] : [1, 0]
      for (const i of order) {
        for (let n = 0; n < rounds; n++) {
          const t0 = process.hrtime.bigint()
          const steps = await roundTrip(agents[i], targets[i])
          samples[i].push(Number(process.hrtime.bigint() - t0) / 1000)
          for (const step of STEPS) perStep[i][step].push(steps[step])
        }
      }
    }
  } finally {
    for (const agent of agents) agent.destroy()
    for (const t of targets) t.server.close()
  }
  // Keep-alive held: every round trip of an app went over its one connection.
  for (const t of targets) assert.equal(t.server.connections, 1, `${t.name}: connections opened`)
  const line = (label, a, b, c) => console.log(`${label.padEnd(58)}${a.padStart(12)}${b.padStart(12)}${c.padStart(8)}`)
  const row = (label, mine, theirs) => {
    const us = (v) => (v > 0 ? v.toFixed(1) : 'none')
    line(label, us(mine), us(theirs), mine > 0 && theirs > 0 ? (theirs / mine).toFixed(2) : '-')
  }
  line('code-exchange round trip (mcpAuthRouter, loopback HTTP)', 'mcpguard', 'SDK demo', 'ratio')
  const [mine, theirs] = samples.map(median)
  row(`median us per round trip (n=${samples[0].length} each; 4 vs 3 requests)`, mine, theirs)
  for (const step of STEPS) row(`  median us, ${step} step`, ...perStep.map((p) => median(p[step])))
  console.log('ratio = SDK demo / mcpguard (above 1: mcpguard is faster)')
  console.log('the demo auto-approves (no consent request), signs no JWT, issues no refresh token')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
