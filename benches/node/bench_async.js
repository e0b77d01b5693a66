'use strict'
// What the promise costs: `guard.authorizeHttpAsync` against the
// synchronous `guard.authorizeHttp`, on a Guard with the in-process store
// and a token the Guard verified already. Such a request is decided on the
// event loop itself (the core's `authorize_http_later_in_memory`: nothing
// before the store can wait), so what is measured is the promise and its
// settling; a request that could wait (a token to verify) hops to a
// decision thread first. Run by `make -C bindings/node bench` on the
// release build of the addon.
//
// For each: calls per second with 1 and with 8 calls in flight (each an
// awaited loop) for 1.5 s, and the process's CPU time per call (user +
// system over the same seconds, every thread of the process). The median
// of 3 interleaved rounds. Measured as the scheduler places the threads,
// then again on CPU 0 alone (`taskset`): on this VM a wakeup from one vCPU
// to another costs tens of microseconds, and every async call wakes a
// decision thread and then the event loop.

const path = require('node:path')
const { spawnSync } = require('node:child_process')

const BINDING = path.join(__dirname, '..', '..', 'bindings', 'node')
const { Guard, HttpOptions } = require(BINDING)
const { config, sign } = require(path.join(BINDING, 'test', 'helpers', 'scenario.js'))

const PINNED = process.env.MCPGUARD_BENCH_PINNED === '1'
const ROUNDS = Number(process.env.ROUNDS || 3)

const guard = Guard.fromJson({
  ...config(),
  rate_limit: { limit: 4294967295, window_seconds: 3600, algorithm: 'fixed_window' },
})
const options = new HttpOptions({ server: 'files', readBody: false })
const request = {
  method: 'GET',
  path: '/mcp',
  headers: ['Authorization', `Bearer ${sign({ client_id: 'bench' })}`],
  peer: '203.0.113.7',
}

/** Calls per second and CPU µs per call, `inFlight` loops for `ms`. */
async function measure(call, inFlight, ms = 1500) {
  const end = Date.now() + ms
  let n = 0
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end) {
        const d = await call()
        if (d.action !== 'forward') throw new Error(`the call was not allowed: ${d.action}`)
        n++
      }
    }),
  )
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { rate: n / secs, cpuUs: (cpu.user + cpu.system) / n }
}

async function main() {
  const cases = [
    ['authorizeHttp (sync)', 1, async () => guard.authorizeHttp(request, options)],
    ['authorizeHttpAsync', 1, () => guard.authorizeHttpAsync(request, options)],
    ['authorizeHttpAsync', 8, () => guard.authorizeHttpAsync(request, options)],
  ]
  for (const [, inFlight, call] of cases) await measure(call, inFlight, 300)
  const samples = cases.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, inFlight, call]] of cases.entries()) samples[i].push(await measure(call, inFlight))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const placement = PINNED ? 'everything on CPU 0' : 'as the scheduler places it'
  console.log(`Node, deciding off the event loop (in-process store), median of ${ROUNDS} rounds, ${placement}`)
  console.log(`${'call'.padEnd(24)} ${'in flight'.padStart(9)} ${'calls/s'.padStart(10)} ${'CPU µs/call'.padStart(12)}`)
  const rows = cases.map(([name, inFlight], i) => {
    const rate = median(samples[i].map((s) => s.rate))
    const cpuUs = median(samples[i].map((s) => s.cpuUs))
    console.log(`${name.padEnd(24)} ${String(inFlight).padStart(9)} ${Math.round(rate).toLocaleString('en').padStart(10)} ${cpuUs.toFixed(1).padStart(12)}`)
    return cpuUs
  })
  console.log(
    `CPU per call against the synchronous call: ${(rows[1] / rows[0]).toFixed(2)}x (1 in flight), ` +
      `${(rows[2] / rows[0]).toFixed(2)}x (8 in flight)`,
  )
}

main()
  .then(() => {
    if (PINNED) return
    const run = spawnSync('taskset', ['-c', '0', process.execPath, __filename], {
      stdio: 'inherit',
      env: { ...process.env, MCPGUARD_BENCH_PINNED: '1' },
    })
    if (run.error) console.log(`(not run on one CPU: ${run.error.message})`)
    else if (run.status !== 0) throw new Error(`the run on CPU 0 failed (${run.status ?? run.signal})`)
  })
  .catch((e) => {
    console.error(e)
    process.exit(1)
  })
