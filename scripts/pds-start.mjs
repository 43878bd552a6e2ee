// A real Bluesky PDS on 127.0.0.1 for autoposter's tests, fully offline.
//
// Run with Node >= 22 from the folder scripts/pds-setup.sh prepared (it copies
// this file there):   node pds-start.mjs DATA_DIR
//
// Starts an in-memory PLC directory (@did-plc/server) and an @atproto/pds on
// free ports of 127.0.0.1, creates one account (handle, email, password; invite
// codes off) and an app password for it, then prints ONE line on stdout:
//
//   AUTOPOSTER_PDS {"url": ..., "handle": ..., "did": ..., "app_password": ..., "plc": ...}
//
// and serves until its standard input closes or it gets SIGTERM/SIGINT. All
// state lives in DATA_DIR (the caller removes it). Nothing listens elsewhere
// than 127.0.0.1, and nothing is fetched from the network.

import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { once } from 'node:events'

process.env.LOG_ENABLED = process.env.LOG_ENABLED ?? 'false'

const { PDS, envToCfg, envToSecrets } = await import('@atproto/pds')
const plcModule = await import('@did-plc/server')
const { PlcServer, Database } = plcModule.default ?? plcModule

const dataDir = process.argv[2]
if (!dataDir) {
  console.error('usage: node pds-start.mjs DATA_DIR')
  process.exit(2)
}
fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })

const freePort = async () => {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

// The PLC directory, in memory: DIDs are registered here by the PDS.
const plc = PlcServer.create({ db: Database.mock() })
const plcServer = plc.app.listen(0, '127.0.0.1')
await once(plcServer, 'listening')
const plcUrl = `http://127.0.0.1:${plcServer.address().port}`

const port = await freePort()
const cfg = envToCfg({
  port,
  hostname: 'localhost', // public URL http://localhost:PORT, as the PDS's dev setup does
  devMode: true,
  dataDirectory: dataDir,
  blobstoreDiskLocation: path.join(dataDir, 'blobs'),
  didPlcUrl: plcUrl,
  inviteRequired: false,
  serviceHandleDomains: ['.test'],
  rateLimitsEnabled: false,
  crawlers: [],
})
const secrets = envToSecrets({
  jwtSecret: crypto.randomBytes(16).toString('hex'),
  adminPassword: crypto.randomBytes(16).toString('hex'),
  plcRotationKeyK256PrivateKeyHex: crypto.randomBytes(32).toString('hex'),
})
const pds = await PDS.create(cfg, secrets)
// PDS.start() would listen on every interface; the same steps, on 127.0.0.1 only.
await pds.ctx.sequencer.start()
const server = pds.app.listen(port, '127.0.0.1')
server.keepAliveTimeout = 90_000
await once(server, 'listening')
const url = `http://127.0.0.1:${port}`

const xrpc = async (method, body, token) => {
  const res = await fetch(`${url}/xrpc/${method}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  })
  const data = await res.json()
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(data)}`)
  return data
}

const handle = 'mairie.test'
const account = await xrpc('com.atproto.server.createAccount', {
  handle,
  email: 'communication@mairie.example',
  password: crypto.randomBytes(12).toString('hex'),
})
const appPassword = await xrpc(
  'com.atproto.server.createAppPassword',
  { name: 'autoposter' },
  account.accessJwt,
)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  server.close()
  plcServer.close()
  server.closeAllConnections?.()
  plcServer.closeAllConnections?.()
  try {
    await pds.ctx.destroy()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()

process.stdout.write(
  'AUTOPOSTER_PDS ' +
    JSON.stringify({
      url,
      handle: account.handle,
      did: account.did,
      app_password: appPassword.password,
      plc: plcUrl,
    }) +
    '\n',
)
