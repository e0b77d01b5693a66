'use strict'
// mcpguard quick start for Node: one Guard, built from examples/guard.json
// (1MCP's security-guide example), answering a handful of requests.
//
// Run it with `make -C bindings/node demo`. The sample tokens in
// examples/tokens.json were signed once with the example's key; the Guard
// runs on a manual clock pinned to 2026-01-01T00:00:00Z so that the output
// is the same on every run and every day (it equals
// examples/quickstart.expected, like every language's quick start). A real
// host calls `Guard.fromFile(path)` and keeps the system clock.

const fs = require('node:fs')
const path = require('node:path')
const { Guard, ManualClock } = require('mcpguard')

/** The instant the sample tokens were issued for. */
const DEMO_TIME = 1767225600

const examples = path.join(__dirname, '..')
const clock = new ManualClock(DEMO_TIME)
const guard = Guard.fromFile(path.join(examples, 'guard.json'), { clock })
/** @type {Record<string, string>} */
const tokens = JSON.parse(fs.readFileSync(path.join(examples, 'tokens.json'), 'utf8'))
/** @param {string} name */
const bearer = (name) => `Bearer ${tokens[name] ?? ''}`

console.log('mcpguard quickstart: examples/guard.json, clock at 2026-01-01T00:00:00Z')
console.log(`metadata: ${guard.metadataPath()} -> ${JSON.stringify(guard.metadataDocument())}`)

const developer = bearer('developer')
const analyst = bearer('analyst')
const demo = bearer('demo')

show(1, 'developer lists servers', guard.authorize({ authorization: developer }))
show(2, 'analyst lists servers tagged web', guard.authorize({ authorization: analyst, filter: { tags: 'web' } }))
show(3, "developer uses the 'local' preset", guard.authorize({ authorization: developer, filter: { preset: 'local' } }))
show(4, 'demo calls the database server', guard.authorize({ authorization: demo, server: 'database' }))
show(
  5,
  'demo filters on a tag it was not granted',
  guard.authorize({ authorization: demo, filter: { tagFilter: 'web and database' } }),
)
show(
  6,
  'developer calls filesystem/write_file',
  guard.authorize({ authorization: developer, server: 'filesystem', tool: 'write_file' }),
)
show(7, 'no token', guard.authorize({}))
show(8, 'expired token', guard.authorize({ authorization: bearer('expired') }))
show(9, 'token for another resource', guard.authorize({ authorization: bearer('wrong_audience') }))

// A burst from the demo client: 100 requests per 15 minutes.
const burst = { authorization: demo, server: 'web-search' }
let admitted = 0
for (let i = 0; i < 100; i++) if (guard.authorize(burst).allowed) admitted++
console.log(`[10] demo sends a burst of 100 requests to web-search: ${admitted} allowed`)
show(11, 'demo sends one more', guard.authorize(burst))

/**
 * Prints a decision the same way in every language's quick start.
 * @param {number} n
 * @param {string} title
 * @param {import('mcpguard').Decision} d
 */
function show(n, title, d) {
  console.log(`[${n}] ${title}`)
  if (d.allowed) console.log(`    ${d.status} allowed`)
  else if (d.error !== null && d.reason !== null) {
    console.log(`    ${d.status} ${d.error} (${d.reason}): ${d.errorDescription ?? ''}`)
  } else console.log(`    ${d.status}`)
  if (d.allowed) console.log(`    visible: ${d.visibleServers.join(', ')}`)
  for (const [name, value] of d.headers) console.log(`    ${name}: ${value}`)
}
