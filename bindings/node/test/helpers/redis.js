'use strict'
// Loopback ports and the redis-server the Redis tests (and the Node Redis
// bench) start.

const { execFileSync } = require('node:child_process')
const net = require('node:net')

/** A loopback port nothing listens on now. */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Whether nothing listens on `port` (it can be bound now). */
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * A free port for a Redis Cluster node: its bus listens 10,000 higher, so
 * the port is at most 55535 (redis-server refuses any higher) and that one
 * is free too.
 */
async function freeNodePort() {
  for (;;) {
    const port = await freePort()
    if (port <= 55535 && (await bindable(port + 10000))) return port
  }
}

/** Resolves once something accepts connections on `port`; rejects after `ms`. */
async function waitListening(port, ms = 10000) {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true) })
      c.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The path of `name` (redis-server, redis-cli), or an error naming what installs it. */
function redisBinary(name = 'redis-server') {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`${name} is missing: \`make test\` and \`make bench\` install Debian's redis-server package`)
  }
}

module.exports = { freePort, freeNodePort, waitListening, redisBinary }
