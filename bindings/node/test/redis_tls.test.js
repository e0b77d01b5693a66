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
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Guard } = require('..')
const { config, sign } = require('./helpers/scenario.js')
const { freePort, waitListening, redisBinary } = require('./helpers/redis.js')

const LIMIT = 6
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-redis-tls-'))
const servers = []

after(() => {
  for (const s of servers) s.kill()
  fs.rmSync(dir, { recursive: true, force: true })
})

const file = (name) => path.join(dir, name)
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' })
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

/** A CA named `name` (files `<name>-ca.pem`, `<name>-ca.key`). */
function ca(name) {
  openssl('req', '-x509', ...EC, '-keyout', file(`${name}-ca.key`), '-out', file(`${name}-ca.pem`), '-days', '1',
    '-subj', `/CN=mcpguard node ${name} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  return file(`${name}-ca.pem`)
}

/** A certificate `leaf` signed by CA `by`, for `usage` (serverAuth or clientAuth). */
function leaf(leafName, by, usage) {
  openssl('req', '-new', ...EC, '-keyout', file(`${leafName}.key`), '-out', file(`${leafName}.csr`), '-subj', '/CN=localhost')
  fs.writeFileSync(file(`${leafName}.ext`), [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${usage}`,
  ].join('\n'))
  openssl('x509', '-req', '-in', file(`${leafName}.csr`), '-CA', file(`${by}-ca.pem`), '-CAkey', file(`${by}-ca.key`),
    '-CAcreateserial', '-out', file(`${leafName}.pem`), '-days', '1', '-extfile', file(`${leafName}.ext`))
  return { cert: fs.readFileSync(file(`${leafName}.pem`), 'utf8'), key: fs.readFileSync(file(`${leafName}.key`), 'utf8') }
}

ca('test')
ca('stranger')
leaf('server', 'test', 'serverAuth')
const CLIENT = leaf('client', 'test', 'clientAuth')
const FOREIGN = leaf('foreign', 'stranger', 'clientAuth')
const CA_PEM = fs.readFileSync(file('test-ca.pem'), 'utf8')

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
  const strangerCa = fs.readFileSync(file('stranger-ca.pem'), 'utf8')
  for (const roots of [null, strangerCa]) assertUnavailable(guard(url, roots), 'untrusted-node')
})

test('a server that asks for client certificates takes the configured one only', async () => {
  const url = await tlsServer(true)
  assertOneBudget(statuses(guard(url, CA_PEM, CLIENT), guard(url, CA_PEM, CLIENT), 'mtls-node'))
  for (const presented of [null, FOREIGN]) assertUnavailable(guard(url, CA_PEM, presented), 'no-certificate-node')
})
