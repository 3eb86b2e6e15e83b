import { get } from 'node:http'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ReadGate } from '../../server/auth/read-gate.ts'
import { startTestServer, type TestServer } from '../helpers/server.ts'

test('a token runs its share of reads, the next ones wait in order, beyond that it is refused', async () => {
  const gate = new ReadGate(2, 1)
  const first = await gate.acquire('t')
  const second = await gate.acquire('t')
  expect(first).toBeTypeOf('function')
  expect(second).toBeTypeOf('function')
  let thirdGot: (() => void) | undefined
  const third = gate.acquire('t').then((release) => {
    thirdGot = release
    return release
  })
  // the one waiting place is taken: refused at once
  expect(await gate.acquire('t')).toBeUndefined()
  // another token is not held up
  const other = await gate.acquire('u')
  expect(other).toBeTypeOf('function')
  await Promise.resolve()
  expect(thirdGot).toBeUndefined()
  first!()
  first!() // (a second release gives nothing back twice)
  expect(await third).toBeTypeOf('function')
  second!()
  thirdGot!()
  other!()
  expect(gate.size).toBe(0)
})

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
  await server.ingest([
    {
      event_id: 'gate-start',
      type: 'stream_start',
      stream_id: 'gate',
      ts: Date.now(),
      creator_id: 'gate-creator',
    },
  ])
})
afterAll(() => server.close())

test("one token's flood of reads runs 8 at a time, in turn; another token is served meanwhile", async () => {
  const flooder = server.creatorToken('gate-creator')
  const ask = (token: string) =>
    fetch(`${server.url}/v1/streams/gate/series?step=1s`, { headers: { authorization: `Bearer ${token}` } })
  const flood = Array.from({ length: 300 }, () => ask(flooder))
  const other = await ask(server.opsToken)
  expect(other.status).toBe(200)
  const answers = await Promise.all(flood)
  // all answered (300 is well within the 1 000 that may wait), never more than 8 at once
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200))
  expect(server.app.readGate.peak).toBe(8)
  await Promise.all(answers.map((r) => r.arrayBuffer()))
  // every slot is given back
  expect(server.app.readGate.size).toBe(0)
})

test('reads whose client left while they waited are not run', async () => {
  const abandoned = () =>
    Number(/^livewall_read_abandoned_total (\d+)$/m.exec(server.app.registry.render())?.[1] ?? 0)
  const before = abandoned()
  const token = server.creatorToken('gate-creator')
  // The token's 8 slots held here, so the requests below wait their turn...
  const held = await Promise.all(Array.from({ length: 8 }, () => server.app.readGate.acquire(token)))
  // (a connection each, so every one reaches the server)
  const asked = Array.from({ length: 20 }, () => {
    const request = get(`${server.url}/v1/streams/gate/series?step=1s`, {
      agent: false,
      headers: { authorization: `Bearer ${token}` },
    })
    const answer = new Promise((resolve) => {
      request.on('response', () => resolve('answered'))
      request.on('error', () => resolve('gone'))
    })
    return { request, answer }
  })
  await expect.poll(() => server.app.readGate.waitingFor(token)).toBe(20)
  // ...and their clients give up meanwhile.
  for (const { request } of asked) request.destroy()
  expect(await Promise.all(asked.map((a) => a.answer))).toEqual(asked.map(() => 'gone'))
  for (const release of held) release!()
  // Each got its turn, found its client gone, and ran nothing.
  await expect.poll(() => abandoned() - before).toBe(20)
  await expect.poll(() => server.app.readGate.size).toBe(0)
  const again = await fetch(`${server.url}/v1/streams/gate/series?step=1s`, {
    headers: { authorization: `Bearer ${token}` },
  })
  expect(again.status).toBe(200)
})

test('a read whose client leaves while it runs keeps its slot until the read is done', async () => {
  const token = server.creatorToken('gate-creator')
  // A statement ahead of it in the engine session the reads run on: the read below is
  // inside its handler (its slot taken) and waits for the engine.
  const blocker = server.app.clickhouse.query({
    query: 'SELECT sleepEachRow(1) FROM numbers(2) SETTINGS max_block_size = 2',
    format: 'JSONEachRow',
  })
  const request = get(`${server.url}/v1/streams/gate/series?step=1s`, {
    agent: false,
    headers: { authorization: `Bearer ${token}` },
  })
  const gone = new Promise((resolve) => request.on('error', resolve))
  await expect.poll(() => server.app.readGate.size).toBe(1)
  request.destroy()
  await gone
  // The client is gone and the read still runs: its slot is still taken. (Freed at the
  // hang-up, a token could keep any number of reads running by asking and leaving.)
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(server.app.readGate.size).toBe(1)
  await (await blocker).json()
  await expect.poll(() => server.app.readGate.size).toBe(0)
})
