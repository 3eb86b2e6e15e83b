import { describe, expect, test } from 'vitest'
import type { SimEvent, WireEvent } from '../../scripts/sim/events.ts'
import { formatCents, parseCents } from '../../scripts/sim/money.ts'
import { summaryLine } from '../../scripts/sim/progress.ts'
import { type IngestAck, Tally } from '../../scripts/sim/tally.ts'

const TS = Date.parse('2025-03-14T18:00:00.000Z')
let seq = 0

function sim(fields: Partial<WireEvent> & { type: string }, valid = true): SimEvent {
  const event: WireEvent = { event_id: `e-${++seq}`, stream_id: 's-1', ts: TS, ...fields }
  return { event, valid, note: valid ? 'traffic' : 'invalid', emittedAt: TS }
}

function ack(accepted: number, duplicates = 0, rejected = 0): IngestAck {
  return { accepted, duplicates, rejected, errors: [] }
}

describe('Tally', () => {
  test('counts views, distinct viewers, orders, items, gmv and refunds of acknowledged events', () => {
    const tally = new Tally()
    const batch = [
      sim({ type: 'view_start', viewer_id: 'v-1' }),
      sim({ type: 'view_start', viewer_id: 'v-1' }),
      sim({ type: 'view_start', viewer_id: 'v-2' }),
      sim({
        type: 'order_paid',
        viewer_id: 'v-1',
        product_id: 'p',
        order_id: 'o-1',
        amount: 0.1,
        quantity: 2,
      }),
      sim({ type: 'order_paid', viewer_id: 'v-2', product_id: 'p', order_id: 'o-2', amount: '0.20' }),
      sim({ type: 'order_refunded', product_id: 'p', order_id: 'o-1', amount: 0.05 }),
      sim({ type: 'like', viewer_id: 'v-2', quantity: 7 }),
    ]
    tally.recordAck(batch, ack(7))
    expect(tally.stream('s-1')).toMatchObject({
      views: 3,
      viewers: 2,
      orders: 2,
      items: 3,
      buyers: 2,
      gmv: '0.30',
      gmvCents: 30n,
      refunds: '0.05',
      net_gmv: '0.25',
      likes: 7,
    })
    expect(tally.counters()).toMatchObject({ acked: 7, accepted: 7, inconsistencies: 0 })
  })

  test('an event resent with the same event_id counts once, in the same request or a later one', () => {
    const tally = new Tally()
    const view: SimEvent = { ...sim({ type: 'view_start', viewer_id: 'v-1' }), sentTwice: true }
    tally.recordAck([view, view], ack(1, 1))
    tally.recordAck([view], ack(0, 1))
    expect(tally.stream('s-1')?.views).toBe(1)
    expect(tally.counters().expected).toEqual({ accepted: 1, duplicates: 2, rejected: 0 })
    expect(tally.counters().inconsistencies).toBe(0)
  })

  test('order_paid repeated with a new event_id counts once and its first amount stands', () => {
    const tally = new Tally()
    const order = { type: 'order_paid', viewer_id: 'v-1', product_id: 'p', order_id: 'o-1' }
    tally.recordAck([sim({ ...order, amount: '10.00', quantity: 1 })], ack(1))
    tally.recordAck([sim({ ...order, amount: '99.00', quantity: 3 })], ack(1))
    expect(tally.stream('s-1')).toMatchObject({ orders: 1, items: 1, gmv: '10.00' })
  })

  test('invalid events count nowhere but in the expected rejections', () => {
    const tally = new Tally()
    tally.recordAck(
      [
        sim({ type: 'view_start', viewer_id: 'v-1' }),
        sim({ type: 'order_paid', product_id: 'p', order_id: 'o-9', amount: '5.00' }, false),
      ],
      ack(1, 0, 1),
    )
    expect(tally.stream('s-1')).toMatchObject({ views: 1, orders: 0, gmv: '0.00' })
    expect(tally.counters()).toMatchObject({ rejected: 1, expected: { rejected: 1 }, inconsistencies: 0 })
  })

  test('a request that was never acknowledged counts nothing', () => {
    const tally = new Tally()
    const batch = [sim({ type: 'view_start', viewer_id: 'v-1' })]
    tally.recordFailure(batch)
    expect(tally.stream('s-1')).toBeUndefined()
    expect(tally.counters()).toMatchObject({ failedRequests: 1, failedEvents: 1, acked: 0 })
    // and when it is retried and acknowledged later, it counts then
    tally.recordAck(batch, ack(1))
    expect(tally.stream('s-1')?.views).toBe(1)
  })

  test('an answer whose counts do not add up to the request, or that rejects a valid event, is reported', () => {
    const tally = new Tally()
    const batch = [
      sim({ type: 'view_start', viewer_id: 'v-1' }),
      sim({ type: 'view_start', viewer_id: 'v-2' }),
    ]
    tally.recordAck(batch, ack(1))
    tally.recordAck([sim({ type: 'comment', viewer_id: 'v-1' })], {
      accepted: 0,
      duplicates: 0,
      rejected: 1,
      errors: [{ index: 0, message: 'viewer_id missing' }],
    })
    const c = tally.counters()
    expect(c.inconsistencies).toBe(2)
    expect(c.inconsistencyExamples[1]).toMatch(/viewer_id missing/)
  })

  test('a disagreement on rejections says how many were rejected and how many were sent invalid', () => {
    const tally = new Tally()
    const invalid = (n: number) =>
      Array.from({ length: n }, () => sim({ type: 'order_paid', order_id: 'o-x', amount: '1.999' }, false))
    tally.recordAck([sim({ type: 'view_start', viewer_id: 'v-1' }), ...invalid(3)], ack(3, 0, 1))
    tally.recordAck(invalid(1), ack(1, 0, 0))
    expect(tally.counters().inconsistencyExamples).toEqual([
      'server rejected 1 event, 3 were sent invalid',
      'server rejected 0 events, 1 was sent invalid',
    ])
  })

  test('compacting an ended stream keeps its counts', () => {
    const tally = new Tally()
    tally.recordAck(
      [sim({ type: 'view_start', viewer_id: 'v-1' }), sim({ type: 'view_start', viewer_id: 'v-2' })],
      ack(2),
      1000,
    )
    tally.recordAck([sim({ type: 'stream_end' })], ack(1), 2000)
    tally.compact(5000)
    expect(tally.stream('s-1')).toMatchObject({ views: 2, viewers: 2, ended: true })
  })
})

describe('money', () => {
  test('cents format and parse exactly, as strings and as JSON numbers', () => {
    for (let cents = 0; cents < 200_000; cents += 7) {
      const text = formatCents(cents)
      expect(parseCents(text)).toBe(BigInt(cents))
      // the JSON number for the amount has the same decimal text
      expect(parseCents(JSON.parse(JSON.stringify(Number(text))))).toBe(BigInt(cents))
    }
    expect(formatCents(5)).toBe('0.05')
    expect(formatCents(123456789012345n)).toBe('1234567890123.45')
    expect(parseCents('1.5')).toBe(150n)
    expect(parseCents('1.505')).toBeNull()
    expect(parseCents(1e21)).toBeNull()
  })
})

test('the summary gives three disagreements, one a line, and how many more', () => {
  const tally = new Tally()
  for (let i = 0; i < 5; i++)
    tally.recordAck([sim({ type: 'view_start', viewer_id: `v-${i}` })], ack(0, 0, 1))
  const line = summaryLine(tally.report(), {
    elapsedMs: 1000,
    retries: 0,
    sent: 5,
    droppedBudget: 0,
    currency: 'USD',
  })
  expect(line.split('\n').slice(1)).toEqual([
    'sim: 5 answers disagreed with what was sent, e.g.:',
    '  - server rejected 1 event, 0 were sent invalid',
    '  - server rejected 1 event, 0 were sent invalid',
    '  - server rejected 1 event, 0 were sent invalid',
    '  (and 2 more)',
  ])
})
