'use strict'
// `rediss://` from Node, configured by JSON alone: the addon carries the
// Redis store's TLS client, and the private CA (`store.redis.ca_pem`) and
// client certificate (`client_cert_pem`, `client_key_pem`) reach it
// through the configuration. Against a real redis-server serving TLS on
// loopback, its certificate signed by a CA made here with `openssl`: with
// that CA two Guards share one budget; with no CA (the public roots) the
// server is not trusted and the store is unavailable (503 under
// `fail_closed`), never used unverified. A server that asks for client
// certificates takes the configured one, and refuses a Guard without it.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')

const { Guard } = require('..')
const { config, sign } = require('./helpers/scenario.js')
const { freePort, waitListening, redisBinary } = require('./helpers/redis.js')
const { Certificates } = require('./helpers/certificates.js')

const LIMIT = 6
const certificates = new Certificates('mcpguard-redis-tls-')
const servers = []

after(() => {
  for (const s of servers) s.kill()
  certificates.remove()
})

const CA_PEM = certificates.ca('test')
const STRANGER_CA_PEM = certificates.ca('stranger')
certificates.leaf('server', 'test', 'serverAuth')
const CLIENT = certificates.leaf('client', 'test', 'clientAuth')
const FOREIGN = certificates.leaf('foreign', 'stranger', 'clientAuth')
const file = (name) => certificates.file(name)

/** A redis-server serving TLS only; `askClients`: it asks every client for a certificate. Resolves to its URL. */
async function tlsServer(askClients) {
  const port = await freePort()
  const proc = spawn(redisBinary(), [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--tls-cert-file', file('server.pem'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('test-ca.pem'),
    '--tls-auth-clients', askClients ? 'yes' : 'no',
  ], { stdio: 'ignore' })
  servers.push(proc)
  await waitListening(port)
  return `rediss://127.0.0.1:${port}/0`
}

/** A Guard on `url` trusting `caPem` (none: the public roots), presenting `client` when given. */
function guard(url, caPem, client) {
  const redis = { url, prefix: 'node-tls:', timeout_ms: 500, on_error: 'fail_closed' }
  if (caPem) redis.ca_pem = caPem
  if (client) Object.assign(redis, { client_cert_pem: client.cert, client_key_pem: client.key })
  return Guard.fromJson({ ...config(), rate_limit: { limit: LIMIT, window_seconds: 3600 }, store: { redis } })
}

/** Statuses of requests alternating between `a` and `b` with one client's token. */
function statuses(a, b, clientId) {
  const authorization = `Bearer ${sign({ client_id: clientId })}`
  return Array.from({ length: 2 * LIMIT }, (_, i) => (i % 2 === 0 ? a : b).authorize({ authorization, server: 'files' }).status)
}

function assertOneBudget(seen) {
  assert.deepEqual(seen, [...Array(LIMIT).fill(200), ...Array(LIMIT).fill(429)], `statuses ${seen}`)
}

function assertUnavailable(g, clientId) {
  const d = g.authorize({ authorization: `Bearer ${sign({ client_id: clientId })}`, server: 'files' })
  assert.equal(d.status, 503)
  assert.equal(d.reason, 'store_unavailable')
}

test('over rediss with the private CA, two Guards share one budget', async () => {
  const url = await tlsServer(false)
  assertOneBudget(statuses(guard(url, CA_PEM), guard(url, CA_PEM), 'tls-node'))
})

test('a rediss server the configured roots do not sign is never used', async () => {
  const url = await tlsServer(false)
  for (const roots of [null, STRANGER_CA_PEM]) assertUnavailable(guard(url, roots), 'untrusted-node')
})

test('a server that asks for client certificates takes the configured one only', async () => {
  const url = await tlsServer(true)
  assertOneBudget(statuses(guard(url, CA_PEM, CLIENT), guard(url, CA_PEM, CLIENT), 'mtls-node'))
  for (const presented of [null, FOREIGN]) assertUnavailable(guard(url, CA_PEM, presented), 'no-certificate-node')
})
