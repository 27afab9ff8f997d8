// Pebble (Let's Encrypt's ACME test CA) and pebble-challtestsrv (its mock DNS), both from Debian,
// started for one test on free loopback ports with a generated config. Pebble's VA resolves every
// name through challtestsrv (default answer 127.0.0.1) and validates HTTP-01 on `httpPort`, which
// the test points at the gateway's cleartext listener. Pebble serves its directory over TLS with a
// certificate from a test CA (caFile); issued certificates chain to the root at rootsUrl.
// PEBBLE_VA_NOSLEEP=1: no random validation delays. PEBBLE_WFE_NONCEREJECT=0: no random badNonce
// rejections (acme-client retries them, but a test should not depend on it).
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { createPki } from './pki.js'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'

export interface Pebble {
  directory: string
  /** PEM file of the CA that signs pebble's own HTTPS certificate (acme.ca_file). */
  caFile: string
  /** Pebble's own HTTPS certificate (localhost, 127.0.0.1) and key, for servers posing beside it. */
  tls: { certFile: string; keyFile: string }
  /** The root that issued certificates chain to (PEM). */
  root(): Promise<string>
  /** challtestsrv management API, e.g. POST /set-txt. */
  challtestUrl: string
  dnsPort: number
  stdout(): string
  close(): Promise<void>
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, sink: { out: string }): ChildProcess {
  const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  c.stdout!.on('data', (d: Buffer) => (sink.out += d.toString()))
  c.stderr!.on('data', (d: Buffer) => (sink.out += d.toString()))
  return c
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  await exited
}

export interface PebbleOptions {
  /** Where Pebble's VA sends HTTP-01 validations (127.0.0.1:<httpPort>). */
  httpPort: number
  /** Where it sends TLS-ALPN-01 validations (default 5001). */
  tlsPort?: number
  env?: Record<string, string>
  /** External Account Binding required, with these kid → HMAC keys. */
  eab?: Record<string, string>
  /** Lifetime of the certificates it issues, in seconds (default: Pebble's own, years): a short one brings a renewal due within a test. */
  certificateValiditySeconds?: number
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const pki = await createPki()
  const ca = await pki.ca('Pebble WFE test CA')
  const wfe = await ca.issue({ names: ['localhost'], sans: ['IP:127.0.0.1'], key: 'ec' })
  const [port, mgmt, challMgmt, dnsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const cfg = join(pki.dir, 'pebble.json')
  await writeFile(
    cfg,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: wfe.chainFile,
        privateKey: wfe.keyFile,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort ?? 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: opts.eab !== undefined,
        ...(opts.eab === undefined ? {} : { externalAccountMACKeys: opts.eab }),
        ...(opts.certificateValiditySeconds === undefined ? {} : { certificateValidityPeriod: opts.certificateValiditySeconds }),
      },
    }),
  )
  const sink = { out: '' }
  const chall = spawnLogged(
    'pebble-challtestsrv',
    ['-management', `127.0.0.1:${challMgmt}`, '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
    process.env,
    sink,
  )
  const pebble = spawnLogged('pebble', ['-config', cfg, '-dnsserver', `127.0.0.1:${dnsPort}`], { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...opts.env }, sink)
  const dispatcher = new Agent({ connect: { ca: ca.cert } })
  const close = async (): Promise<void> => {
    await Promise.all([stop(pebble), stop(chall)])
    await dispatcher.close()
    await pki.remove()
  }
  try {
    await pollUntil(
      async () => {
        if (pebble.exitCode !== null) throw new Error(`pebble exited: ${sink.out}`)
        const r = await request(`https://127.0.0.1:${port}/dir`, { dispatcher })
        await r.body.dump()
        const c = await request(`http://127.0.0.1:${challMgmt}/`)
        await c.body.dump()
        return r.statusCode === 200
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'pebble directory' },
    )
  } catch (err) {
    await close()
    throw err
  }
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    caFile: ca.certFile,
    tls: { certFile: wfe.chainFile, keyFile: wfe.keyFile },
    async root() {
      const r = await request(`https://127.0.0.1:${mgmt}/roots/0`, { dispatcher })
      return r.body.text()
    },
    challtestUrl: `http://127.0.0.1:${challMgmt}`,
    dnsPort,
    stdout: () => sink.out,
    close,
  }
}
