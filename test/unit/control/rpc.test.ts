// control/rpc.ts: replies are tracked per worker slot. The cases are the ones the supervisor's
// earlier counting copies got wrong: a worker that exits after answering, or a worker that was
// never asked, must not complete a request whose other workers have not answered yet.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WorkerRpc, type RpcTarget } from '../../../src/control/rpc.js'

type Msg = { id: number; position: number }

function targets(...slots: number[]): { list: RpcTarget<Msg>[]; sent: Map<number, Msg> } {
  const sent = new Map<number, Msg>()
  return { list: slots.map((slot) => ({ slot, send: (m: Msg) => void sent.set(slot, m) })), sent }
}

/** Settled yet? (without waiting for the timeout) */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  void p.then(() => (done = true))
  await new Promise((r) => setImmediate(r))
  return done
}

test('a worker that answered and then exited does not complete the request early', async () => {
  const rpc = new WorkerRpc<Msg, string>()
  const { list, sent } = targets(0, 1)
  const p = rpc.ask(list, (id, position) => ({ id, position }), 60_000)
  const id = sent.get(0)!.id
  rpc.answer(0, id, 'zero')
  rpc.gone(0) // old code: left 2 → 1 (answer) → 0 (exit): completed without slot 1's reply
  assert.equal(await settled(p), false, 'slot 1 has not answered yet')
  rpc.answer(1, id, 'one')
  const a = await p
  assert.deepEqual([...a.replies], [[0, 'zero'], [1, 'one']])
  assert.deepEqual(a.missing, [])
  assert.equal(rpc.open, 0)
})

test('a worker that was never asked exits: no effect; one that was asked exits: counted missing', async () => {
  const rpc = new WorkerRpc<Msg, string>()
  const { list, sent } = targets(0, 1)
  const p = rpc.ask(list, (id, position) => ({ id, position }), 60_000)
  rpc.gone(7)
  assert.equal(await settled(p), false)
  rpc.answer(0, sent.get(0)!.id, 'zero')
  rpc.gone(1)
  const a = await p
  assert.deepEqual([...a.replies.keys()], [0])
  assert.deepEqual(a.missing, [1])
})

test('second answers, answers from slots not asked and stale ids are ignored; positions are given', async () => {
  const rpc = new WorkerRpc<Msg, string>()
  const { list, sent } = targets(3, 5)
  const p = rpc.ask(list, (id, position) => ({ id, position }), 60_000)
  assert.deepEqual([sent.get(3)!.position, sent.get(5)!.position], [0, 1])
  const id = sent.get(3)!.id
  rpc.answer(3, id, 'a')
  rpc.answer(3, id, 'again')
  rpc.answer(4, id, 'stranger')
  rpc.answer(5, id + 100, 'stale')
  assert.equal(await settled(p), false)
  rpc.answer(5, id, 'b')
  assert.deepEqual([...(await p).replies], [[3, 'a'], [5, 'b']])
})

test('no targets: an empty answer at once; a timeout names the slots that did not answer', async () => {
  const rpc = new WorkerRpc<Msg, string>()
  assert.deepEqual(await rpc.ask([], (id, position) => ({ id, position }), 10), { replies: new Map(), missing: [] })
  const { list } = targets(0, 1)
  const a = await rpc.ask(list, (id, position) => ({ id, position }), 20)
  assert.deepEqual(a.missing.sort(), [0, 1])
  assert.equal(rpc.open, 0)
})
