'use strict'
// Defect 7 of issue 13: however the package is installed into an
// application (an `npm pack` tarball, `npm link`, a `file:` dependency),
// `mcpguard/mcp` rejects with the SDK classes of the APPLICATION's copy of
// @modelcontextprotocol/sdk, so the SDK's requireBearerAuth answers an
// expired token with 401 and WWW-Authenticate (not 500). A linked or
// `file:` install sees this checkout, whose own node_modules holds another
// copy of the SDK (a dev dependency): the wrong one to take.
//
// Each mode installs into a scratch application in a temporary folder
// (npm, preferring its cache) that has its own express and SDK, then runs
// a CommonJS and an ESM server there and calls them.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { config, sign } = require('./helpers/scenario.js')

const PACKAGE = path.join(__dirname, '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const own = require(path.join(PACKAGE, 'package.json'))

let scratch
before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-install-'))
  fs.mkdirSync(path.join(scratch, 'global', 'lib', 'node_modules'), { recursive: true })
  fs.mkdirSync(path.join(scratch, 'global', 'bin'), { recursive: true })
})
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true })
})

function npm(args, cwd) {
  return execFileSync(NPM, [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // A private global prefix: `npm link` leaves the machine's alone.
    env: { ...process.env, npm_config_prefix: path.join(scratch, 'global'), npm_config_update_notifier: 'false' },
  })
}

const SERVER_CJS = `'use strict'
const express = require('express')
const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js')
const { Guard } = require('mcpguard')
const { createTokenVerifier } = require('mcpguard/mcp')
const { metadataHandler, guardMiddleware, keepRawBody } = require('mcpguard/express')
const guard = Guard.fromJson(process.env.GUARD_CONFIG)
const app = express()
app.use('/guarded', express.json({ verify: keepRawBody }), guardMiddleware(guard, { server: 'files' }), (req, res) => res.json({ clientId: req.auth.clientId }))
app.use(express.json())
app.get(guard.metadataPath(), metadataHandler(guard))
app.post('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() }), (req, res) => res.json({ clientId: req.auth.clientId }))
const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port))
`

const SERVER_ESM = `import express from 'express'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { Guard } from 'mcpguard'
import { createTokenVerifier } from 'mcpguard/mcp'
const guard = Guard.fromJson(process.env.GUARD_CONFIG)
const app = express()
app.use(express.json())
app.post('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() }), (req, res) => res.json({ clientId: req.auth.clientId }))
const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port))
`

/** A scratch application with its own express and SDK (the versions this package tests against). */
function application(name, mcpguardSpec) {
  const dir = path.join(scratch, name)
  fs.mkdirSync(dir)
  const dependencies = {
    express: own.devDependencies.express,
    '@modelcontextprotocol/sdk': own.devDependencies['@modelcontextprotocol/sdk'],
  }
  if (mcpguardSpec) dependencies.mcpguard = mcpguardSpec
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, dependencies }))
  fs.writeFileSync(path.join(dir, 'server.js'), SERVER_CJS)
  fs.writeFileSync(path.join(dir, 'server.mjs'), SERVER_ESM)
  npm(['install'], dir)
  return dir
}

/** Starts `script` in `dir`, sends an expired and a valid token, stops it. */
async function expiredTokenIs401(dir, script) {
  const child = spawn(process.execPath, [script], {
    cwd: dir,
    env: { ...process.env, GUARD_CONFIG: JSON.stringify(config()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (c) => (stderr += c))
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.once('data', (c) => resolve(Number(String(c).trim())))
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${stderr}`)))
    })
    const post = (token) =>
      fetch(`http://127.0.0.1:${port}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      })
    const expired = await post(sign({ exp: Math.floor(Date.now() / 1000) - 3600 }))
    assert.equal(expired.status, 401, `${script}: ${await expired.text()}`)
    assert.match(expired.headers.get('www-authenticate'), /error="invalid_token".*resource_metadata=/)
    const ok = await post(sign())
    assert.equal(ok.status, 200)
    assert.equal((await ok.json()).clientId, 'cli-1')
    if (script === 'server.js') {
      // The Express drop-in from the installed package: 401 without a
      // token, the principal through with one.
      const guarded = (headers) =>
        fetch(`http://127.0.0.1:${port}/guarded`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}',
        })
      const refused = await guarded({})
      assert.equal(refused.status, 401)
      assert.match(refused.headers.get('www-authenticate'), /resource_metadata=/)
      const admitted = await guarded({ authorization: `Bearer ${sign()}` })
      assert.equal(admitted.status, 200, await admitted.clone().text())
      assert.equal((await admitted.json()).clientId, 'cli-1')
    }
  } finally {
    child.kill()
  }
}

async function bothHosts(dir) {
  // The scratch application's SDK is its own, not this checkout's.
  const sdk = fs.realpathSync(path.join(dir, 'node_modules', '@modelcontextprotocol', 'sdk'))
  assert.ok(!sdk.startsWith(fs.realpathSync(PACKAGE)))
  await expiredTokenIs401(dir, 'server.js')
  await expiredTokenIs401(dir, 'server.mjs')
}

test('an npm pack tarball holds the compiled addon and works in an application', async () => {
  const out = npm(['pack', '--pack-destination', scratch, '--json'], PACKAGE)
  const [packed] = JSON.parse(out)
  const files = packed.files.map((f) => f.path)
  assert.ok(
    files.some((f) => f.endsWith('.node')),
    `the tarball must hold the addon: ${files.join(', ')}`,
  )
  for (const f of ['index.js', 'mcp.js', 'mcp.mjs', 'mcp-verifier.js', 'express.js', 'native.js']) assert.ok(files.includes(f), f)
  const dir = application('from-tarball', `file:${path.join(scratch, packed.filename)}`)
  assert.ok(!fs.lstatSync(path.join(dir, 'node_modules', 'mcpguard')).isSymbolicLink())
  await bothHosts(dir)
  quickStarts(dir)
})

/** The quick start from the installed package, as CommonJS and as ESM: the pinned output. */
function quickStarts(dir) {
  const examples = path.join(PACKAGE, '..', '..', 'examples')
  const here = path.join(dir, 'examples')
  fs.mkdirSync(path.join(here, 'node'), { recursive: true })
  for (const f of ['guard.json', 'tokens.json', 'jwks.json']) fs.copyFileSync(path.join(examples, f), path.join(here, f))
  const cjs = fs.readFileSync(path.join(examples, 'node', 'quickstart.js'), 'utf8')
  fs.writeFileSync(path.join(here, 'node', 'quickstart.js'), cjs)
  const esm = cjs
    .replace("'use strict'", '')
    .replace("const fs = require('node:fs')", "import fs from 'node:fs'")
    .replace("const path = require('node:path')", "import path from 'node:path'")
    .replace("const { Guard, ManualClock } = require('mcpguard')", "import { Guard, ManualClock } from 'mcpguard'")
    .replaceAll('__dirname', 'import.meta.dirname')
  assert.ok(!/require\(/.test(esm), 'the ESM quick start must not require()')
  fs.writeFileSync(path.join(here, 'node', 'quickstart.mjs'), esm)
  const expected = fs.readFileSync(path.join(examples, 'quickstart.expected'), 'utf8')
  for (const script of ['quickstart.js', 'quickstart.mjs']) {
    const out = execFileSync(process.execPath, [path.join(here, 'node', script)], { cwd: dir, encoding: 'utf8' })
    assert.equal(out, expected, `${script} from the tarball`)
  }
}

test('npm link: the application resolves mcpguard to this checkout, and 401s still hold', async () => {
  const dir = application('linked')
  npm(['link', PACKAGE], dir)
  assert.equal(fs.realpathSync(path.join(dir, 'node_modules', 'mcpguard')), fs.realpathSync(PACKAGE))
  await bothHosts(dir)
})

test('a file: dependency on this checkout: 401s still hold', async () => {
  const dir = application('file-dependency', `file:${PACKAGE}`)
  assert.equal(fs.realpathSync(path.join(dir, 'node_modules', 'mcpguard')), fs.realpathSync(PACKAGE))
  await bothHosts(dir)
})
