import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { METRICS as ALL_METRICS } from '../../server/metrics/definitions.ts'
import { LiveClient } from '../helpers/live-client.ts'
import { startTestServer, type TestServer } from '../helpers/server.ts'

let server: TestServer
// Every bucket metric of /series: the live series leaves out peak_online (API.md).
const METRICS = ALL_METRICS.filter((m) => m !== 'peak_online')
let seq = 0
const now = Date.now()
const ev = (stream: string, type: string, offsetMs: number, fields: Record<string, unknown> = {}) => ({
  event_id: `live-${++seq}`,
  type,
  stream_id: stream,
  ts: now + offsetMs,
  ...fields,
})
const start = (stream: string, creator = 'c1') =>
  ev(stream, 'stream_start', -120_000, { creator_id: creator, vertical: 'Beauty', title: stream })

/** A burst of mixed activity around `offsetMs`. */
function burst(stream: string, offsetMs: number, n: number) {
  const events = []
  for (let i = 0; i < n; i++) {
    const at = offsetMs + i * 137
    const viewer = { viewer_id: `v${i % 7}` }
    events.push(ev(stream, 'view_start', at, viewer))
    events.push(ev(stream, 'product_impression', at + 5, { product_id: 'p1' }))
    if (i % 2 === 0) events.push(ev(stream, 'product_click', at + 10, { ...viewer, product_id: 'p1' }))
    if (i % 2 === 0) events.push(ev(stream, 'add_to_cart', at + 15, { ...viewer, product_id: 'p1' }))
    if (i % 5 === 0) events.push(ev(stream, 'comment', at + 25, viewer))
    if (i % 6 === 0) events.push(ev(stream, 'share', at + 35, viewer))
    if (i % 7 === 0) events.push(ev(stream, 'follow', at + 45, viewer))
    if (i % 3 === 0)
      events.push(
        ev(stream, 'order_paid', at + 20, {
          ...viewer,
          product_id: 'p1',
          order_id: `o-${seq}`,
          amount: '12.34',
          quantity: 2,
        }),
      )
    if (i % 4 === 0) events.push(ev(stream, 'view_end', at + 30, viewer))
    events.push(ev(stream, 'like', at + 40, { ...viewer, quantity: 3 }))
  }
  return events
}

async function seriesFromApi(stream: string, step: string, times: number[]) {
  const stepMs = { '1s': 1000, '10s': 10_000, '1m': 60_000 }[step]!
  const from = Math.min(...times)
  const to = Math.max(...times) + stepMs
  const { body } = await server.get(
    `/v1/streams/${stream}/series?step=${step}&from=${from}&to=${to}&metrics=${METRICS.join(',')}`,
  )
  return body
}

async function expectEqualToApi(client: LiveClient, stream: string, step: string) {
  const live = client.columns(METRICS)
  const api = await seriesFromApi(stream, step, live.t as number[])
  expect(live.t).toEqual(api.t)
  for (const metric of METRICS) expect(live[metric], metric).toEqual(api[metric])
}

beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

describe('live push (SPEC §5)', () => {
  test.each(['1s', '10s', '1m'])(
    'snapshot + ticks equal GET /series bucket by bucket at step %s',
    async (step) => {
      const stream = `equal-${step}`
      await server.ingest([start(stream), ...burst(stream, -90_000, 20)])
      const client = new LiveClient(server.url, server.opsToken)
      const answer = await client.subscribe(stream, step)
      expect(answer.ok).toBe(true)
      expect(answer.snapshot.stream.stream_id).toBe(stream)
      for (const offset of [-60_000, -30_000, -5_000]) {
        const ticksBefore = client.ticks
        expect((await server.ingest(burst(stream, offset, 10))).status).toBe(200)
        await client.waitFor(() => client.ticks > ticksBefore)
      }
      const expectedOrders = (await server.get(`/v1/streams/${stream}`)).body.totals.orders
      await client.waitFor(() => client.totals?.orders === expectedOrders)
      await expectEqualToApi(client, stream, step)
      expect(client.watermarkWentBack).toBe(false)
      client.close()
    },
  )

  test('a late event changes a past bucket and the subscriber sees its new value', async () => {
    const stream = 'late'
    await server.ingest([start(stream), ...burst(stream, -20_000, 10)])
    const client = new LiveClient(server.url, server.opsToken)
    await client.subscribe(stream, '1s')
    const pastSecond = Math.floor((now - 19_000) / 1000) * 1000
    const before = client.buckets.get(pastSecond)!.gmv
    await server.ingest([
      ev(stream, 'order_paid', pastSecond - now + 500, {
        viewer_id: 'late-v',
        product_id: 'p9',
        order_id: 'late-o',
        amount: '1000.00',
      }),
    ])
    await client.waitFor(() => client.buckets.get(pastSecond)?.gmv === (before as number) + 1000)
    await expectEqualToApi(client, stream, '1s')
    client.close()
  })

  test("a late event anywhere in a screen's window reaches it, and moves online in every later bucket", async () => {
    const stream = 'late-hours'
    const HOUR = 3_600_000
    await server.ingest([
      ev(stream, 'stream_start', -3 * HOUR, { creator_id: 'c1', vertical: 'Beauty', title: stream }),
      ev(stream, 'view_start', -170 * 60_000, { viewer_id: 'early' }),
      ...burst(stream, -60_000, 5),
    ])
    const tens = new LiveClient(server.url, server.opsToken)
    const minutes = new LiveClient(server.url, server.opsToken)
    await tens.subscribe(stream, '10s')
    await minutes.subscribe(stream, '1m')
    // 100 minutes late: inside the 2 h a 10 s screen holds and the 4 h of a 1 min one.
    await server.ingest([
      ev(stream, 'view_start', -100 * 60_000, { viewer_id: 'late-viewer' }),
      ev(stream, 'order_paid', -100 * 60_000 + 20, {
        viewer_id: 'late-viewer',
        product_id: 'p1',
        order_id: 'late-hours-o',
        amount: '5.00',
      }),
    ])
    const lateBucket = (stepMs: number) => Math.floor((now - 100 * 60_000) / stepMs) * stepMs
    await tens.waitFor(() => tens.buckets.get(lateBucket(10_000))?.gmv === 5)
    await minutes.waitFor(() => minutes.buckets.get(lateBucket(60_000))?.gmv === 5)
    await expectEqualToApi(tens, stream, '10s')
    await expectEqualToApi(minutes, stream, '1m')
    tens.close()
    minutes.close()
  })

  test('disconnect, ingest more, reconnect with since: the series equals /series again, no gap', async () => {
    const stream = 'gap'
    await server.ingest([start(stream), ...burst(stream, -60_000, 10)])
    const first = new LiveClient(server.url, server.opsToken)
    await first.subscribe(stream, '1s')
    const lastSeen = Math.max(...first.buckets.keys())
    first.close()
    // While nobody watches: more events, after and slightly before what the client saw.
    await server.ingest(burst(stream, -2_000, 15))
    const second = new LiveClient(server.url, server.opsToken)
    for (const [t, bucket] of first.buckets) second.buckets.set(t, bucket)
    const since = lastSeen - 5_000
    const answer = await second.subscribe(stream, '1s', since)
    expect(answer.snapshot.series.t[0]).toBe(since)
    await expectEqualToApi(second, stream, '1s')
    second.close()
  })

  test('since takes epoch ms as a number, as a string of digits (as HTTP from does) or RFC 3339', async () => {
    const stream = 'since-forms'
    // A second inside the burst's span (10 events 137 ms apart, from `now` − 10 s on).
    const since = Math.ceil((now - 10_000) / 1000) * 1000
    await server.ingest([start(stream), ...burst(stream, -10_000, 10)])
    const client = new LiveClient(server.url, server.opsToken)
    await client.connected()
    for (const form of [since, String(since), new Date(since).toISOString()]) {
      const answer = await client.socket.emitWithAck('subscribe', { stream_id: stream, since: form })
      expect(answer.ok).toBe(true)
      expect(answer.snapshot.series.t[0]).toBe(since)
    }
    const tooLong = await client.socket.emitWithAck('subscribe', { stream_id: stream, since: '9'.repeat(20) })
    expect(tooLong.error.code).toBe('invalid_request')
    // A since before the stream began (here epoch seconds, read as ms: 1970) starts at its start,
    // not at the edge of the window with empty buckets before the stream.
    const early = await client.socket.emitWithAck('subscribe', {
      stream_id: stream,
      since: Math.floor(now / 1000),
    })
    expect(early.snapshot.series.t[0]).toBe(Math.floor(early.snapshot.stream.started_at / 1000) * 1000)
    client.close()

    // A token that is not a string is a wrong token, not a missing one.
    const numeric = new LiveClient(server.url, 5 as unknown as string)
    await expect(numeric.connected()).rejects.toThrow('token_invalid')
    numeric.close()
  })

  test("creator tokens are refused on another creator's stream, no token is refused, ops sees all", async () => {
    await server.ingest([start('alice-live', 'alice'), start('bob-live', 'bob')])
    const alice = new LiveClient(server.url, server.creatorToken('alice'))
    expect((await alice.subscribe('alice-live')).ok).toBe(true)
    const refused = await alice.subscribe('bob-live')
    expect(refused).toEqual({ ok: false, error: { code: 'stream_not_found', message: expect.any(String) } })
    const aliceWall = await alice.socket.emitWithAck('wall', {})
    expect(aliceWall.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['alice-live'])
    alice.close()

    const anonymous = new LiveClient(server.url, undefined)
    await expect(anonymous.connected()).rejects.toThrow('token_missing')
    anonymous.close()
    const forged = new LiveClient(server.url, `${server.opsToken}x`)
    await expect(forged.connected()).rejects.toThrow('token_invalid')
    forged.close()

    const ops = new LiveClient(server.url, server.opsToken)
    expect((await ops.subscribe('bob-live')).ok).toBe(true)
    const wall = await ops.socket.emitWithAck('wall', {})
    expect(wall.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(
      expect.arrayContaining(['alice-live', 'bob-live']),
    )
    ops.close()
  })

  test("one socket's commands take effect in the order sent, and the subscription limit holds under concurrency", async () => {
    await server.ingest([start('order-1', 'olga')])
    const olga = new LiveClient(server.url, server.creatorToken('olga'))
    await olga.connected()
    // Sent back to back: the unsubscribe is answered after the subscribe, and wins.
    const acks: string[] = []
    const answered = (name: string) => (answer: { ok: boolean }) => {
      acks.push(name)
      return answer
    }
    const [subscribed, unsubscribed] = await Promise.all([
      olga.socket.emitWithAck('subscribe', { stream_id: 'order-1' }).then(answered('subscribe')),
      olga.socket.emitWithAck('unsubscribe', { stream_id: 'order-1' }).then(answered('unsubscribe')),
    ])
    expect(subscribed.ok).toBe(true)
    expect(unsubscribed).toEqual({ ok: true })
    expect(acks).toEqual(['subscribe', 'unsubscribe'])
    const ticksBefore = olga.ticks
    await server.ingest([ev('order-1', 'view_start', 0, { viewer_id: 'late' })])
    // (an ops socket on the same stream sees that commit's tick: by then olga's would have come)
    const ops = new LiveClient(server.url, server.opsToken)
    expect((await ops.subscribe('order-1')).ok).toBe(true)
    await server.ingest([ev('order-1', 'view_start', 0, { viewer_id: 'later' })])
    await ops.waitFor(() => ops.ticks > 0)
    expect(olga.ticks).toBe(ticksBefore)
    ops.close()

    // 30 subscribes at once: 20 are taken, 10 refused.
    const ids = Array.from({ length: 30 }, (_, i) => `order-many-${i}`)
    await server.ingest(ids.map((id) => start(id, 'olga')))
    const answers = await Promise.all(
      ids.map((id) => olga.socket.emitWithAck('subscribe', { stream_id: id })),
    )
    expect(answers.filter((a) => a.ok)).toHaveLength(20)
    expect(answers.filter((a) => a.error?.code === 'too_many_subscriptions')).toHaveLength(10)

    // An unknown command is answered, not left to the client's timeout.
    expect(await olga.socket.timeout(5_000).emitWithAck('subscibe', { stream_id: 'x' })).toEqual({
      ok: false,
      error: { code: 'unknown_command', message: expect.stringContaining('subscribe, unsubscribe and wall') },
    })
    // A wall payload that is not an object is refused, not read as "every vertical".
    expect((await olga.socket.emitWithAck('wall', 'Fashion')).error.code).toBe('invalid_request')
    olga.close()
  })

  test("a refused subscribe never lets a creator's socket receive the other stream's ticks", async () => {
    await server.ingest([start('bob-hot', 'bob')])
    const mia = new LiveClient(server.url, server.creatorToken('mia'))
    const leaked: unknown[] = []
    mia.socket.on('tick', (tick: { stream_id: string }) => {
      if (tick.stream_id === 'bob-hot') leaked.push(tick)
    })
    // Each attempt used to join the tick room before the access check: orders landing in
    // between reached mia. Nobody else watches bob-hot, so only an attempt can start ticks.
    for (let i = 0; i < 10; i++) {
      const [answer] = await Promise.all([
        mia.subscribe('bob-hot'),
        server.ingest([ev('bob-hot', 'view_start', i * 100, { viewer_id: `b${i}` })]),
      ])
      expect(answer.ok).toBe(false)
    }
    // A watcher that may see it gets its ticks; mia still gets none.
    const ops = new LiveClient(server.url, server.opsToken)
    expect((await ops.subscribe('bob-hot')).ok).toBe(true)
    const ticksBefore = ops.ticks
    await server.ingest([ev('bob-hot', 'view_start', 2_000, { viewer_id: 'b-last' })])
    await ops.waitFor(() => ops.ticks > ticksBefore)
    expect(leaked).toEqual([])
    mia.close()
    ops.close()
  })

  test("a wall's creator is never read from the room's name: '*' and ':' in ids stay that creator's", async () => {
    await server.ingest([
      start('star-own', '*'),
      { ...start('colon-bob', 'bob'), vertical: 'Home:Garden' },
      start('colon-own', 'shop:42'),
    ])
    const pushedIds = async (creator: string, vertical?: string) => {
      const client = new LiveClient(server.url, server.creatorToken(creator))
      // An ops wall beside it: its push shows a round went out (a view with nothing that
      // changed gets no push, so the creator's own silence proves nothing).
      const ops = new LiveClient(server.url, server.opsToken)
      await Promise.all([client.connected(), ops.connected()])
      const pushes: { streams: { stream_id: string }[] }[] = []
      let opsPushes = 0
      client.socket.on('wall', (message) => pushes.push(message))
      ops.socket.on('wall', () => opsPushes++)
      const ack = await client.socket.emitWithAck('wall', vertical === undefined ? {} : { vertical })
      await ops.socket.emitWithAck('wall', {})
      await server.ingest([
        ev('star-own', 'view_start', 0, { viewer_id: `w-${creator}` }),
        ev('colon-bob', 'view_start', 0, { viewer_id: `w-${creator}` }),
        ev('colon-own', 'view_start', 0, { viewer_id: `w-${creator}` }),
      ])
      await ops.waitFor(() => opsPushes > 0)
      // Every room of a round is sent in one go: a wall with something to show gets it
      // (on a loaded machine, maybe later than the ops wall); one without, nothing in 300 ms.
      if (ack.streams.length > 0) await client.waitFor(() => pushes.length > 0)
      else await new Promise((resolve) => setTimeout(resolve, 300))
      client.close()
      ops.close()
      const ids = (message: { streams: { stream_id: string }[] }) => message.streams.map((s) => s.stream_id)
      return { ack: ids(ack), pushed: [...new Set(pushes.flatMap(ids))] }
    }
    // "*" once meant "every creator" (ops) in the room name.
    expect(await pushedIds('*')).toEqual({ ack: ['star-own'], pushed: ['star-own'] })
    // "bob:Home" + vertical "Garden" once read as creator "bob", vertical "Home:Garden".
    expect(await pushedIds('bob:Home', 'Garden')).toEqual({ ack: [], pushed: [] })
    // "shop:42" once read as creator "shop": its own wall emptied on the first push.
    expect(await pushedIds('shop:42')).toEqual({ ack: ['colon-own'], pushed: ['colon-own'] })
  })

  test('a stream watched again after a quiet spell has its peak_online from every event since', async () => {
    await server.ingest([start('peak-again'), ev('peak-again', 'view_start', -60_000, { viewer_id: 'p0' })])
    const first = new LiveClient(server.url, server.opsToken)
    expect((await first.subscribe('peak-again')).ok).toBe(true)
    expect((await first.socket.emitWithAck('unsubscribe', { stream_id: 'peak-again' })).ok).toBe(true)
    first.close()
    // Ten more viewers arrive while nobody watches.
    await server.ingest(
      Array.from({ length: 10 }, (_, i) =>
        ev('peak-again', 'view_start', -30_000 + i * 1000, { viewer_id: `p${i + 1}` }),
      ),
    )
    const again = new LiveClient(server.url, server.opsToken)
    const answer = await again.subscribe('peak-again')
    const api = (await server.get('/v1/streams/peak-again')).body.totals
    expect(api.online).toBe(11)
    expect(answer.snapshot.totals.online).toBe(11)
    expect(answer.snapshot.totals.peak_online).toBe(api.peak_online)
    expect(answer.snapshot.totals.peak_online).toBe(11)
    // The snapshot says which commits it reflects, even when no round had run yet.
    expect(answer.snapshot.watermark).toBeGreaterThan(0)
    again.close()
  })

  test('a snapshot at 1m reaches four hours back, at 10s two, at 1s thirty minutes', async () => {
    const HOUR = 3_600_000
    await server.ingest([
      ev('long-session', 'stream_start', -3 * HOUR, { creator_id: 'c1' }),
      ev('long-session', 'order_paid', -2.5 * HOUR, {
        viewer_id: 'early',
        product_id: 'p',
        order_id: 'long-early',
        amount: '40.00',
      }),
      ev('long-session', 'view_start', 0, { viewer_id: 'late' }),
    ])
    const client = new LiveClient(server.url, server.opsToken)
    const covered = async (step: string) => {
      const { snapshot } = await client.subscribe('long-session', step)
      return { hours: (snapshot.series.to - snapshot.series.from) / HOUR, gmv: snapshot.series.gmv }
    }
    const minute = await covered('1m')
    // The whole 3-hour session, its early order included.
    expect(minute.hours).toBeGreaterThan(3)
    expect(minute.gmv.reduce((a: number, b: number) => a + b, 0)).toBe(40)
    expect((await covered('10s')).hours).toBe(2)
    expect((await covered('1s')).hours).toBe(0.5)
    client.close()
  })

  test('bad subscribe payloads get a clear refusal, not a crash', async () => {
    const client = new LiveClient(server.url, server.opsToken)
    await client.connected()
    for (const payload of [
      null,
      42,
      'x',
      {},
      { stream_id: '' },
      { stream_id: 'x'.repeat(200) },
      { stream_id: 'a', step: '7s' },
      // Not steps, though `in` finds them on every object.
      { stream_id: 'a', step: 'toString' },
      { stream_id: 'a', step: '__proto__' },
      { stream_id: 'a', since: 'yesterday' },
    ]) {
      const answer = await client.socket.emitWithAck('subscribe', payload)
      expect(answer.ok).toBe(false)
      expect(answer.error.code).toBe('invalid_request')
    }
    expect((await client.socket.emitWithAck('wall', { vertical: 5 })).ok).toBe(false)
    // Without a payload, or with one too many, every command is still answered.
    expect((await client.socket.timeout(10_000).emitWithAck('wall')).ok).toBe(true)
    const bare = await client.socket.timeout(10_000).emitWithAck('subscribe')
    expect(bare.error.code).toBe('invalid_request')
    expect((await client.socket.timeout(10_000).emitWithAck('unsubscribe')).ok).toBe(false)
    const extra = await client.socket.timeout(10_000).emitWithAck('unsubscribe', { stream_id: 'a' }, { x: 1 })
    expect(extra.ok).toBe(true)
    client.close()
  })

  test('ids and verticals are counted in characters, as ingest counts them', async () => {
    // 120 emoji and two letters: 122 characters, 242 UTF-16 units.
    const stream = `${'😀'.repeat(120)}r3`
    const vertical = '🛍'.repeat(64)
    await server.ingest([{ ...start(stream), vertical }])
    const client = new LiveClient(server.url, server.opsToken)
    const answer = await client.subscribe(stream)
    expect(answer.ok).toBe(true)
    expect(answer.snapshot.stream.stream_id).toBe(stream)
    const wall = await client.socket.emitWithAck('wall', { vertical })
    expect(wall.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual([stream])
    client.close()
  })

  test("the wall counts today's quarantined events, not the 30 days kept", async () => {
    const client = new LiveClient(server.url, server.opsToken)
    await client.connected()
    const day = Math.floor(Date.now() / 86_400_000)
    const before = (await client.socket.emitWithAck('wall', {})).summary.quarantined
    // One rejected yesterday (as kept in the table), two today.
    await server.app.clickhouse.insert({
      table: 'quarantine',
      values: [
        {
          received_at: Date.now() - 86_400_000,
          reason: 'old',
          idx: 0,
          event_id: 'q-old',
          stream_id: 'q',
          raw: '{}',
          key_id: 'k',
        },
      ],
      format: 'JSONEachRow',
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    })
    const bad = { event_id: 'q-new', type: 'teleport', stream_id: 'q', ts: Date.now() }
    expect((await server.ingest([bad, { ...bad, event_id: 'q-new-2' }])).status).toBe(422)
    const after = (await client.socket.emitWithAck('wall', {})).summary.quarantined
    // (Run across 00:00 UTC, today's count starts again between the two reads.)
    if (Math.floor(Date.now() / 86_400_000) === day) expect(after - before).toBe(2)
    client.close()
  })

  test("a vertical's or a creator's wall holds its streams however many bigger ones are live elsewhere", async () => {
    const big = Array.from({ length: 205 }, (_, i) => `wall-big-${i}`)
    await server.ingest(
      big.flatMap((id) => [
        ev(id, 'stream_start', -60_000, { creator_id: 'big-shop', vertical: 'Big', title: id }),
        ev(id, 'order_paid', -30_000, {
          viewer_id: 'b',
          product_id: 'p',
          order_id: `${id}-o`,
          amount: '1000.00',
        }),
      ]),
    )
    await server.ingest([
      ev('wall-small', 'stream_start', -60_000, {
        creator_id: 'small-shop',
        vertical: 'Small',
        title: 'small',
      }),
      ev('wall-small', 'order_paid', -30_000, {
        viewer_id: 's',
        product_id: 'p',
        order_id: 'small-o',
        amount: '5.00',
      }),
    ])
    const ops = new LiveClient(server.url, server.opsToken)
    await ops.connected()
    const small = await ops.socket.emitWithAck('wall', { vertical: 'Small' })
    expect(small.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['wall-small'])
    expect(small.summary.live_streams).toBe(1)
    // The whole wall shows the top 200 as tiles and counts every live stream in its header.
    const all = await ops.socket.emitWithAck('wall', {})
    const live = (await server.get('/v1/streams?status=live&limit=1000')).body.streams.length
    expect(live).toBeGreaterThan(206)
    expect(all.streams).toHaveLength(200)
    expect(all.summary.live_streams).toBe(live)
    ops.close()
    const creator = new LiveClient(server.url, server.creatorToken('small-shop'))
    await creator.connected()
    const own = await creator.socket.emitWithAck('wall', {})
    expect(own.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['wall-small'])
    creator.close()
  })

  test('the watermark a client saw before a server restart is not stepped back by the snapshot after it', async () => {
    const first = await startTestServer()
    await first.ingest([start('restart-wm'), ev('restart-wm', 'view_start', 0, { viewer_id: 'r' })])
    const before = new LiveClient(first.url, first.opsToken)
    const seen = (await before.subscribe('restart-wm')).snapshot.watermark
    expect(seen).toBeGreaterThan(0)
    before.close()
    await first.app.close()
    const second = await startTestServer({ database: first.database })
    try {
      const after = new LiveClient(second.url, second.opsToken)
      // no commit since the restart
      // (strictly: the stream view ignores an equal one)
      expect((await after.subscribe('restart-wm')).snapshot.watermark).toBeGreaterThan(seen)
      after.close()
    } finally {
      await second.close()
    }
  })

  test("a snapshot read right after an ack agrees with itself: peak_online and the series' online include that commit", async () => {
    await server.ingest([start('snap-fresh')])
    // A watcher keeps the stream's viewer balance cached (the cache is what lagged).
    const watcher = new LiveClient(server.url, server.opsToken)
    expect((await watcher.subscribe('snap-fresh', '10s')).ok).toBe(true)
    const reader = new LiveClient(server.url, server.opsToken)
    await reader.connected()
    const wrong: string[] = []
    for (let i = 0; i < 15; i++) {
      await server.ingest(
        Array.from({ length: 20 }, (_, k) =>
          ev('snap-fresh', 'view_start', 0, { viewer_id: `sf-${i}-${k}` }),
        ),
      )
      const answer = await reader.socket.emitWithAck('subscribe', {
        stream_id: 'snap-fresh',
        step: i % 2 ? '1s' : '1m',
      })
      const { totals, series } = answer.snapshot
      const lastOnline = series.online.at(-1)
      if (
        totals.online !== 20 * (i + 1) ||
        totals.peak_online !== totals.online ||
        lastOnline !== totals.online
      )
        wrong.push(`#${i}: online ${totals.online}, peak ${totals.peak_online}, last bucket ${lastOnline}`)
    }
    expect(wrong).toEqual([])
    watcher.close()
    reader.close()
  })

  test('the wall feed pushes changed summary rows with sparklines', async () => {
    await server.ingest([start('wall-1'), ...burst('wall-1', -5_000, 3)])
    const client = new LiveClient(server.url, server.opsToken)
    await client.connected()
    // biome-ignore lint/suspicious/noExplicitAny: wall messages as sent; asserted below
    const pushes: any[] = []
    client.socket.on('wall', (message) => pushes.push(message))
    const ack = await client.socket.emitWithAck('wall', { vertical: 'Beauty' })
    const row = ack.streams.find((s: { stream_id: string }) => s.stream_id === 'wall-1')
    expect(row.spark.t).toHaveLength(30)
    expect(row.spark.gmv.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(row.totals.gmv, 2)
    const gmvBefore = row.totals.gmv
    await server.ingest([
      ev('wall-1', 'order_paid', 0, { viewer_id: 'w', product_id: 'p', order_id: 'wall-o', amount: '50.00' }),
    ])
    await client.waitFor(() =>
      pushes.some(
        (m) =>
          m.streams.find((s: { stream_id: string }) => s.stream_id === 'wall-1')?.totals.gmv ===
          gmvBefore + 50,
      ),
    )
    client.close()
  })
})
