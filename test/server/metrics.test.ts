import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { METRICS } from '../../server/metrics/definitions.ts'
import { readSources } from '../../server/metrics/details.ts'
import { manualClock, startTestServer, type TestServer, wholeHourAgo } from '../helpers/server.ts'

// A small session whose every metric is worked out by hand below.
const T0 = wholeHourAgo(3)
const at = (seconds: number) => T0 + Math.round(seconds * 1000)
let n = 0
const ev = (type: string, seconds: number, fields: Record<string, unknown> = {}) => ({
  event_id: `m-${++n}`,
  type,
  stream_id: 'm1',
  ts: at(seconds),
  ...fields,
})

const firstBatch = [
  ev('stream_start', 0, {
    creator_id: 'c1',
    title: 'Spring drop',
    vertical: 'Fashion',
    campaign_id: 'camp1',
  }),
  ev('view_start', 1.2, { viewer_id: 'v1', source: 'for_you' }),
  ev('view_start', 1.8, { viewer_id: 'v2', source: 'search' }),
  ev('product_impression', 2.5, { product_id: 'p1' }),
  ev('product_impression', 2.6, { product_id: 'p1' }),
  ev('product_click', 3.0, { viewer_id: 'v1', product_id: 'p1' }),
  ev('add_to_cart', 4.0, { viewer_id: 'v1', product_id: 'p1' }),
  ev('order_paid', 5.0, { viewer_id: 'v1', product_id: 'p1', order_id: 'o1', amount: 19.99, quantity: 2 }),
  ev('view_end', 30.0, { viewer_id: 'v2' }),
  ev('marker', 60.0, { label: 'flash sale starts' }),
  ev('product_pin', 60.5, { product_id: 'p2' }),
  ev('product_impression', 61.0, { product_id: 'p2' }),
  ev('product_click', 62.0, { viewer_id: 'v2', product_id: 'p2' }),
  ev('order_paid', 63.0, { viewer_id: 'v2', product_id: 'p2', order_id: 'o2', amount: '5.01' }),
  // Same order under a new event_id: counts once, the first amount (5.01) stands.
  ev('order_paid', 63.5, { viewer_id: 'v3', product_id: 'p2', order_id: 'o2', amount: 100 }),
  ev('order_refunded', 64.0, { product_id: 'p1', order_id: 'o1', amount: '4.00' }),
  ev('view_start', 65.0, { viewer_id: 'v1', source: 'following' }),
  ev('comment', 66.0, { viewer_id: 'v1' }),
  ev('like', 67.0, { viewer_id: 'v1', quantity: 15 }),
  ev('share', 68.0, { viewer_id: 'v2' }),
  ev('follow', 69.0, { viewer_id: 'v1' }),
  ev('view_end', 70.0, { viewer_id: 'v1' }),
  ev('view_end', 70.5, { viewer_id: 'v1' }),
]
// Arrives after the rest but belongs to the first seconds of the stream.
const lateBatch = [
  ev('view_start', 2.2, { viewer_id: 'v3', source: 'ads' }),
  ev('order_paid', 3.5, { viewer_id: 'v3', product_id: 'p1', order_id: 'o3', amount: '10.00' }),
]

let server: TestServer
const clock = manualClock(at(600))

beforeAll(async () => {
  server = await startTestServer({ clock })
  expect((await server.ingest(firstBatch)).body).toMatchObject({ accepted: 22, duplicates: 1, rejected: 0 })
})
afterAll(() => server.close())

describe('metrics of SPEC §3 on a hand-computed session', () => {
  test('a late event lands in its own past bucket', async () => {
    const before = await server.get(
      '/v1/streams/m1/series?step=1m&metrics=views,online&from=' + T0 + '&to=' + at(120),
    )
    expect(before.body.views).toEqual([2, 1])
    expect(before.body.online).toEqual([1, 0])

    expect((await server.ingest(lateBatch)).body).toMatchObject({ accepted: 2, duplicates: 0 })
    const after = await server.get(
      '/v1/streams/m1/series?step=1m&metrics=views,online&from=' + T0 + '&to=' + at(120),
    )
    expect(after.body.views).toEqual([3, 1])
    expect(after.body.online).toEqual([2, 1])
  })

  test('totals since the stream began', async () => {
    const { status, body } = await server.get('/v1/streams/m1')
    expect(status).toBe(200)
    expect(body).toMatchObject({
      stream_id: 'm1',
      creator_id: 'c1',
      title: 'Spring drop',
      vertical: 'Fashion',
      campaign_id: 'camp1',
      status: 'ended', // newest event 70.5 s in, the clock at 600 s: more than 5 minutes of silence
      started_at: T0,
      last_event_at: at(70.5),
      ended_at: null,
    })
    expect(body.totals).toEqual({
      views: 4, // v1, v2, v3 (late), v1 again
      viewers: 3,
      online: 1, // 4 starts − 3 ends
      peak_online: 3, // 2 after 1 s, 3 after the late v3 at 2 s, 2 after 30 s, 3 after 65 s, 1 after 70 s
      impressions: 3,
      clicks: 2,
      ctr: 0.666667,
      carts: 1,
      orders: 3, // o1, o2 (once), o3
      items: 4, // 2 + 1 + 1
      buyers: 3, // v1, v2, v3
      gmv: 35, // 19.99 + 5.01 + 10.00
      refunds: 4,
      net_gmv: 31,
      conversion: 1, // 3 buyers / 3 viewers
      co_rate: 1.5, // 3 orders / 2 clicks
      gpm: 8750, // 35 / 4 views × 1000
      comments: 1,
      likes: 15,
      shares: 1,
      follows: 1,
    })
  })

  test('series at step 1m', async () => {
    const { body } = await server.get(`/v1/streams/m1/series?step=1m&from=${T0}&to=${at(120)}`)
    expect(body.step_ms).toBe(60_000)
    expect(body.t).toEqual([T0, T0 + 60_000])
    const minute = (i: number) =>
      Object.fromEntries(
        Object.entries(body)
          .filter(([, v]) => Array.isArray(v))
          .map(([k, v]) => [k, (v as unknown[])[i]]),
      )
    expect(minute(0)).toMatchObject({
      views: 3,
      viewers: 3,
      online: 2,
      // Three watched at once from second 2 (v3 came late) until v2 left at 30 s.
      peak_online: 3,
      impressions: 2,
      clicks: 1,
      ctr: 0.5,
      carts: 1,
      orders: 2,
      items: 3,
      buyers: 2,
      gmv: 29.99,
      refunds: 0,
      net_gmv: 29.99,
      conversion: 0.666667,
      co_rate: 2,
      gpm: 9996.67,
      comments: 0,
      likes: 0,
    })
    expect(minute(1)).toMatchObject({
      views: 1,
      viewers: 1,
      online: 1,
      peak_online: 3,
      impressions: 1,
      clicks: 1,
      ctr: 1,
      orders: 1,
      items: 1,
      buyers: 1,
      gmv: 5.01,
      refunds: 4,
      net_gmv: 1.01,
      conversion: 1,
      co_rate: 1,
      gpm: 5010,
      comments: 1,
      likes: 15,
      shares: 1,
      follows: 1,
    })
  })

  test("a bucket's peak_online is the same whatever the step and the chart's left edge", async () => {
    const peaks = async (query: string) =>
      (await server.get(`/v1/streams/m1/series?metrics=peak_online&${query}`)).body.peak_online
    // online: 2 at 1 s, 3 at 2 s, 2 at 30 s, 3 at 65 s, 1 at 70 s.
    expect(await peaks(`step=1m&from=${T0}&to=${at(120)}`)).toEqual([3, 3])
    expect(await peaks(`step=1m&from=${at(60)}&to=${at(120)}`)).toEqual([3])
    expect(await peaks(`step=5m&from=${T0}&to=${at(300)}`)).toEqual([3])
    expect(await peaks(`step=10s&from=${at(20)}&to=${at(40)}`)).toEqual([3, 3])
    expect((await server.get('/v1/streams/m1')).body.totals.peak_online).toBe(3)
  })

  test('series at step 1s is dense, with null ratios on empty buckets', async () => {
    const { body } = await server.get(
      `/v1/streams/m1/series?step=1s&metrics=views,online,clicks,ctr,orders,gmv,conversion,gpm&from=${T0}&to=${at(72)}`,
    )
    expect(body.t).toHaveLength(72)
    expect(body.t[1]).toBe(T0 + 1000)
    expect(body.views.slice(0, 4)).toEqual([0, 2, 1, 0])
    expect(body.online.slice(0, 4)).toEqual([0, 2, 3, 3])
    expect(body.orders[3]).toBe(1) // o3, late, at 3.5 s
    expect(body.gmv[3]).toBe(10)
    expect(body.gmv[5]).toBe(19.99)
    expect(body.online[30]).toBe(2)
    expect(body.online[31]).toBe(2) // an empty bucket keeps the running count
    expect(body.online[70]).toBe(1)
    expect(body.ctr[10]).toBeNull()
    expect(body.conversion[10]).toBeNull()
    expect(body.gpm[10]).toBeNull()
    expect(body.views.reduce((a: number, b: number) => a + b, 0)).toBe(4)
  })

  test('series at step 1s: every metric of chosen seconds, worked out by hand', async () => {
    // The 1 s buckets are read from their own rollup grain: each metric is checked there too.
    const { body } = await server.get(`/v1/streams/m1/series?step=1s&from=${T0}&to=${at(72)}`)
    // (every metric the API names; the expected values below are written out by hand)
    const bucket = (second: number) => Object.fromEntries(METRICS.map((m) => [m, body[m][second]]))
    const quiet = {
      views: 0,
      viewers: 0,
      impressions: 0,
      clicks: 0,
      ctr: null,
      carts: 0,
      orders: 0,
      items: 0,
      buyers: 0,
      gmv: 0,
      refunds: 0,
      net_gmv: 0,
      conversion: null,
      co_rate: null,
      gpm: null,
      comments: 0,
      likes: 0,
      shares: 0,
      follows: 0,
    }
    // 2.0–3.0 s: v3 comes (late), two impressions of p1 and no click (ctr 0, not null).
    // Online v1, v2, v3. (The late batch is sent by the first test of this file.)
    expect(bucket(2)).toEqual({
      ...quiet,
      views: 1,
      viewers: 1,
      impressions: 2,
      ctr: 0,
      // a second with viewers and no buyer: conversion and gpm are 0, not null
      conversion: 0,
      gpm: 0,
      online: 3,
      peak_online: 3,
    })
    // 3.0–4.0 s: v1 clicks p1; v3 pays o3 (10.00, late). No view, no impression in it.
    expect(bucket(3)).toEqual({
      ...quiet,
      clicks: 1,
      orders: 1,
      items: 1,
      buyers: 1,
      gmv: 10,
      net_gmv: 10,
      co_rate: 1,
      online: 3,
      peak_online: 3,
    })
    // 5.0–6.0 s: v1 pays o1, 2 items at 19.99 (a click was in another second: co_rate null).
    expect(bucket(5)).toEqual({
      ...quiet,
      orders: 1,
      items: 2,
      buyers: 1,
      gmv: 19.99,
      net_gmv: 19.99,
      online: 3,
      peak_online: 3,
    })
    // 63.0–64.0 s: o2 paid at 5.01; its repeat at 63.5 s (100, v3) does not count.
    expect(bucket(63)).toEqual({
      ...quiet,
      orders: 1,
      items: 1,
      buyers: 1,
      gmv: 5.01,
      net_gmv: 5.01,
      online: 2,
      peak_online: 3,
    })
    // 64.0–65.0 s: 4.00 refunded of o1: net GMV of that second is −4.00.
    expect(bucket(64)).toEqual({ ...quiet, refunds: 4, net_gmv: -4, online: 2, peak_online: 3 })
    // 65 s: v1 back; 67 s: a like of 15 taps; 70 s: v1 leaves twice (online 3 − 2).
    expect(bucket(65)).toEqual({
      ...quiet,
      views: 1,
      viewers: 1,
      conversion: 0,
      gpm: 0,
      online: 3,
      peak_online: 3,
    })
    expect(bucket(67)).toEqual({ ...quiet, likes: 15, online: 3, peak_online: 3 })
    expect(bucket(70)).toEqual({ ...quiet, online: 1, peak_online: 3 })
  })

  test('ratios are null when their denominator is 0', async () => {
    await server.ingest([
      { event_id: 'z1', type: 'comment', stream_id: 'quiet', ts: at(10), viewer_id: 'v9' },
    ])
    const { body } = await server.get('/v1/streams/quiet')
    expect(body.totals).toMatchObject({
      views: 0,
      ctr: null,
      conversion: null,
      co_rate: null,
      gpm: null,
      comments: 1,
      online: 0,
    })
    expect(body.vertical).toBe('Other') // no stream_start yet
  })

  test('products ranked by gmv, sources, markers in time order', async () => {
    const products = await server.get('/v1/streams/m1/products')
    expect(products.body.products).toEqual([
      {
        product_id: 'p1',
        impressions: 2,
        clicks: 1,
        carts: 1,
        orders: 2,
        items: 3,
        gmv: 29.99,
        ctr: 0.5,
        co_rate: 2,
      },
      {
        product_id: 'p2',
        impressions: 1,
        clicks: 1,
        carts: 0,
        orders: 1,
        items: 1,
        gmv: 5.01,
        ctr: 1,
        co_rate: 1,
      },
    ])
    // Each order goes to its buyer's latest view before it: o1 (v1, 5 s) to For You, o2 (v2)
    // to Search, o3 (v3, late) to Ads; v1's second view (Following, 65 s) came after o1.
    const sources = await server.get('/v1/streams/m1/sources')
    const source = (name: string, views: number, orders: number, gmv: number) => ({
      source: name,
      views,
      viewers: views,
      orders,
      buyers: orders,
      gmv,
      conversion: orders,
    })
    expect(sources.body).toEqual({
      sources: [
        source('ads', 1, 1, 10),
        source('following', 1, 0, 0),
        source('for_you', 1, 1, 19.99),
        source('search', 1, 1, 5.01),
      ],
      unattributed: { orders: 0, buyers: 0, gmv: 0 },
    })
    const markers = await server.get('/v1/streams/m1/markers')
    expect(markers.body.markers).toEqual([
      { ts: at(60), type: 'marker', product_id: '', label: 'flash sale starts' },
      { ts: at(60.5), type: 'product_pin', product_id: 'p2', label: '' },
    ])
  })

  test('pinned products’ funnels per bucket, in one read, aligned as the stream’s series', async () => {
    const range = `step=1m&from=${T0}&to=${at(120)}`
    const both = await server.get(`/v1/streams/m1/products/series?product_id=p1&product_id=p2&${range}`)
    expect(both.body).toEqual({
      stream_id: 'm1',
      step_ms: 60_000,
      from: T0,
      to: at(120),
      t: [T0, at(60)],
      products: [
        // o1 and the late o3
        {
          product_id: 'p1',
          impressions: [2, 0],
          clicks: [1, 0],
          carts: [1, 0],
          orders: [2, 0],
          items: [3, 0],
          gmv: [29.99, 0],
        },
        // p2's pin (60.5 s) is not a sale; its repeated order o2 counts once, at 5.01
        {
          product_id: 'p2',
          impressions: [0, 1],
          clicks: [0, 1],
          carts: [0, 0],
          orders: [0, 1],
          items: [0, 1],
          gmv: [0, 5.01],
        },
      ],
    })
    // By default the whole stream at 10 s, as /series; a product with no events is all zeros.
    const series = await server.get('/v1/streams/m1/series?metrics=orders')
    const whole = await server.get('/v1/streams/m1/products/series?product_id=p2&product_id=nothing')
    expect(whole.body.t).toEqual(series.body.t)
    const [p2, nothing] = whole.body.products
    expect(p2.orders.reduce((a: number, b: number) => a + b, 0)).toBe(1)
    expect(nothing.orders.every((n: number) => n === 0)).toBe(true)
    expect((await server.get('/v1/streams/nope/products/series?product_id=p1')).status).toBe(404)
    const missing = await server.get('/v1/streams/m1/products/series')
    expect(missing.status).toBe(400)
    expect(missing.body.error.message).toContain('product_id')
    const many = Array.from({ length: 51 }, (_, i) => `product_id=x${i}`).join('&')
    expect((await server.get(`/v1/streams/m1/products/series?${many}`)).status).toBe(400)
  })

  test('orders are credited to the source of the buyer’s latest view before them', async () => {
    let k = 0
    // An hour before m1, so that it is ended in the stream-list questions below.
    const at2 = (type: string, seconds: number, fields: Record<string, unknown>) => ({
      event_id: `src-${++k}`,
      type,
      stream_id: 'm-src',
      ts: at(seconds - 3600),
      ...fields,
    })
    const order = (viewer: string, seconds: number, amount: string) =>
      at2('order_paid', seconds, { viewer_id: viewer, product_id: 'p', order_id: `src-o${k}`, amount })
    const batch = [
      at2('view_start', 0, { viewer_id: 'a', source: 'search' }),
      order('a', 5, '10.00'), // a's latest view: Search
      at2('view_start', 10, { viewer_id: 'a', source: 'for_you' }),
      order('a', 20, '20.00'), // now For You
      order('b', 1, '7.50'), // b has no view before this order: unattributed
      at2('view_start', 2, { viewer_id: 'b', source: 'ads' }),
      at2('view_start', 3, { viewer_id: 'c' }), // no source given
    ]
    expect((await server.ingest(batch)).body).toMatchObject({ accepted: 7, rejected: 0 })
    // Two views of d at the same millisecond: the one received last counts, though its
    // event_id sorts first (the server's clock moves on between the two requests).
    expect(
      (await server.ingest([at2('view_start', 30, { viewer_id: 'd', source: 'shop' })])).body.accepted,
    ).toBe(1)
    clock.set(at(601))
    const late = { ...at2('view_start', 30, { viewer_id: 'd', source: 'search' }), event_id: 'src-0-late' }
    expect((await server.ingest([late, order('d', 30, '3.00')])).body.accepted).toBe(2)
    clock.set(at(600))
    const { status, body } = await server.get('/v1/streams/m-src/sources')
    expect(status).toBe(200)
    const row = (source: string, views: number, orders: number, gmv: number) => ({
      source,
      views,
      viewers: views,
      orders,
      buyers: orders,
      gmv,
      conversion: orders / views,
    })
    const expected = {
      sources: [
        row('search', 2, 2, 13), // a at 5 s, d at 30 s
        row('', 1, 0, 0),
        row('ads', 1, 0, 0),
        row('for_you', 1, 1, 20),
        row('shop', 1, 0, 0),
      ],
      unattributed: { orders: 1, buyers: 1, gmv: 7.5 },
    }
    expect(body).toEqual(expected)
    // A ClickHouse server whose profile sets join_use_nulls = 1 gives the same answer: an
    // order with no view before it is still counted as unattributed, not lost.
    const client = server.app.clickhouse
    const profiled = {
      query: (params: Parameters<typeof client.query>[0]) =>
        client.query({
          ...params,
          clickhouse_settings: { join_use_nulls: 1, ...params.clickhouse_settings },
        }),
    } as unknown as typeof client
    expect(await readSources(profiled, 'm-src')).toEqual(expected)
  })

  test('stream list filters by status and vertical, sorted by gmv', async () => {
    clock.set(at(100)) // m1's newest event is 29.5 s old: live again for this question
    const live = await server.get('/v1/streams?status=live')
    expect(live.body.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['m1', 'quiet'])
    const fashion = await server.get('/v1/streams?vertical=Fashion')
    expect(fashion.body.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['m1'])
    clock.set(at(600))
    const ended = await server.get('/v1/streams?status=live')
    expect(ended.body.streams).toEqual([])
  })

  test('a stream is live until its newest event is more than 5 minutes old, not at 5 minutes', async () => {
    const listed = async () =>
      (await server.get('/v1/streams?status=live')).body.streams.map(
        (s: { stream_id: string }) => s.stream_id,
      )
    try {
      clock.set(at(70.5) + 300_000)
      expect((await server.get('/v1/streams/m1')).body.status).toBe('live')
      expect(await listed()).toContain('m1')
      clock.set(at(70.5) + 300_001)
      expect((await server.get('/v1/streams/m1')).body.status).toBe('ended')
      expect(await listed()).not.toContain('m1')
    } finally {
      clock.set(at(600))
    }
  })

  test('bad series parameters are 400 with a message naming the problem', async () => {
    const unknown = await server.get('/v1/streams/m1/series?metrics=gmv,nope')
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.message).toContain('nope')
    const tooMany = await server.get(`/v1/streams/m1/series?step=1s&from=${T0 - 86_400_000}&to=${T0}`)
    expect(tooMany.status).toBe(400)
    expect(tooMany.body.error.message).toContain('20000')
    const missing = await server.get('/v1/streams/none/series')
    expect(missing.status).toBe(404)
    // A value outside a fixed set names the values allowed.
    const step = await server.get('/v1/streams/m1/series?step=2s')
    expect(step.status).toBe(400)
    expect(step.body.error).toEqual({
      code: 'invalid_request',
      message: 'querystring/step must be one of 1s, 10s, 1m, 5m',
    })
    const status = await server.get('/v1/streams?status=bogus')
    expect(status.status).toBe(400)
    expect(status.body.error.message).toBe('querystring/status must be one of live, ended, all')
    // Digits past what epoch ms can be are not a time.
    const far = await server.get(`/v1/streams/m1/series?from=${'9'.repeat(20)}`)
    expect(far.status).toBe(400)
    expect(far.body.error.message).toContain('from: must be epoch milliseconds or RFC 3339')
    // A stream of three days: with no step the series answers at 1m (10s would be 25 920
    // buckets); a step asked for is kept, and refused when too fine.
    const long = [T0 - 3 * 86_400_000, T0].map((ts, i) => ({
      event_id: `long-${i}`,
      type: 'view_start',
      stream_id: 'long',
      ts,
      viewer_id: `l${i}`,
    }))
    expect((await server.ingest(long)).body.accepted).toBe(2)
    const whole = await server.get('/v1/streams/long/series?metrics=views')
    expect(whole.status).toBe(200)
    expect(whole.body.step_ms).toBe(60_000)
    expect(whole.body.t).toHaveLength(3 * 1440 + 1)
    expect(whole.body.views.reduce((a: number, b: number) => a + b, 0)).toBe(2)
    expect((await server.get('/v1/streams/long/series?step=10s')).status).toBe(400)
    // from after the stream's end, with no to: said as such (no to was sent)
    const after = await server.get(`/v1/streams/long/series?from=${T0 + 3_600_000}`)
    expect(after.status).toBe(400)
    expect(after.body.error.message).toBe("from: is after the stream's last event; give a to")
    // What was sent is quoted back, not what a number coercion made of it.
    const huge = await server.get('/v1/streams/m1/series?to=1e309')
    expect(huge.status).toBe(400)
    expect(huge.body.error.message).toBe('to: must be epoch milliseconds or RFC 3339, got "1e309"')
    // Epoch ms as digits and RFC 3339 both still read.
    const both = await server.get(
      `/v1/streams/m1/series?step=1m&from=${T0}&to=${encodeURIComponent(new Date(T0 + 60_000).toISOString())}`,
    )
    expect(both.status).toBe(200)
    expect(both.body.from).toBe(T0 - (T0 % 60_000))
  })
})
