// A tiny authoritative DNS server over UDP on a free loopback port, for discovery tests: answers A,
// AAAA and SRV from a mutable table (NXDOMAIN for unknown names), with the TTL the test sets.
// Node has no DNS server and no DNS-server package is installed; the wire format needed for these
// three record types is small (RFC 1035 §4, RFC 2782), so the real node:dns resolver (c-ares)
// talks to a real server here.
import dgram from 'node:dgram'

export type DnsRecord =
  | { type: 'A'; address: string; ttl: number }
  | { type: 'AAAA'; address: string; ttl: number }
  | { type: 'SRV'; target: string; port: number; priority: number; weight: number; ttl: number }

export interface DnsServer {
  port: number
  /** "127.0.0.1:<port>", for discovery.dns.servers. */
  server: string
  /** name (lower case, no trailing dot) → records. Mutate freely. */
  records: Map<string, DnsRecord[]>
  /** Queries answered so far, by "name TYPE". */
  queries: string[]
  close(): Promise<void>
}

const TYPES: Record<number, DnsRecord['type']> = { 1: 'A', 28: 'AAAA', 33: 'SRV' }
const CODES = { A: 1, AAAA: 28, SRV: 33 } as const

function readName(buf: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = []
  while (buf[off]! !== 0) {
    const len = buf[off]!
    labels.push(buf.subarray(off + 1, off + 1 + len).toString('ascii'))
    off += 1 + len
  }
  return { name: labels.join('.').toLowerCase(), end: off + 1 }
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p !== '')
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])])
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined]
  const h = head === '' ? [] : head!.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const b = Buffer.alloc(16)
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2))
  return b
}

function answer(rec: DnsRecord): Buffer {
  let rdata: Buffer
  if (rec.type === 'A') rdata = Buffer.from(rec.address.split('.').map(Number))
  else if (rec.type === 'AAAA') rdata = ipv6Bytes(rec.address)
  else {
    const head = Buffer.alloc(6)
    head.writeUInt16BE(rec.priority, 0)
    head.writeUInt16BE(rec.weight, 2)
    head.writeUInt16BE(rec.port, 4)
    rdata = Buffer.concat([head, encodeName(rec.target)])
  }
  const fixed = Buffer.alloc(12)
  fixed.writeUInt16BE(0xc00c, 0) // pointer to the question's name
  fixed.writeUInt16BE(CODES[rec.type], 2)
  fixed.writeUInt16BE(1, 4) // IN
  fixed.writeUInt32BE(rec.ttl, 6)
  fixed.writeUInt16BE(rdata.length, 10)
  return Buffer.concat([fixed, rdata])
}

export async function startDns(): Promise<DnsServer> {
  const records = new Map<string, DnsRecord[]>()
  const queries: string[] = []
  const sock = dgram.createSocket('udp4')
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return
    const { name, end } = readName(msg, 12)
    const qtype = msg.readUInt16BE(end)
    const type = TYPES[qtype]
    queries.push(`${name} ${type ?? qtype}`)
    const known = records.get(name)
    const recs = type === undefined ? [] : (known ?? []).filter((r) => r.type === type)
    const header = Buffer.alloc(12)
    header.writeUInt16BE(msg.readUInt16BE(0), 0) // id
    // QR, AA, RD copied; RCODE 3 (NXDOMAIN) for unknown names, 0 (NOERROR, maybe no data) otherwise.
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (known === undefined ? 3 : 0), 2)
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(recs.length, 6)
    const question = msg.subarray(12, end + 4)
    sock.send(Buffer.concat([header, question, ...recs.map(answer)]), rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  const port = sock.address().port
  return {
    port,
    server: `127.0.0.1:${port}`,
    records,
    queries,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  }
}
