'use strict'
// What `guardMiddleware` costs an Express 5 app (issue 13, "Speed": the
// middleware adds at most 10% to a bare app's request time). Run by
// `make -C bindings/node bench` on the release build of the addon.
//
// What it measures: requests per second of one Express 5 process serving
// `POST /mcp` (a JSON-RPC `tools/call` of `read_file` on server `files`,
// with an RS256 bearer token signed by the binding's test helper and
// cached by the guard after the first request), answered by a handler that
// echoes the request id as JSON. Three apps, all started once and measured
// in interleaved rounds (the machine may be shared: the median of the
// rounds is reported, with the overhead of each guarded app against the
// bare one from the same rounds):
//
//   bare        express.json() and the handler
//   guard       express.json({ verify: keepRawBody }) then guardMiddleware
//               (server 'files', readBody: the core reads the body's tools)
//   guard-raw   guardMiddleware alone (it reads the body stream itself and
//               hands the parsed body on), then the handler
//
// Cores: every server is pinned to core 0 with `taskset`, the load
// generator to core 1 (on a 2-core machine each side has one core). The
// load generator is `wrk` (C, one thread, keep-alive, 32 connections): it
// drives far more requests per second than one Node process serves, so the
// server is the bottleneck. A response other than 200 fails the run.
//
//   node benches/node/middleware.js [--rounds 5] [--seconds 3] [--connections 32]

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const BINDING = path.join(__dirname, '..', '..', 'bindings', 'node')
const need = (name) => require(require.resolve(name, { paths: [BINDING] }))
const MODES = ['bare', 'guard', 'guard-raw']
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
  if (mode === 'bare') app.use(express.json())
  if (mode === 'guard') app.use(express.json({ verify: keepRawBody }))
  if (mode !== 'bare') app.use(guardMiddleware(guard, { server: 'files', readBody: true }))
  app.post('/mcp', (req, res) => res.json({ jsonrpc: '2.0', id: req.body.id, result: { content: [] } }))
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
  process.on('SIGTERM', () => process.exit(0))
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

function start(mode) {
  const [cmd, ...args] = pinned(0, [process.execPath, __filename, 'serve', mode])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve({ child, port: Number(out.trim()) })
    })
    child.on('exit', (code) => reject(new Error(`server ${mode} exited with ${code}`)))
  })
}

/** Requests per second wrk drove against `port` for `seconds` (throws on any non-200). */
function load(port, script, seconds, connections) {
  const argv = pinned(1, ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/mcp`])
  const out = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' })
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out) || /Socket errors: .*/.exec(out)
  if (bad) throw new Error(`wrk saw failed requests on port ${port}:\n${out}`)
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out)
  if (!rate) throw new Error(`wrk printed no rate:\n${out}`)
  return Number(rate[1])
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
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' })
  } catch (e) {
    // `wrk -v` exits 1 after printing its version; only a missing binary is an error.
    if (e.code === 'ENOENT') throw new Error('wrk is not installed (Debian: apt-get install wrk)')
  }
  const { sign } = require(path.join(BINDING, 'test', 'helpers', 'scenario.js'))
  const token = sign()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-mwbench-'))
  const script = path.join(dir, 'post.lua')
  fs.writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(BODY)}`,
      'wrk.headers["Content-Type"] = "application/json"',
      'wrk.headers["Accept"] = "application/json, text/event-stream"',
      `wrk.headers["Authorization"] = "Bearer ${token}"`,
      '',
    ].join('\n'),
  )
  const servers = {}
  try {
    for (const mode of MODES) servers[mode] = await start(mode)
    for (const mode of MODES) load(servers[mode].port, script, 1, connections) // warm-up: JIT, token cache
    const rates = Object.fromEntries(MODES.map((m) => [m, []]))
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so that no mode always runs first (or last) in a round.
      for (let i = 0; i < MODES.length; i++) {
        const mode = MODES[(i + r) % MODES.length]
        rates[mode].push(load(servers[mode].port, script, seconds, connections))
      }
    }
    const bare = median(rates.bare)
    console.log(`Express ${need('express/package.json').version}, Node ${process.version}: POST /mcp tools/call, ${connections} keep-alive connections, ${rounds} rounds of ${seconds} s`)
    console.log('mode        req/s (median)   overhead vs bare   rounds')
    for (const mode of MODES) {
      const m = median(rates[mode])
      const overhead = mode === 'bare' ? '' : `${(((bare / m) - 1) * 100).toFixed(1)}%`
      console.log(`${mode.padEnd(12)}${m.toFixed(0).padStart(14)}   ${overhead.padStart(16)}   ${rates[mode].map((x) => x.toFixed(0)).join(' ')}`)
    }
    console.log('overhead = added request time: bare req/s / guarded req/s - 1 (target: at most 10%)')
  } finally {
    for (const { child } of Object.values(servers)) {
      child.removeAllListeners('exit')
      child.kill('SIGTERM')
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3])
else
  main().catch((e) => {
    console.error(e.message)
    process.exit(1)
  })
