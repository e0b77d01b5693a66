'use strict'
// An MCP server on the MCP TypeScript SDK and Express, protected by
// mcpguard: every request is authorized with the full Guard (bearer token,
// 1MCP tag access for this server and every tool a `tools/call` or a batch
// names, the per-client rate limit), refusals are answered with the right
// status, JSON body and headers, `tools/list` shows only the tools the
// client may call, and the RFC 9728 metadata document is served.
//
//   node examples/node/express_server.js            # system clock, port 3000
//   node examples/node/express_server.js --demo     # the sample tokens' clock
//   node examples/node/express_server.js --check    # start, call it, print, stop
//
// Configuration: $MCPGUARD_CONFIG, else examples/guard.json. The sample
// tokens in examples/tokens.json were issued for 2026-01-01T00:00:00Z; with
// --demo the Guard runs on a manual clock pinned there so that they work.

const fs = require('node:fs')
const path = require('node:path')
const express = require('express')
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js')
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js')
const { Guard, ManualClock } = require('mcpguard')
const { guardMiddleware, keepRawBody } = require('mcpguard/express')

const EXAMPLES = path.join(__dirname, '..')
const DEMO_TIME = 1767225600
const demo = process.argv.includes('--demo') || process.argv.includes('--check')
const check = process.argv.includes('--check')

const guard = Guard.fromFile(process.env.MCPGUARD_CONFIG ?? path.join(EXAMPLES, 'guard.json'), {
  clock: demo ? new ManualClock(DEMO_TIME) : null,
})
guard.onAudit((event) => {
  if (event.kind !== 'auth_success') {
    console.error(`audit: ${event.kind} ${event.reason ?? ''} client=${event.clientId ?? '-'} tool=${event.tool ?? '-'}`)
  }
})

/** This process is the `filesystem` server of the configuration. */
function buildServer() {
  const server = new McpServer({ name: 'filesystem', version: '0.1.0' })
  server.registerTool('read_file', { description: 'Reads the demo file' }, async (extra) => ({
    content: [{ type: 'text', text: `hello, ${extra.authInfo?.extra?.subject ?? 'anonymous'}` }],
  }))
  server.registerTool('write_file', { description: 'Writes the demo file (needs tag:files-write)' }, async () => ({
    content: [{ type: 'text', text: 'written' }],
  }))
  return server
}

const app = express()
// The parser keeps the bytes it read, so the Guard reads exactly the body
// the SDK does (without a parser, guardMiddleware reads the body itself).
app.use(express.json({ verify: keepRawBody }))
app.use(guardMiddleware(guard, { server: 'filesystem' }))
// Stateless Streamable HTTP: one server and transport per request. The
// transport hands `req.auth` (set by guardMiddleware) to the tools.
app.post('/mcp', async (req, res) => {
  const server = buildServer()
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
  res.on('close', () => {
    transport.close()
    server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
})

const port = check ? 0 : Number(process.env.PORT ?? 3000)
const listener = app.listen(port, '127.0.0.1', async () => {
  const address = listener.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`
  if (!check) {
    console.log(`MCP server on ${base}/mcp; metadata at ${base}${guard.metadataPath()}`)
    return
  }
  try {
    await selfCheck(base)
  } finally {
    guard.onAudit(null)
    listener.close()
  }
})

/** --check: one call of each kind, printed one line each. */
/** @param {string} base */
async function selfCheck(base) {
  /** @type {Record<string, string>} */
  const tokens = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'tokens.json'), 'utf8'))
  const call = async (/** @type {string} */ label, /** @type {string | undefined} */ token, /** @type {unknown} */ body) => {
    /** @type {Record<string, string>} */
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (token) headers.authorization = `Bearer ${token}`
    const res = await fetch(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) })
    const text = await res.text()
    console.log(`${label}: ${res.status} ${text.slice(0, 120)}`)
    return text
  }
  const meta = await fetch(`${base}${guard.metadataPath()}`)
  console.log(`metadata: ${meta.status} ${JSON.stringify(await meta.json())}`)
  const tool = (/** @type {string} */ name) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } })
  await call('no token', undefined, tool('read_file'))
  await call('developer reads', tokens.developer, tool('read_file'))
  await call('developer writes', tokens.developer, tool('write_file'))
  await call('demo reads', tokens.demo, tool('read_file'))
  const listed = await call('developer lists', tokens.developer, { jsonrpc: '2.0', id: 2, method: 'tools/list' })
  /** @type {{ result: { tools: { name: string }[] } }} */
  const list = JSON.parse(listed)
  console.log(`developer sees: ${list.result.tools.map((t) => t.name).join(', ')}`)
}
