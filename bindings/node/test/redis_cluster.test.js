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
const os = require('node:os')
const path = require('node:path')

const { Guard, InvalidTokenError } = require('..')
const { config, sign } = require('./helpers/scenario.js')
const { freeNodePort, waitListening, redisBinary } = require('./helpers/redis.js')

const LIMIT = 8
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-redis-cluster-'))
const nodes = []

after(() => {
  for (const n of nodes) n.kill()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Three primaries joined into one cluster, every slot served; their URLs. */
async function cluster() {
  const [server, cli] = [redisBinary('redis-server'), redisBinary('redis-cli')]
  const ports = []
  for (let i = 0; i < 3; i++) ports.push(await freeNodePort())
  for (const port of ports) {
    nodes.push(spawn(server, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir,
    ], { stdio: 'ignore' }))
  }
  for (const port of ports) await waitListening(port)
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
