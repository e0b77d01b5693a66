'use strict'
// Test certificates made with the `openssl` command in a fresh directory,
// as the Rust tests make theirs with the test kit: CAs, and certificates
// for `localhost` and 127.0.0.1 that a CA signed, for a server or a client.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

class Certificates {
  /** A fresh directory under the system's temporary one, named from `prefix`. */
  constructor(prefix) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  }

  /** The path of file `name` in the directory. */
  file(name) {
    return path.join(this.dir, name)
  }

  #openssl(...args) {
    execFileSync('openssl', args, { stdio: 'pipe' })
  }

  /** Makes CA `name` (files `<name>-ca.pem`, `<name>-ca.key`); its certificate, PEM. */
  ca(name) {
    this.#openssl('req', '-x509', ...EC, '-keyout', this.file(`${name}-ca.key`), '-out', this.file(`${name}-ca.pem`),
      '-days', '1', '-subj', `/CN=mcpguard node ${name} CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return fs.readFileSync(this.file(`${name}-ca.pem`), 'utf8')
  }

  /**
   * Makes certificate `name` (files `<name>.pem`, `<name>.key`) that CA `by`
   * signed, for `usage` (`serverAuth` or `clientAuth`); its certificate and
   * key, PEM.
   */
  leaf(name, by, usage) {
    this.#openssl('req', '-new', ...EC, '-keyout', this.file(`${name}.key`), '-out', this.file(`${name}.csr`), '-subj', '/CN=localhost')
    fs.writeFileSync(this.file(`${name}.ext`), [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${usage}`,
    ].join('\n'))
    this.#openssl('x509', '-req', '-in', this.file(`${name}.csr`), '-CA', this.file(`${by}-ca.pem`), '-CAkey', this.file(`${by}-ca.key`),
      '-CAcreateserial', '-out', this.file(`${name}.pem`), '-days', '1', '-extfile', this.file(`${name}.ext`))
    return { cert: fs.readFileSync(this.file(`${name}.pem`), 'utf8'), key: fs.readFileSync(this.file(`${name}.key`), 'utf8') }
  }

  /** Removes the directory. */
  remove() {
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

module.exports = { Certificates }
