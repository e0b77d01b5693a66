'use strict'
// Two Guards in separate processes, configured by JSON alone, share one
// Redis: one rate-limit budget, and a revocation made through one is
// honoured by the other within the stated second. Runs a real redis-server
// on a free port (`make test` installs Debian's package when missing).

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const net = require('node:net')
const path = require('node:path')
const readline = require('node:readline')

const { Guard } = require('..')
const { config, sign } = require('./helpers/scenario.js')
const { freePort, waitListening, redisBinary } = require('./helpers/redis.js')

const CHILD = `
const { Guard, InvalidTokenError } = require(${JSON.stringify(path.join(__dirname, '..'))})
const [config, token, mode] = [JSON.parse(process.argv[1]), process.argv[2], process.argv[3]]
const guard = Guard.fromJson(config)
if (mode === 'spend') {
  let allowed = 0
  for (let i = 0; i < 25; i++) if (guard.authorize({ authorization: 'Bearer ' + token, server: 'files' }).allowed) allowed++
  console.log(allowed)
} else {
  guard.validate(token)
  console.log('ready')
  process.stdin.once('data', async () => {
    const start = Date.now()
    while (Date.now() - start < 3000) {
      try { guard.validate(token) } catch (e) {
        console.log(JSON.stringify({ reason: e.reason, after: (Date.now() - start) / 1000 }))
        process.exit(0)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    console.log(JSON.stringify({ reason: null }))
    process.exit(0)
  })
}
`

let redis
let url
let redisPort

before(async () => {
  const port = await freePort()
  redis = spawn(redisBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'], {
    stdio: 'ignore',
  })
  await waitListening(port)
  url = `redis://127.0.0.1:${port}/0`
  redisPort = port
})

after(() => redis && redis.kill())

function redisConfig() {
  return { ...config(), rate_limit: { limit: 30, window_seconds: 60 }, store: { redis: { url, timeout_ms: 500 } } }
}

function child(token, mode) {
  return spawn(process.execPath, ['-e', CHILD, JSON.stringify(redisConfig()), token, mode], { stdio: ['pipe', 'pipe', 'inherit'] })
}

function lines(proc) {
  const rl = readline.createInterface({ input: proc.stdout })
  const queue = []
  const waiting = []
  rl.on('line', (l) => (waiting.length ? waiting.shift()(l) : queue.push(l)))
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)))
}

test('two processes configured by JSON share one budget', async () => {
  const token = sign({ client_id: 'shared-node' })
  const procs = [child(token, 'spend'), child(token, 'spend')]
  const counts = await Promise.all(procs.map((p) => lines(p)()))
  assert.equal(counts.map(Number).reduce((a, b) => a + b, 0), 30, `admitted ${counts}`)
})

test('a revocation reaches the other process within a second', async () => {
  const token = sign({ client_id: 'revoked-node', jti: 'rn-1' })
  const other = child(token, 'watch')
  const next = lines(other)
  assert.equal(await next(), 'ready')
  Guard.fromJson(redisConfig()).revoke(token)
  other.stdin.write('go\n')
  const result = JSON.parse(await next())
  assert.equal(result.reason, 'revoked')
  assert.ok(result.after <= 1.2, `after ${result.after} s`)
})

test('metricsText reports the store in the Prometheus format', () => {
  const guard = Guard.fromJson(redisConfig())
  const decision = guard.authorize({ authorization: 'Bearer ' + sign({ client_id: 'metrics-node' }), server: 'files' })
  assert.ok(decision.allowed, JSON.stringify(decision))
  const text = guard.metricsText()
  assert.match(text, /^mcpguard_requests_allowed_total 1$/m)
  assert.match(text, /^mcpguard_store_round_trips_total [1-9]/m)
})

test('two authorization servers on one Redis share their clients (storage redis)', async () => {
  const { McpguardOAuthProvider } = require('../oauth.js')
  const withServer = () => ({
    ...redisConfig(),
    authorization_server: { issuer: 'https://auth.example.com', storage: { redis: {} } },
  })
  const a = new McpguardOAuthProvider(Guard.fromJson(withServer()))
  const b = new McpguardOAuthProvider(Guard.fromJson(withServer()))
  const registered = await a.clientsStore.registerClient({ redirect_uris: ['http://127.0.0.1:9/cb'] })
  assert.ok(registered.client_id)
  const seen = await b.clientsStore.getClient(registered.client_id)
  assert.equal(seen?.client_id, registered.client_id)
  const noStore = { ...withServer(), store: undefined }
  assert.throws(() => new McpguardOAuthProvider(Guard.fromJson(noStore)), /store\.redis/)
})

/** Sends one command to the test's redis-server on a connection of its own (resolves on its reply). */
function redisCommand(...args) {
  return new Promise((resolve, reject) => {
    const c = net.connect(redisPort, '127.0.0.1', () => c.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`))
    c.once('data', (d) => {
      c.end()
      resolve(d.toString())
    })
    c.on('error', reject)
  })
}

// Linux interrupts a socket read that has a timeout when a signal handler
// runs, even one installed with SA_RESTART as libuv's are. Before the store
// held signals off the waiting thread, a child process exiting during a
// synchronous call (SIGCHLD) failed the round trip and opened the breaker:
// the next second of requests was refused under fail_closed.
test('signals to the process while a synchronous decision waits on Redis do not fail it', async () => {
  const guard = Guard.fromJson(redisConfig())
  const request = { authorization: 'Bearer ' + sign({ client_id: 'signals-node' }), server: 'files' }
  assert.ok(guard.authorize(request).allowed)
  let handled = 0
  const onSignal = () => handled++
  // SIGUSR2: Node keeps SIGUSR1 for its inspector.
  process.on('SIGUSR2', onSignal)
  const pelter = spawn(process.execPath, ['-e', `setInterval(() => { try { process.kill(${process.pid}, 'SIGUSR2') } catch { process.exit(0) } }, 5)`], { stdio: 'ignore' })
  try {
    while (handled === 0) await new Promise((r) => setTimeout(r, 10))
    const sleeping = redisCommand('DEBUG', 'SLEEP', '0.3')
    await new Promise((r) => setTimeout(r, 20))
    const start = Date.now()
    const decision = guard.authorize(request)
    const took = Date.now() - start
    await sleeping
    assert.ok(decision.allowed, JSON.stringify(decision))
    assert.ok(took >= 150, `Redis was slowed: ${took} ms`)
    const before = handled
    await new Promise((r) => setTimeout(r, 50))
    assert.ok(handled > before, 'the signals still reach their handler')
  } finally {
    pelter.kill()
    process.off('SIGUSR2', onSignal)
  }
  const metric = (name) => Number(guard.metricsText().match(new RegExp(`^${name} (\\S+)$`, 'm'))[1])
  assert.equal(metric('mcpguard_store_errors_total'), 0)
  assert.equal(metric('mcpguard_store_breaker_opened_total'), 0)
})

test('a connection Redis closed while idle is replaced without a failure, on the pooled and the pipelined path', async () => {
  const { HttpOptions } = require('..')
  const guard = Guard.fromJson({ ...redisConfig(), store: { redis: { url, timeout_ms: 500, on_error: 'fail_closed' } } })
  const request = { authorization: 'Bearer ' + sign({ client_id: 'idle-node' }), server: 'files' }
  const options = new HttpOptions({ server: 'files', readBody: false })
  const http = { method: 'GET', path: '/mcp', headers: ['Authorization', request.authorization] }
  assert.ok(guard.authorize(request).allowed)
  assert.equal((await guard.authorizeHttpAsync(http, options)).action, 'forward')
  // Redis's idle timeout, a NAT or a restart closes both connections.
  assert.match(await redisCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'), /^:[1-9]/)
  const decision = guard.authorize(request)
  assert.ok(decision.allowed, JSON.stringify(decision))
  const awaited = await guard.authorizeHttpAsync(http, options)
  assert.equal(awaited.action, 'forward', JSON.stringify(awaited.decision))
  const metric = (name) => Number(guard.metricsText().match(new RegExp(`^${name} (\\S+)$`, 'm'))[1])
  assert.equal(metric('mcpguard_store_errors_total'), 0)
  assert.equal(metric('mcpguard_store_reconnects_total'), 2)
})

test('authorizeHttpAsync: 40 requests in flight against a shared limit of 30 admit exactly 30, as the synchronous call counts', async () => {
  const { HttpOptions } = require('..')
  const guard = Guard.fromJson(redisConfig())
  const options = new HttpOptions({ server: 'files', readBody: false })
  const request = { method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'async-node' })}`] }
  const all = await Promise.all(Array.from({ length: 40 }, () => guard.authorizeHttpAsync(request, options)))
  const statuses = all.map((d) => (d.action === 'forward' ? 200 : d.status))
  assert.equal(statuses.filter((s) => s === 200).length, 30, `statuses ${statuses}`)
  assert.ok(statuses.every((s) => s === 200 || s === 429), `statuses ${statuses}`)
  const sync = guard.authorizeHttp(request, options)
  const pooled = await guard.authorizeHttpAsync(request, options)
  for (const d of [sync, pooled]) {
    assert.equal(d.status, 429)
    assert.equal(d.decision.reason, 'rate_limited')
  }
  assert.deepEqual(pooled.headers.map(([name]) => name), sync.headers.map(([name]) => name))
  await assert.rejects(guard.authorizeHttpAsync({ ...request, headers: ['Authorization'] }, options), (e) => e.name === 'InvalidRequestError')
  // The 41 awaited checks went down the store's pipelined connection, in
  // fewer round trips than checks; the synchronous one took a pooled one.
  const metric = (name) => Number(guard.metricsText().match(new RegExp(`^${name} (\\S+)$`, 'm'))[1])
  assert.equal(metric('mcpguard_store_pipelined_total'), 41)
})

test('authorizeHttpAsync leaves the event loop serving while Redis is slow', async () => {
  const { HttpOptions } = require('..')
  const guard = Guard.fromJson(redisConfig())
  const options = new HttpOptions({ server: 'files', readBody: false })
  const request = { method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'slow-node' })}`] }
  assert.equal((await guard.authorizeHttpAsync(request, options)).action, 'forward')
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  try {
    // Redis answers nobody for 300 ms (under the store's 500 ms timeout).
    const sleeping = redisCommand('DEBUG', 'SLEEP', '0.3')
    await new Promise((r) => setTimeout(r, 20))
    const before = ticks
    const d = await guard.authorizeHttpAsync(request, options)
    assert.equal(d.action, 'forward')
    // The synchronous call would have held the loop for the whole wait.
    assert.ok(ticks - before >= 10, `the event loop ran ${ticks - before} timer ticks while the decision waited`)
    await sleeping
  } finally {
    clearInterval(timer)
  }
})

test('a Guard on Redis waits on the network, so guardMiddleware decides off the event loop by default', async () => {
  const express = require('express')
  const { guardMiddleware } = require('../express.js')
  assert.equal(Guard.fromJson(config()).waitsOnNetwork(), false)
  const guard = Guard.fromJson(redisConfig())
  assert.equal(guard.waitsOnNetwork(), true)
  let pooled = 0
  const authorizeHttpAsync = guard.authorizeHttpAsync.bind(guard)
  guard.authorizeHttpAsync = (...args) => {
    pooled++
    return authorizeHttpAsync(...args)
  }
  const app = express()
  app.use(guardMiddleware(guard, { server: 'files' }))
  app.post('/mcp', (req, res) => res.json({ client: req.auth.clientId }))
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sign({ client_id: 'offload-node' })}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_file', arguments: {} } }),
    })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { client: 'offload-node' })
    assert.equal(pooled, 1)
  } finally {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
})

test("authorizeHttpAsync waits on mcpguard's own threads: libuv's pool still reads files while Redis is slow", async () => {
  const fs = require('node:fs/promises')
  const { HttpOptions } = require('..')
  const guard = Guard.fromJson(redisConfig())
  const options = new HttpOptions({ server: 'files', readBody: false })
  const request = { method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'pool-node' })}`] }
  assert.equal((await guard.authorizeHttpAsync(request, options)).action, 'forward')
  const sleeping = redisCommand('DEBUG', 'SLEEP', '0.3')
  await new Promise((r) => setTimeout(r, 20))
  // More decisions waiting than libuv has threads (4 by default).
  const waiting = Array.from({ length: 8 }, () => guard.authorizeHttpAsync(request, options))
  const start = Date.now()
  await fs.readFile(__filename)
  const readMs = Date.now() - start
  const decisions = await Promise.all(waiting)
  const waitedMs = Date.now() - start
  assert.ok(decisions.every((d) => d.action === 'forward'))
  assert.ok(waitedMs >= 200, `the decisions waited ${waitedMs} ms for Redis`)
  assert.ok(readMs < 150, `a file read waited ${readMs} ms behind the decisions`)
  await sleeping
})

test('authorizeAsync: 40 decisions in flight against a shared limit of 30 admit exactly 30; a bad member rejects', async () => {
  const guard = Guard.fromJson(redisConfig())
  const request = { authorization: `Bearer ${sign({ client_id: 'async-authorize-node' })}`, server: 'files' }
  const all = await Promise.all(Array.from({ length: 40 }, () => guard.authorizeAsync(request)))
  assert.equal(all.filter((d) => d.allowed).length, 30)
  assert.ok(all.every((d) => d.allowed || d.status === 429))
  const sync = guard.authorize(request)
  const pooled = await guard.authorizeAsync(request)
  assert.equal(sync.status, 429)
  assert.deepEqual({ ...pooled, rateLimit: null, headers: null }, { ...sync, rateLimit: null, headers: null })
  assert.throws(() => guard.authorize({ ...request, server: 5 }), TypeError)
  await assert.rejects(guard.authorizeAsync({ ...request, server: 5 }), TypeError)
})

test('validateWithExpiryAsync refuses and accepts as the synchronous call; the SDK verifier uses it for a Guard on Redis', async () => {
  const { InvalidTokenError } = require('..')
  const { createTokenVerifier } = require('../mcp.js')
  const guard = Guard.fromJson(redisConfig())
  const token = sign({ client_id: 'verifier-node', scope: 'tag:files' })
  const sync = guard.validateWithExpiry(token)
  const pooled = await guard.validateWithExpiryAsync(token)
  assert.deepEqual(pooled, sync)
  let refused
  try {
    guard.validateWithExpiry('not-a-token')
  } catch (e) {
    refused = e
  }
  assert.ok(refused instanceof InvalidTokenError)
  await assert.rejects(
    guard.validateWithExpiryAsync('not-a-token'),
    (e) => e instanceof InvalidTokenError && e.reason === refused.reason && e.message === refused.message && e.status === refused.status,
  )
  let pooledCalls = 0
  const validateWithExpiryAsync = guard.validateWithExpiryAsync.bind(guard)
  guard.validateWithExpiryAsync = (t) => {
    pooledCalls++
    return validateWithExpiryAsync(t)
  }
  const info = await createTokenVerifier(guard).verifyAccessToken(token)
  assert.equal(info.clientId, 'verifier-node')
  assert.equal(pooledCalls, 1)
  // A token never seen goes to a thread, whose answer can only reach the
  // loop in a callback of its own (a macrotask); a cached one is answered
  // on the loop, within the current task's microtasks. (An earlier probe
  // raced a setImmediate: with one thread-safe function per environment,
  // libuv may take a thread's answer in the same poll phase.)
  const answeredWithinTheTask = async (t) => {
    let answered = false
    const settled = validateWithExpiryAsync(t).then((v) => {
      answered = true
      return v
    })
    // Microtask turns only: no callback of the loop runs in between.
    for (let i = 0; i < 20; i++) await null
    const within = answered
    await settled
    return within
  }
  const fresh = sign({ client_id: 'verifier-node-2', scope: 'tag:files' })
  assert.equal(await answeredWithinTheTask(fresh), false, 'a fresh token is validated on a thread')
  assert.equal(await answeredWithinTheTask(fresh), true, 'a cached token is answered on the event loop')
  assert.deepEqual(await validateWithExpiryAsync(fresh), guard.validateWithExpiry(fresh))
})

test('with Redis gone, an async decision settles with the store policy: 503 and Retry-After under fail_closed, never a hang', async () => {
  const { HttpOptions } = require('..')
  const port = await freePort()
  // Nothing listens on this port.
  const guard = Guard.fromJson({ ...config(), rate_limit: { limit: 30, window_seconds: 60 }, store: { redis: { url: `redis://127.0.0.1:${port}/0`, timeout_ms: 200, on_error: 'fail_closed' } } })
  assert.equal(guard.waitsOnNetwork(), true)
  const options = new HttpOptions({ server: 'files', readBody: false })
  const request = { method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'down-node' })}`] }
  const start = Date.now()
  const decisions = await Promise.all(Array.from({ length: 5 }, () => guard.authorizeHttpAsync(request, options)))
  assert.ok(Date.now() - start < 3000, `${Date.now() - start} ms`)
  for (const d of decisions) {
    assert.equal(d.status, 503)
    assert.equal(d.decision.reason, 'store_unavailable')
    assert.ok(d.headers.some(([name]) => name.toLowerCase() === 'retry-after'))
  }
  const refused = await guard.authorizeAsync({ authorization: request.headers[1], server: 'files' })
  assert.equal(refused.status, 503)
})

// Every awaited decision of an environment is settled through one
// thread-safe function of its own (src/settle.rs). It must hold the event
// loop open exactly while a decision is pending, and a worker torn down
// with decisions still waiting must neither crash the process nor strand
// other environments' promises.
test('a decision waiting on Redis keeps the process alive until it settles, and then lets it exit', async () => {
  const { HttpOptions } = require('..')
  const script = `
const { Guard, HttpOptions } = require(${JSON.stringify(path.join(__dirname, '..'))})
const guard = Guard.fromJson(JSON.parse(process.argv[1]))
const options = new HttpOptions({ server: 'files', readBody: false })
const request = { method: 'GET', path: '/mcp', headers: ['Authorization', process.argv[2]] }
guard.authorizeHttpAsync(request, options).then((d) => console.log('settled ' + d.action))
`
  // Redis answers nobody for 200 ms: the only thing left for the child's
  // loop is the decision's promise.
  const sleeping = redisCommand('DEBUG', 'SLEEP', '0.2')
  const proc = spawn(process.execPath, ['-e', script, JSON.stringify({ ...redisConfig(), store: { redis: { url, timeout_ms: 2000 } } }), `Bearer ${sign({ client_id: 'alive-node' })}`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  const killer = setTimeout(() => proc.kill('SIGKILL'), 10000)
  const code = await new Promise((resolve) => proc.on('exit', (c, s) => resolve(c ?? s)))
  clearTimeout(killer)
  await sleeping
  assert.equal(code, 0, 'the child exits by itself once the decision settled')
  assert.equal(out.trim(), 'settled forward')
  // The same in this process: a settled decision leaves nothing referenced
  // (the test runner would otherwise not end; checked here directly).
  const guard = Guard.fromJson(redisConfig())
  const d = await guard.authorizeHttpAsync({ method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'alive-node' })}`] }, new HttpOptions({ server: 'files', readBody: false }))
  assert.equal(d.action, 'forward')
})

test('a worker terminated while its decisions wait on Redis takes none of the process with it', async () => {
  const { Worker } = require('node:worker_threads')
  const { HttpOptions } = require('..')
  const request = { method: 'GET', path: '/mcp', headers: ['Authorization', `Bearer ${sign({ client_id: 'worker-node' })}`] }
  // A budget the three rounds cannot spend.
  const config = { ...redisConfig(), rate_limit: { limit: 1000, window_seconds: 60 }, store: { redis: { url, timeout_ms: 2000 } } }
  const guard = Guard.fromJson(config)
  const options = new HttpOptions({ server: 'files', readBody: false })
  for (let round = 0; round < 3; round++) {
    // Long enough that the worker starts, connects and queues its
    // decisions while Redis still sleeps.
    const sleeping = redisCommand('DEBUG', 'SLEEP', '0.5')
    await new Promise((r) => setTimeout(r, 20))
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       const { Guard, HttpOptions } = require(workerData.pkg)
       const guard = Guard.fromJson(workerData.config)
       const options = new HttpOptions({ server: 'files', readBody: false })
       for (let i = 0; i < 16; i++) guard.authorizeHttpAsync(workerData.request, options)
       parentPort.postMessage('sent')`,
      { eval: true, workerData: { pkg: path.join(__dirname, '..'), config, request } },
    )
    // This environment's decisions wait on the same Redis meanwhile.
    const mine = Promise.all(Array.from({ length: 8 }, () => guard.authorizeHttpAsync(request, options)))
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject))
    await worker.terminate()
    // The worker's decisions finish after its environment is gone.
    await sleeping
    for (const d of await mine) assert.equal(d.action, 'forward')
  }
  await new Promise((r) => setTimeout(r, 100))
  assert.equal((await guard.authorizeHttpAsync(request, options)).action, 'forward')
})
