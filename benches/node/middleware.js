'use strict'
// What `guardMiddleware` costs an Express 5 app (issue 13, "Speed": the
// middleware adds at most 10% to a bare app's request time). Run by
// `make -C bindings/node bench` on the release build of the addon.
//
// What it measures: requests per second of one Express 5 process serving
// `POST /mcp` (a JSON-RPC `tools/call` of `read_file` on server `files`,
// with an RS256 bearer token signed by the binding's test helper and
// cached by the guard after the first request), answered by a handler that
// echoes the request id as JSON. Each app runs in several processes
// (`--processes`, 3), all started once and measured in interleaved rounds.
// One server read over a few seconds moves by 5-15% from one window to the
// next (garbage collections and V8's background work land unevenly), as
// much as the target, so one process per app cannot tell 8% from 12%:
// each app's figure is the median over all its processes' rounds,
// reported with the overhead of each guarded app against its unguarded one
// from the same rounds, and each process's own median beside it. Only the
// process being measured runs; the others are stopped (SIGSTOP), or their
// idle-time garbage collections share its core (that made every server's
// CPU per request read ~50% higher with 15 of them started):
//
//   bare        express.json() and the handler
//   guard       express.json({ verify: keepRawBody }) then guardMiddleware
//               (server 'files', readBody: the core reads the body's tools)
//   guard-raw   guardMiddleware alone (it reads the body stream itself and
//               hands the parsed body on), then the handler
//   sdk         what an MCP host runs: express.json() and the TypeScript
//               SDK's McpServer with a `read_file` tool on its stateless
//               Streamable HTTP transport (a server and transport per
//               request, as the SDK's stateless example does), JSON answers
//   sdk+guard   the same behind express.json({ verify: keepRawBody }) and
//               guardMiddleware: the overhead a host of the SDK sees
//   sdk+guard-raw  the same behind guardMiddleware alone (the SDK's
//               transport gets the body the middleware parsed)
//   sdk-again   a second process of `sdk`, compared with the first: how
//               far two identical servers read apart in the same run, the
//               noise a guarded row's overhead has to be read against
//   sdk+guard-ab  one SDK server guarded and unguarded by turns (the
//               bench switches it between its measurements): the overhead
//               of each guarded measurement against the unguarded one of
//               the same process and round, so that neither a process's
//               luck nor a slow stretch of the machine falls on one side
//   sdk+guard-replayed  `sdk+guard` whose Guard answers every request
//               with the decision of its first (no native call): what the
//               middleware's JavaScript, the body parser's `verify` and
//               the app's handling of `req.auth` and the headers cost
//               without mcpguard deciding anything
//
// The handler that only echoes the id is the harshest base (the middleware's
// cost against an app that does nearly nothing); the SDK rows are the
// same middleware against the app it is made to guard.
// Cores: every server is pinned to core 0 with `taskset`, the load
// generator to core 1 (on a 2-core machine each side has one core). The
// load generator is `wrk` (C, one thread, keep-alive, 32 connections): it
// drives far more requests per second than one Node process serves, so the
// server is the bottleneck. A response other than 200 fails the run.
//
// Beside the rate, the server's own CPU time per request (user + system,
// from /proc/<pid>/stat, over the same seconds) is reported: on a loaded
// machine the rate follows whatever else runs on core 0, the CPU time per
// request much less so.
//
//   node benches/node/middleware.js [--rounds 5] [--seconds 3] [--connections 32] [--processes 3] [--modes sdk,sdk+guard]

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const BINDING = path.join(__dirname, '..', '..', 'bindings', 'node')
const need = (name) => require(require.resolve(name, { paths: [BINDING] }))
const MODES = ['bare', 'guard', 'guard-raw', 'sdk', 'sdk-again', 'sdk+guard', 'sdk+guard-raw', 'sdk+guard-replayed', 'sdk+guard-ab']
/** The mode measured against itself, guarded and unguarded by turns. */
const AB = 'sdk+guard-ab'
/** The unguarded mode each other one is compared with. */
const BASE = { guard: 'bare', 'guard-raw': 'bare', 'sdk-again': 'sdk', 'sdk+guard': 'sdk', 'sdk+guard-raw': 'sdk', 'sdk+guard-replayed': 'sdk' }
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_file', arguments: { path: 'a.txt' } } })

/** The app for one mode, listening on an ephemeral loopback port it prints. */
function serve(mode) {
  const express = need('express')
  const { Guard } = need('mcpguard')
  const { guardMiddleware, keepRawBody } = require(path.join(BINDING, 'express.js'))
  const { config } = require(path.join(BINDING, 'test', 'helpers', 'scenario.js'))
  // No request in the run may be refused for its rate: the limit is the largest the config takes.
  const guard = Guard.fromJson({ ...config(), rate_limit: { limit: 4294967295, window_seconds: 60 } })
  const app = express()
  if (mode === AB) {
    // Guarded ('g') or not ('u') as the bench last wrote on stdin; the
    // guarded turn parses the body as `sdk+guard` does.
    let on = false
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (d) => {
      on = d.trim().endsWith('g')
    })
    const plain = express.json()
    const keeping = express.json({ verify: keepRawBody })
    const guarding = guardMiddleware(guard, { server: 'files', readBody: true })
    app.use((req, res, next) => (on ? keeping : plain)(req, res, next))
    app.use((req, res, next) => (on ? guarding(req, res, next) : next()))
  }
  const guarded = mode.includes('guard') && mode !== AB
  if (mode === 'bare' || mode === 'sdk' || mode === 'sdk-again') app.use(express.json())
  if (mode === 'guard' || mode === 'sdk+guard' || mode === 'sdk+guard-replayed') app.use(express.json({ verify: keepRawBody }))
  if (guarded) app.use(guardMiddleware(mode.endsWith('-replayed') ? replaying(guard) : guard, { server: 'files', readBody: true }))
  if (mode.startsWith('sdk')) app.post('/mcp', sdkHandler())
  else app.post('/mcp', (req, res) => res.json({ jsonrpc: '2.0', id: req.body.id, result: { content: [] } }))
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
  process.on('SIGTERM', () => process.exit(0))
}

/**
 * A stand-in for `guard` whose `authorizeHttp` answers every request with
 * the decision it made for the first (the same object each time): the
 * middleware runs as it does, minus the native call and its decoding.
 */
function replaying(guard) {
  let first = null
  return {
    authorizeHttp: (request, options) => {
      first ??= guard.authorizeHttp(request, options)
      return first
    },
    resource: () => guard.resource(),
    waitsOnNetwork: () => false,
  }
}

/** The TypeScript SDK's stateless Streamable HTTP handler, as its example writes it. */
function sdkHandler() {
  const { McpServer } = need('@modelcontextprotocol/sdk/server/mcp.js')
  const { StreamableHTTPServerTransport } = need('@modelcontextprotocol/sdk/server/streamableHttp.js')
  return async (req, res) => {
    const server = new McpServer({ name: 'files', version: '1.0.0' })
    server.registerTool('read_file', { description: 'Reads a file' }, async () => ({
      content: [{ type: 'text', text: 'contents of a.txt' }],
    }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    res.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  }
}

/** The command line with `taskset -c <core>` in front when the machine has that core. */
function pinned(core, argv) {
  const hasTaskset = (() => {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  })()
  return hasTaskset && os.cpus().length > core ? ['taskset', '-c', String(core), ...argv] : argv
}

/** One server of `mode` on core 0, started with `nodeFlags` (for a profile). */
function start(mode, nodeFlags = []) {
  const [cmd, ...args] = pinned(0, [process.execPath, ...nodeFlags, __filename, 'serve', mode])
  const child = spawn(cmd, args, { stdio: [mode === AB ? 'pipe' : 'ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve({ child, port: Number(out.trim()) })
    })
    child.on('exit', (code) => reject(new Error(`server ${mode} exited with ${code}`)))
  })
}

/** CPU time (user + system) process `pid` has used, in clock ticks, or NaN off Linux. */
function cpuTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at state: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return NaN
  }
}

/** The kernel's clock ticks per second (the unit of /proc/<pid>/stat times). */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * What wrk drove against the server for `seconds`: requests per second, and
 * the server's CPU microseconds per request (throws on any non-200).
 */
function load(server, script, seconds, connections) {
  const argv = pinned(1, ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${server.port}/mcp`])
  const before = cpuTicks(server.child.pid)
  const out = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' })
  const ticks = cpuTicks(server.child.pid) - before
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out) || /Socket errors: .*/.exec(out)
  if (bad) throw new Error(`wrk saw failed requests on port ${server.port}:\n${out}`)
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const count = /(\d+) requests in/.exec(out)
  if (!rate || !count) throw new Error(`wrk printed no rate:\n${out}`)
  return { rate: Number(rate[1]), count: Number(count[1]), cpuUs: ((ticks / TICKS) * 1e6) / Number(count[1]) }
}

/**
 * The one request every measurement and probe sends, as a wrk script in a
 * new temporary directory (the caller removes `dir`), and its headers.
 * Throws when wrk is missing.
 */
function wrkScript() {
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' })
  } catch (e) {
    // `wrk -v` exits 1 after printing its version; only a missing binary is an error.
    if (e.code === 'ENOENT') throw new Error('wrk is not installed (Debian: apt-get install wrk)')
  }
  const { sign } = require(path.join(BINDING, 'test', 'helpers', 'scenario.js'))
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${sign()}` }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-mwbench-'))
  const script = path.join(dir, 'post.lua')
  fs.writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(BODY)}`,
      ...Object.entries(headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`),
      '',
    ].join('\n'),
  )
  return { dir, script, headers }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

async function main() {
  const rounds = arg('rounds', 5)
  const seconds = arg('seconds', 3)
  const connections = arg('connections', 32)
  const processes = arg('processes', 3)
  const i = process.argv.indexOf('--modes')
  const modes = i === -1 ? MODES : MODES.filter((m) => process.argv[i + 1].split(',').includes(m))
  for (const mode of modes) if (BASE[mode] && !modes.includes(BASE[mode])) throw new Error(`mode ${mode} needs ${BASE[mode]} in --modes`)
  const { dir, script, headers } = wrkScript()
  // Every mode's processes, in the order they are measured in a round.
  const servers = []
  try {
    for (const mode of modes) for (let p = 0; p < processes; p++) servers.push({ mode, runs: [], ...(await start(mode)) })
    for (const server of servers) load(server, script, 2, connections) // warm-up: JIT (the SDK's paths take longer), token cache
    // Only the process being measured runs: the others are stopped, or
    // their idle-time garbage collections would share its core.
    for (const { child } of servers) child.kill('SIGSTOP')
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so that no process always runs first (or last) in a round.
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(i + r) % servers.length]
        server.child.kill('SIGCONT')
        try {
          // A server's first seconds after it was stopped read up to 30%
          // slow (its timers and deferred work catch up): one unmeasured
          // second first.
          load(server, script, 1, connections)
          if (server.mode === AB) {
            // Both turns, in an order that alternates by round.
            for (const turn of r % 2 === 0 ? ['u', 'g'] : ['g', 'u']) {
              server.child.stdin.write(`${turn}\n`)
              await new Promise((resolve) => setTimeout(resolve, 200))
              // The turn took: only a guarded answer carries rate-limit headers.
              const probe = await fetch(`http://127.0.0.1:${server.port}/mcp`, { method: 'POST', headers, body: BODY })
              await probe.arrayBuffer()
              const limited = [...probe.headers.keys()].some((name) => name.includes('ratelimit'))
              if (probe.status !== 200 || limited !== (turn === 'g')) {
                throw new Error(`${AB} on port ${server.port} did not switch to its ${turn === 'g' ? 'guarded' : 'unguarded'} turn (status ${probe.status})`)
              }
              server.runs.push({ turn, round: r, ...load(server, script, seconds, connections) })
            }
          } else server.runs.push(load(server, script, seconds, connections))
        } finally {
          server.child.kill('SIGSTOP')
        }
      }
    }
    const of = (mode) => servers.filter((s) => s.mode === mode)
    const all = (mode, key) => of(mode).flatMap((s) => s.runs.map((x) => x[key]))
    const rate = (mode) => median(all(mode, 'rate'))
    const cpu = (mode) => median(all(mode, 'cpuUs'))
    const pct = (x) => `${(x * 100).toFixed(1)}%`
    console.log(
      `Express ${need('express/package.json').version}, Node ${process.version}: POST /mcp tools/call, ${connections} keep-alive connections, ` +
        `${processes} processes per app, ${rounds} rounds of ${seconds} s`,
    )
    console.log('mode                 req/s  overhead   server CPU us/req  overhead   req/s of each process (median of its rounds)')
    for (const mode of modes.filter((m) => m !== AB)) {
      const base = BASE[mode]
      const rateOver = base ? pct(rate(base) / rate(mode) - 1) : ''
      const cpuOver = base ? pct(cpu(mode) / cpu(base) - 1) : ''
      const each = of(mode)
        .map((s) => median(s.runs.map((x) => x.rate)).toFixed(0))
        .join(' ')
      console.log(`${mode.padEnd(18)}${rate(mode).toFixed(0).padStart(8)}${rateOver.padStart(10)}${cpu(mode).toFixed(1).padStart(20)}${cpuOver.padStart(10)}   ${each}`)
    }
    if (modes.includes(AB)) {
      // Each guarded turn of a server with its unguarded turn of the same round.
      const pairsOf = (s) => s.runs.filter((x) => x.turn === 'g').map((g) => [g, s.runs.find((u) => u.turn === 'u' && u.round === g.round)])
      const slower = ([g, u]) => u.rate / g.rate - 1
      const pairs = of(AB).flatMap(pairsOf)
      const turn = (t, key) => median(of(AB).flatMap((s) => s.runs.filter((x) => x.turn === t).map((x) => x[key])))
      const each = of(AB)
        .map((s) => pct(median(pairsOf(s).map(slower))))
        .join(' ')
      console.log(
        `${AB.padEnd(18)}${turn('g', 'rate').toFixed(0).padStart(8)}${pct(median(pairs.map(slower))).padStart(10)}` +
          `${turn('g', 'cpuUs').toFixed(1).padStart(20)}${pct(median(pairs.map(([g, u]) => g.cpuUs / u.cpuUs - 1))).padStart(10)}   ${each}`,
      )
      console.log(
        `  (its unguarded turns: ${turn('u', 'rate').toFixed(0)} req/s, ${turn('u', 'cpuUs').toFixed(1)} us CPU per request; ` +
          'its overhead is the median of each guarded turn against the unguarded turn of the same process and round)',
      )
    }
    console.log('medians over every process and round; overhead = added request time: unguarded req/s / guarded req/s - 1,')
    console.log('and guarded CPU per request / unguarded CPU per request - 1 (guard and guard-raw against')
    console.log('bare, the sdk+ rows against sdk; target: at most 10%). sdk-again is a second unguarded')
    console.log('SDK server: its "overhead" is the spread between two identical processes in this run;')
    console.log('sdk+guard-replayed is sdk+guard without the native decision (see the header)')
  } finally {
    for (const { child } of servers) {
      child.removeAllListeners('exit')
      child.kill('SIGCONT')
      child.kill('SIGTERM')
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// What middleware_profile.js shares with this bench.
module.exports = { start, load, wrkScript, arg }

if (process.argv[2] === 'serve') serve(process.argv[3])
else if (require.main === module)
  main().catch((e) => {
    console.error(e.message)
    process.exit(1)
  })
