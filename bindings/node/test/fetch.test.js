'use strict'
// A Guard built from JSON configuration alone whose issuer's keys
// (`jwks_uri`) and opaque-token answers (`introspection`) come from a real
// local HTTPS server, under a test CA that only the configuration trusts
// (`auth.fetch.ca_pem`): the fetcher of the Rust core's `mcpguard-fetch`
// crate, reached from Node with nothing but configuration.
//
// The CA and the server certificate are generated at test time, as the
// fetch crate's own tests do (a CA, then a leaf for `localhost` and
// 127.0.0.1 signed by it), here with the `openssl` command. The server runs
// in a worker thread: `validate` of a new opaque token calls the endpoint
// synchronously, so a server on this thread's event loop could not answer.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const jwt = require('jsonwebtoken')

const { Guard, InvalidTokenError } = require('mcpguard')
const { Certificates } = require('./helpers/certificates.js')

const KEYS = path.join(__dirname, '..', '..', '..', 'conformance', 'keys')
const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://issuer.example'

/** A CA and a server certificate it signed (`helpers/certificates.js`). */
function certificates() {
  const made = new Certificates('mcpguard-fetch-')
  try {
    const ca = made.ca('fetch-test')
    const { cert, key } = made.leaf('leaf', 'fetch-test', 'serverAuth')
    return { ca, cert, key }
  } finally {
    made.remove()
  }
}

/**
 * The identity provider, on a worker thread: GET /jwks serves the set the
 * test last sent; POST /introspect answers RFC 7662 for client `rs`
 * (client_secret_basic): `good-*` tokens are active. `hits` counts the
 * requests per route ([jwks, introspect]).
 */
const PROVIDER = `
const https = require('node:https')
const { parentPort, workerData } = require('node:worker_threads')
const { cert, key, jwks, credentials, hits } = workerData
const counts = new Int32Array(hits)
let set = jwks
parentPort.on('message', (m) => { set = m; parentPort.postMessage('set') })
const server = https.createServer({ cert, key }, (req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.method === 'GET' && req.url === '/jwks') {
      Atomics.add(counts, 0, 1)
      return send(200, set)
    }
    if (req.method === 'POST' && req.url === '/introspect') {
      Atomics.add(counts, 1, 1)
      if (req.headers.authorization !== 'Basic ' + credentials) return send(401, {})
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('token') ?? ''
      if (!token.startsWith('good-')) return send(200, { active: false })
      const now = Math.floor(Date.now() / 1000)
      return send(200, { active: true, sub: 'bob', client_id: 'app', iss: '${ISSUER}',
        aud: '${RESOURCE}', scope: 'read', exp: now + 300 })
    }
    send(404, {})
  })
})
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))
`

function jwk(name, kid) {
  const key = JSON.parse(fs.readFileSync(path.join(KEYS, `${name}.jwk.json`), 'utf8'))
  return { ...key, kid, alg: 'RS256' }
}

function sign(name, kid) {
  const now = Math.floor(Date.now() / 1000)
  const key = fs.readFileSync(path.join(KEYS, `${name}.pem`))
  return jwt.sign({ iss: ISSUER, aud: RESOURCE, sub: 'alice', exp: now + 600 }, key, { algorithm: 'RS256', keyid: kid })
}

/** Resolves once `check()` is true; fails after 10 s. */
async function eventually(check, what) {
  const end = Date.now() + 10_000
  while (!check()) {
    assert.ok(Date.now() < end, `${what} never happened`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function refused(guard, token) {
  try {
    guard.validate(token)
  } catch (e) {
    assert.ok(e instanceof InvalidTokenError, String(e))
    return e.reason
  }
  return null
}

test('a Guard from configuration alone takes keys and token answers from a remote issuer over HTTPS', async (t) => {
  const { ca, cert, key } = certificates()
  const hits = new SharedArrayBuffer(8)
  const counts = new Int32Array(hits)
  const provider = new Worker(PROVIDER, {
    eval: true,
    workerData: { cert, key, hits, jwks: { keys: [jwk('rsa', 'k1')] }, credentials: Buffer.from('rs:s3cret').toString('base64') },
  })
  t.after(() => provider.terminate())
  const port = await new Promise((resolve, reject) => {
    provider.once('message', resolve)
    provider.once('error', reject)
  })
  const origin = `https://localhost:${port}`

  const guard = Guard.fromJson({
    resource: RESOURCE,
    auth: {
      issuers: [{
        issuer: ISSUER,
        jwks_uri: `${origin}/jwks`,
        introspection: { endpoint: `${origin}/introspect`, client_id: 'rs', client_secret: 's3cret' },
      }],
      fetch: { ca_pem: ca, timeout_ms: 3000 },
    },
  })

  // The keys are fetched at start, on the fetcher's thread. (A token
  // validated before they land is unknown_key and spends the issuer's
  // refresh-hint cooldown, which the rotation below relies on.)
  await eventually(() => guard.counters().jwksFetches === 1, 'the first JWKS fetch')
  assert.equal(guard.validate(sign('rsa', 'k1')).subject, 'alice')
  assert.equal(Atomics.load(counts, 0), 1)

  // The provider rotates to a new key: a token under the new kid is
  // refused once (a refresh hint) and then verifies; the old key is gone.
  await new Promise((resolve) => {
    provider.once('message', resolve)
    provider.postMessage({ keys: [jwk('rsa2', 'k2')] })
  })
  const rotated = sign('rsa2', 'k2')
  assert.equal(refused(guard, rotated), 'unknown_key')
  await eventually(() => refused(guard, rotated) === null, 'the rotation')
  assert.equal(guard.validate(rotated).subject, 'alice')
  assert.equal(refused(guard, sign('rsa', 'k1')), 'unknown_key')
  assert.equal(Atomics.load(counts, 0), 2, 'one fetch for the rotation')

  // An opaque token: one endpoint call, then the kept answer.
  const p = guard.validate('good-1')
  assert.deepEqual([p.subject, p.clientId, p.scopes], ['bob', 'app', ['read']])
  assert.equal(guard.validate('good-1').subject, 'bob')
  assert.equal(Atomics.load(counts, 1), 1, 'the answer was not kept')
  // Revoked here: refused without asking again. Inactive there: refused.
  guard.revoke('good-1')
  assert.equal(refused(guard, 'good-1'), 'revoked')
  assert.equal(refused(guard, 'no-such-token'), 'inactive')
  assert.equal(Atomics.load(counts, 1), 2)

  // All of it is in the Guard's own audit and counters.
  const remote = guard.drainAudit()
    .filter((e) => ['jwks_fetched', 'keys_rotated', 'introspection_called'].includes(e.kind))
    .map((e) => [e.kind, e.issuer])
  assert.deepEqual(remote, [
    ['jwks_fetched', ISSUER],
    ['keys_rotated', ISSUER],
    ['jwks_fetched', ISSUER],
    ['introspection_called', ISSUER],
    ['introspection_called', ISSUER],
  ])
  const c = guard.counters()
  assert.deepEqual([c.jwksFetches, c.jwksUpdates, c.introspectionCalls, c.introspectionFailures], [2, 2, 2, 0])
  assert.match(guard.metricsText(), /^mcpguard_introspection_calls_total 2$/m)
})
