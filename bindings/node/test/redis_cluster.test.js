'use strict'
// A Redis Cluster from Node, configured by JSON alone (`url` and `urls`):
// two Guards on three real primaries (`redis-server --cluster-enabled yes`
// joined by `redis-cli --cluster create`) share one budget and a
// revocation. A client's keys live on the node that holds its hash slot;
// the Guards find it themselves.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { Guard, InvalidTokenError } = require('..')
const { config, sign } = require('./helpers/scenario.js')

const LIMIT = 8
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-redis-cluster-'))
const nodes = []

after(() => {
  for (const n of nodes) n.kill()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Whether nothing listens on `port` (it can be bound now). */
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * A free port for a cluster node: its bus listens 10,000 higher, so the
 * port is at most 55535 (redis-server refuses any higher) and that one is
 * free too.
 */
async function freeNodePort() {
  for (;;) {
    const port = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = s.address()
        s.close(() => resolve(p))
      })
    })
    if (port <= 55535 && (await bindable(port + 10000))) return port
  }
}

/** Three primaries joined into one cluster, every slot served; their URLs. */
async function cluster() {
  const which = (name) => {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
    } catch {
      throw new Error("redis-server is missing: `make test` installs Debian's redis-server package")
    }
  }
  const [server, cli] = [which('redis-server'), which('redis-cli')]
  const ports = []
  for (let i = 0; i < 3; i++) ports.push(await freeNodePort())
  for (const port of ports) {
    nodes.push(spawn(server, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir,
    ], { stdio: 'ignore' }))
  }
  const deadline = Date.now() + 10000
  for (const port of ports) {
    for (;;) {
      const ok = await new Promise((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true) })
        c.on('error', () => resolve(false))
      })
      if (ok) break
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  execFileSync(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { stdio: 'pipe' })
  const ready = Date.now() + 30000
  while (!ports.every((p) => execFileSync(cli, ['-p', String(p), 'CLUSTER', 'INFO'], { encoding: 'utf8' }).includes('cluster_state:ok'))) {
    if (Date.now() > ready) throw new Error('the cluster never became ok')
    await new Promise((r) => setTimeout(r, 50))
  }
  return ports.map((p) => `redis://127.0.0.1:${p}`)
}

function guard(urls) {
  const redis = { url: urls[0], urls: urls.slice(1), prefix: 'node-cluster:', timeout_ms: 500 }
  return Guard.fromJson({ ...config(), rate_limit: { limit: LIMIT, window_seconds: 3600 }, store: { redis } })
}

test('two Guards on a cluster share one budget and a revocation', async () => {
  const urls = await cluster()
  const [a, b] = [guard(urls), guard(urls)]
  const authorization = `Bearer ${sign({ client_id: 'cluster-node' })}`
  const statuses = Array.from({ length: 2 * LIMIT }, (_, i) => (i % 2 === 0 ? a : b).authorize({ authorization, server: 'files' }).status)
  assert.deepEqual(statuses, [...Array(LIMIT).fill(200), ...Array(LIMIT).fill(429)], `statuses ${statuses}`)

  const token = sign({ client_id: 'cluster-revoked-node', jti: 'node-cluster-1' })
  b.validate(token)
  a.revoke(token)
  const revoked = Date.now()
  for (;;) {
    try {
      b.validate(token)
    } catch (e) {
      assert.ok(e instanceof InvalidTokenError)
      assert.equal(e.reason, 'revoked')
      break
    }
    assert.ok(Date.now() - revoked < 1500, 'b still admits the revoked token')
    await new Promise((r) => setTimeout(r, 10))
  }
})
