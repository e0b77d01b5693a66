'use strict'
// Lets examples/node resolve `mcpguard` and the packages it is used with
// exactly as an installed application would, from this folder's
// node_modules: examples/node/node_modules -> bindings/node/node_modules,
// and node_modules/mcpguard -> this package. One copy of every package
// (the MCP SDK above all) is then loaded, so `instanceof` holds.
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const examples = path.join(root, '..', '..', 'examples', 'node')

function link(target, at) {
  try {
    if (fs.readlinkSync(at) === target) return
    fs.unlinkSync(at)
  } catch (e) {
    if (e.code !== 'ENOENT') throw e
  }
  fs.symlinkSync(target, at, 'junction')
}

fs.mkdirSync(path.join(root, 'node_modules'), { recursive: true })
link('..', path.join(root, 'node_modules', 'mcpguard'))
if (fs.existsSync(examples)) link(path.relative(examples, path.join(root, 'node_modules')), path.join(examples, 'node_modules'))
