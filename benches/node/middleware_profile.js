'use strict'
// Where the time of a guarded request goes in the TypeScript SDK's app
// (issue 13: `guardMiddleware` adds at most 10% to the app's request time).
// Run by `make -C bindings/node bench` after middleware.js, on the release
// build of the addon; needs Linux perf (Debian: linux-perf) and wrk.
//
// middleware.js measures requests per second, and so everything that
// differs between a guarded and an unguarded process: the middleware's own
// work, but also the SDK app's own JIT state, which moves a process's rate
// by ±15% from one process (and round) to the next. This bench separates
// the middleware's own work from the app's. It starts one `sdk` and one
// `sdk+guard` server of middleware.js (the same apps, with V8's perf map,
// interpreted frames on the native stack and the code space never
// compacted), drives each with wrk while
// `perf record -g` samples it (every other process stopped), and counts
// every sample of the main thread for the first frame, from the leaf up,
// that is either the middleware's or the app's:
//
//   addon           the addon's Rust (the core and the Node-API glue)
//   addon calls     Node-API, V8 and libc under the addon's frames
//   express.js      the middleware's JavaScript and the V8 and Node
//                   machinery it calls (property stores, headers)
//   decoding        index.js reading the addon's answer
//   app             the SDK app, Express, Node's HTTP (JavaScript first)
//   native          main-thread samples under no JavaScript frame at all
//                   (libuv, the HTTP parser, the JIT's main-thread part)
//   gc              garbage collection on the main thread
// Background threads (V8's compilers and concurrent marking) are reported
// as one figure. Figures are microseconds a request: samples times the
// sampling period, over the requests served while perf sampled. The
// middleware's own work (the first four) is what the library controls;
// the whole difference between the two main threads is what the issue's
// target counts.
//
//   node benches/node/middleware_profile.js [--seconds 6] [--frequency 4000]

const { spawn, execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { start, load, wrkScript, arg } = require('./middleware.js')

const BINDING = path.join(__dirname, '..', '..', 'bindings', 'node')
/** The middleware's JavaScript files, by the paths V8's perf map gives their code. */
const OWN_JS = ['express.js', 'index.js', 'authinfo.js'].map((f) => path.join(BINDING, f))
/** How perf ends a frame of a Node addon (the shared object's path in parentheses). */
const ADDON = '.node)'
/** The middleware's own categories, then everyone else's (see the header). */
const OWN_CATEGORIES = ['addon', 'addon calls', 'express.js', 'decoding']
const CATEGORIES = [...OWN_CATEGORIES, 'app', 'native', 'gc']

/**
 * The middleware's category of one frame (`sym (dso)`), or null for someone
 * else's. A module's top-level code (`Eval:`, or its CommonJS wrapper at
 * line 1, column 1) runs once, when it is loaded: a sample under load named
 * after it is an address the perf map still names after code since freed,
 * and is not counted as ours.
 */
function own(frame) {
  if (frame.endsWith(ADDON) && frame.includes('mcpguard')) return 'addon'
  if (frame.startsWith('Eval:') || / \S+:1:1 \(/.test(frame)) return null
  const js = OWN_JS.find((f) => frame.includes(f))
  if (js === undefined) return null
  return js.endsWith('index.js') ? 'decoding' : 'express.js'
}

/** Whether a frame is JavaScript (perf map names from `--perf-basic-prof`). */
const isJs = (frame) => /^(JS|Eval|Function|LazyCompile):/.test(frame)

/**
 * One sample's category: the first frame from the leaf that is ours or the
 * app's JavaScript; garbage collection wherever it runs under.
 */
function categorize(frames) {
  if (frames.some((f) => f.includes('Scavenge') || f.includes('MarkCompact'))) return 'gc'
  for (let i = 0; i < frames.length; i++) {
    const mine = own(frames[i])
    if (mine === 'addon') return i === 0 ? 'addon' : 'addon calls'
    if (mine !== null) return mine
    if (isJs(frames[i])) return 'app'
  }
  return 'native'
}

/**
 * Main-thread samples by category, and the background threads' samples,
 * from `perf script` of `data` for the process `pid` (its main thread has
 * the process's id).
 */
function attribute(data, pid) {
  const out = spawnSync('perf', ['script', '-i', data, '-F', 'tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 })
  if (out.status !== 0) throw new Error(`perf script failed: ${out.stderr}`)
  const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0]))
  let background = 0
  // A sample is its thread id on a line of its own, then one frame a line
  // (leaf first), then a blank line.
  for (const block of out.stdout.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '')
    if (lines.length === 0) continue
    const tid = Number(lines[0].trim())
    if (tid !== pid) {
      background++
      continue
    }
    counts[categorize(lines.slice(1).map((l) => l.trim().replace(/^[0-9a-f]+ /, '')))]++
  }
  return { counts, background }
}

/** Profiles one server of `mode`: samples by category, and the requests served meanwhile. */
async function profile(mode, script, seconds, frequency, dir) {
  // V8 writes each code object's address to its perf map once, and code
  // that compaction moves would then be named after whatever the map held
  // there before: the code space is not compacted in these servers. The
  // perf map also turns on V8's log, kept in `dir` rather than the
  // working directory.
  const server = await start(mode, [
    '--perf-basic-prof',
    '--interpreted-frames-native-stack',
    '--no-compact-code-space',
    '--no-logfile-per-isolate',
    `--logfile=${path.join(dir, `${mode}.v8.log`)}`,
  ])
  const pid = server.child.pid
  try {
    // Warm-up: the JIT and the token cache, as middleware.js does.
    load(server, script, 3, 32)
    const data = path.join(dir, `${mode}.perf.data`)
    // perf starts a little after wrk and stops before it, so that every
    // sampled moment is under load; the requests in its window are wrk's
    // rate times perf's own duration.
    const recorder = spawn('sh', ['-c', `sleep 0.5; exec perf record -q -F ${frequency} -g -p ${pid} -o ${data} -- sleep ${seconds}`], {
      stdio: 'ignore',
    })
    const done = new Promise((resolve, reject) => recorder.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited with ${code}`)))))
    const { rate } = load(server, script, seconds + 1, 32)
    await done
    const { counts, background } = attribute(data, pid)
    return { counts, background, requests: rate * seconds }
  } finally {
    server.child.kill('SIGTERM')
    // V8's perf map of the server.
    fs.rmSync(`/tmp/perf-${pid}.map`, { force: true })
  }
}

async function main() {
  const seconds = arg('seconds', 6)
  const frequency = arg('frequency', 4000)
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new Error('perf is not installed (Debian: apt-get install linux-perf)')
  }
  const { dir, script } = wrkScript()
  try {
    const period = 1e6 / frequency
    const results = {}
    for (const mode of ['sdk', 'sdk+guard']) results[mode] = await profile(mode, script, seconds, frequency, dir)
    const perRequest = (r, n) => (n * period) / r.requests
    const total = (r, categories) => categories.reduce((sum, c) => sum + perRequest(r, r.counts[c]), 0)
    const mainThread = (r) => total(r, CATEGORIES)
    const fmt = (us) => `${us.toFixed(1).padStart(7)} us`
    console.log(`Where a request's time goes, the SDK app unguarded and guarded (perf at ${frequency} Hz for ${seconds} s each; microseconds a request)`)
    console.log(`${'category'.padEnd(22)}${'sdk'.padStart(10)}${'sdk+guard'.padStart(12)}`)
    for (const c of CATEGORIES) console.log(`${c.padEnd(22)}${fmt(perRequest(results.sdk, results.sdk.counts[c]))}  ${fmt(perRequest(results['sdk+guard'], results['sdk+guard'].counts[c]))}`)
    console.log(`${'main thread'.padEnd(22)}${fmt(mainThread(results.sdk))}  ${fmt(mainThread(results['sdk+guard']))}`)
    const bg = (r) => perRequest(r, r.background)
    console.log(`${'background threads'.padEnd(22)}${fmt(bg(results.sdk))}  ${fmt(bg(results['sdk+guard']))}`)
    const guarded = results['sdk+guard']
    const middleware = total(guarded, OWN_CATEGORIES)
    const added = mainThread(guarded) - mainThread(results.sdk)
    const share = (us) => `${((us / mainThread(results.sdk)) * 100).toFixed(1)}%`
    console.log(
      `the middleware's own work: ${middleware.toFixed(1)} us a request, ${share(middleware)} of the unguarded main thread's; ` +
        `the guarded main thread took ${added.toFixed(1)} us (${share(added)}) more in all, the rest being the app and Node's ` +
        'native side running slower behind the guard and the spread between two processes (target: at most 10% in all)',
    )
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e.message)
  process.exit(1)
})
