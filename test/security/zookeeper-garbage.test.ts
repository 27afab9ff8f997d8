// A ZooKeeper (or anything on its port) answering bytes that do not parse: node-zookeeper-client
// throws from its socket 'data' handler, which no caller can catch, so one bad reply used to take
// down the gateway's primary (config center) or a worker (discovery); seen after a real ZooKeeper
// restart as "Unknown code: 364052480". With upstream/discovery/zk-client.ts the connection is
// dropped and the client tries again; the process lives. A raw TCP server plays the bad server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { loadZookeeperClient, unparsableReplies } from '../../src/upstream/discovery/zk-client.js'
import { pollUntil } from '../helpers/poll.js'

test('a reply that does not parse drops the connection and the client reconnects; nothing crashes', async () => {
  let connections = 0
  const server = net.createServer((socket) => {
    connections++
    socket.on('error', () => undefined)
    // A framed reply far too short for a ConnectResponse: its parse throws inside the data handler.
    socket.once('data', () => socket.write(Buffer.from([0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const zk = await loadZookeeperClient()
  const client = zk.createClient(`127.0.0.1:${port}`, { sessionTimeout: 2000, spinDelay: 50, retries: 0 })
  const before = unparsableReplies
  try {
    client.connect()
    // Several bad replies in a row: each one cost a connection, none the process.
    await pollUntil(() => unparsableReplies >= before + 3 && connections >= 3, { what: 'three bad replies survived', timeoutMs: 20_000 })
    assert.ok(connections >= 3)
  } finally {
    client.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
