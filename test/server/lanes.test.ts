import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { scopedConnection } from '../../server/storage/connection.ts'
import { closeEmbeddedClients, startTestServer, type TestServer, testDataDir } from '../helpers/server.ts'

// Two group commits may run side by side, each in its own engine session. A commit is held
// in the engine here on purpose (a view that sleeps on one event_id), so that what the
// tests send meanwhile meets a commit in flight.

/** Events whose id starts so hold their commit in the engine for 1.5 s. */
const SLOW = 'slow-'
let server: TestServer
let seq = 0
const view = (stream: string, fields: Record<string, unknown> = {}) => ({
  event_id: `lane-${++seq}`,
  type: 'view_start',
  stream_id: stream,
  ts: Date.now(),
  viewer_id: `v-${seq}`,
  ...fields,
})
const order = (stream: string, orderId: string, amount: string) => ({
  event_id: `lane-${++seq}`,
  type: 'order_paid',
  stream_id: stream,
  ts: Date.now(),
  viewer_id: 'buyer',
  product_id: 'p1',
  order_id: orderId,
  amount,
})

beforeAll(async () => {
  server = await startTestServer({ env: { INGEST_COMMIT_LANES: '2' } })
  const client = createClient({
    connection: scopedConnection(createChdbConnection({ path: testDataDir() }), server.database) as never,
  })
  await client.command({ query: 'CREATE TABLE slow_sink (x UInt8) ENGINE = Null' })
  await client.command({
    query: `CREATE MATERIALIZED VIEW slow_mv TO slow_sink AS
            SELECT toUInt8(sleepEachRow(1.5)) AS x FROM events WHERE startsWith(event_id, '${SLOW}')`,
  })
  await client.close()
})
afterAll(async () => {
  await server.close()
  await closeEmbeddedClients()
})

/** Sends `events` once the commit holding SLOW_ID is in the engine; resolves with both answers. */
async function besideSlowCommit(slow: unknown[], events: unknown[]) {
  const order: string[] = []
  const held = server.ingest(slow).then((answer) => {
    order.push('slow')
    return answer
  })
  // The slow request's commit starts within the flush window (5 ms here).
  await new Promise((resolve) => setTimeout(resolve, 300))
  const beside = server.ingest(events).then((answer) => {
    order.push('beside')
    return answer
  })
  return { slow: await held, beside: await beside, order }
}

test('a request that arrives while a commit runs is committed beside it, not after it', async () => {
  const { slow, beside, order } = await besideSlowCommit(
    [view('lanes-a', { event_id: `${SLOW}1` })],
    [view('lanes-b'), view('lanes-b')],
  )
  expect(slow.body).toMatchObject({ accepted: 1 })
  expect(beside.body).toMatchObject({ accepted: 2 })
  expect(order).toEqual(['beside', 'slow'])
  expect((await server.get('/v1/streams/lanes-b')).body.totals.views).toBe(2)
}, 30_000)

test('a retry of the commit in flight waits for it, and counts once', async () => {
  const batch = [view('lanes-c', { event_id: `${SLOW}2` }), view('lanes-c'), order('lanes-c', 'lo-1', '4.50')]
  const { slow, beside, order: answered } = await besideSlowCommit(batch, batch)
  expect((await server.get('/v1/streams/lanes-c')).body.totals).toMatchObject({
    views: 2,
    orders: 1,
    gmv: 4.5,
  })
  expect([slow.body, beside.body]).toMatchObject([
    { accepted: 3, duplicates: 0 },
    { accepted: 0, duplicates: 3 },
  ])
  expect(answered).toEqual(['slow', 'beside'])
}, 30_000)

test('an order_paid repeating an order of the commit in flight, under a new event_id, counts once', async () => {
  const {
    slow,
    beside,
    order: answered,
  } = await besideSlowCommit(
    [view('lanes-d', { event_id: `${SLOW}3` }), order('lanes-d', 'lo-2', '10.00')],
    [order('lanes-e', 'lo-2', '99.00'), view('lanes-e')],
  )
  expect((await server.get('/v1/streams/lanes-e')).body.totals).toMatchObject({ orders: 0, views: 1 })
  expect((await server.get('/v1/streams/lanes-d')).body.totals).toMatchObject({ orders: 1, gmv: 10 })
  expect([slow.body, beside.body]).toMatchObject([{ accepted: 2 }, { accepted: 1, duplicates: 1 }])
  expect(answered).toEqual(['slow', 'beside'])
}, 30_000)
