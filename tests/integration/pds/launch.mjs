// Test-only launcher: the official PDS (@atproto/pds) and an in-memory did:plc directory
// (@did-plc/server with Database.mock()) in one Node process, bound to 127.0.0.1 only.
//
// Run by tests/integration/localpds.py (pytest fixture, scripts/dev-pds). Configuration comes
// from the environment that script prepares (PDS_* variables, see ../../../shared/PDS.md for why
// each one is needed). When both servers answer, one JSON line goes to stdout:
//   {"ready": true, "pds_url": "http://localhost:PORT", "pds_port": PORT,
//    "plc_url": "http://localhost:PORT", "plc_port": PORT, "pid": PID}
// The process stops on SIGTERM / SIGINT, and also when its stdin closes, so that it never
// outlives the program that started it.

import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'
import plcServer from '@did-plc/server'

const HOST = '127.0.0.1'

/** Make an express app's listen() bind the loopback address only. */
function bindLoopback(app) {
  const listen = app.listen.bind(app)
  app.listen = (port, ...rest) => listen(port, HOST, ...rest)
}

/** A port that was free on 127.0.0.1 a moment ago (the PDS needs its port before it listens). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** GET http://127.0.0.1:port/path with a Host header (fetch cannot set Host). */
function getText(port, path, hostHeader) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: HOST, port, path, headers: { host: hostHeader }, timeout: 5000 },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode, body }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/**
 * Resolve the test's own host names (ATP_TEST_HOSTS, a JSON object name -> loopback address)
 * without DNS: the tests serve https pages under such names (a published OAuth client's
 * metadata document) on 127.0.0.1. Every other name is resolved as usual.
 */
function mapTestHosts() {
  const hosts = JSON.parse(process.env.ATP_TEST_HOSTS || '{}')
  for (const [name, address] of Object.entries(hosts)) {
    if (address !== '127.0.0.1' && address !== '::1') {
      throw new Error(`ATP_TEST_HOSTS may only map to loopback, not ${name} -> ${address}`)
    }
  }
  if (Object.keys(hosts).length === 0) return
  const family = (address) => (address.includes(':') ? 6 : 4)
  const lookup = dns.lookup.bind(dns)
  dns.lookup = (hostname, options, callback) => {
    if (typeof options === 'function') [callback, options] = [options, {}]
    const address = hosts[String(hostname).toLowerCase()]
    if (address === undefined) return lookup(hostname, options, callback)
    const answer = { address, family: family(address) }
    const all = typeof options === 'object' && options?.all
    process.nextTick(() =>
      all ? callback(null, [answer]) : callback(null, answer.address, answer.family),
    )
  }
  const lookupPromise = dns.promises.lookup.bind(dns.promises)
  dns.promises.lookup = async (hostname, options) => {
    const address = hosts[String(hostname).toLowerCase()]
    if (address === undefined) return lookupPromise(hostname, options)
    const answer = { address, family: family(address) }
    return typeof options === 'object' && options?.all ? [answer] : answer
  }
}

async function main() {
  mapTestHosts()
  const plcDb = plcServer.Database.mock()
  const plc = plcServer.PlcServer.create({
    db: plcDb,
    port: Number(process.env.ATP_PLC_PORT || 0),
  })
  bindLoopback(plc.app)
  const plcHttp = await plc.start()
  const plcPort = plcHttp.address().port

  const pdsPort = Number(process.env.PDS_PORT || 0) || (await freePort())
  process.env.PDS_PORT = String(pdsPort)
  // A host name, not an IP literal: the PDS refuses to fetch DID documents from IP hosts.
  process.env.PDS_DID_PLC_URL = `http://localhost:${plcPort}`

  const env = readEnv()
  const cfg = envToCfg(env)
  const secrets = envToSecrets(env)
  const pds = await PDS.create(cfg, secrets)
  bindLoopback(pds.app)

  // Handles under the service domains (".test") have no DNS: resolve them through this PDS's
  // own /.well-known/atproto-did, as the official dev environment does.
  const handles = pds.ctx.idResolver.handle
  const resolveElsewhere = handles.resolve.bind(handles)
  const domains = pds.ctx.cfg.identity.serviceHandleDomains
  handles.resolve = async (handle) => {
    if (!domains.some((domain) => handle.endsWith(domain))) return resolveElsewhere(handle)
    try {
      const res = await getText(pdsPort, '/.well-known/atproto-did', handle)
      const did = res.body.trim()
      return res.status === 200 && did.startsWith('did:') ? did : undefined
    } catch {
      return undefined
    }
  }

  await pds.start()

  let stopping = false
  const stop = async (code) => {
    if (stopping) return
    stopping = true
    try {
      await pds.destroy()
      await plc.destroy()
    } catch (err) {
      process.stderr.write(`error while stopping: ${err?.stack ?? err}\n`)
    }
    process.exit(code)
  }
  process.on('SIGTERM', () => stop(0))
  process.on('SIGINT', () => stop(0))
  if (process.env.ATP_EXIT_ON_STDIN_EOF === '1') {
    process.stdin.on('end', () => stop(0))
    process.stdin.on('error', () => stop(0))
    process.stdin.resume()
  }

  process.stdout.write(
    JSON.stringify({
      ready: true,
      pds_url: cfg.service.publicUrl,
      pds_port: pdsPort,
      plc_url: `http://localhost:${plcPort}`,
      plc_port: plcPort,
      pid: process.pid,
    }) + '\n',
  )
}

main().catch((err) => {
  process.stderr.write(`local PDS failed to start: ${err?.stack ?? err}\n`)
  process.exit(1)
})
