'use strict'
// The examples run as a user would run them, and the files napi generates
// are the committed ones.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const EXAMPLES = path.join(ROOT, '..', '..', 'examples')

// The examples resolve `mcpguard` and the SDK through the links `npm run
// build` makes; make them here too so the test does not depend on order.
execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'link-examples.js')])

test('the quick start prints exactly examples/quickstart.expected', () => {
  const out = execFileSync(process.execPath, [path.join(EXAMPLES, 'node', 'quickstart.js')], { encoding: 'utf8' })
  assert.equal(out, fs.readFileSync(path.join(EXAMPLES, 'quickstart.expected'), 'utf8'))
})

test('the Express example serves MCP behind the Guard', () => {
  const out = execFileSync(process.execPath, [path.join(EXAMPLES, 'node', 'express_server.js'), '--check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 30000,
  })
  assert.match(out, /^metadata: 200 /m)
  assert.match(out, /^no token: 401 /m)
  assert.match(out, /^developer reads: 200 .*hello, dev-alice/m)
  assert.match(out, /^developer writes: 403 .*write_file/m)
  assert.match(out, /^demo reads: 403 /m)
  // The developer has no tag:files-write: write_file is not listed.
  assert.match(out, /^developer lists: 200 /m)
  assert.match(out, /^developer sees: read_file$/m)
})

test('a fresh napi build generates the committed native.js and native.d.ts', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpguard-napi-'))
  try {
    const cli = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
    execFileSync(process.execPath, [cli, 'build', '--platform', '--output-dir', out, '--js', 'native.js', '--dts', 'native.d.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    for (const file of ['native.js', 'native.d.ts']) {
      const fresh = fs.readFileSync(path.join(out, file), 'utf8')
      const committed = fs.readFileSync(path.join(ROOT, file), 'utf8')
      assert.equal(committed, fresh, `${file} differs from a fresh build: run \`npm run build\` and commit it`)
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
  }
})
