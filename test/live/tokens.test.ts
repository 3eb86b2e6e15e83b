import { afterAll, beforeAll, expect, test } from 'vitest'
import { issueToken } from '../../server/auth/tokens.ts'
import { NASTY } from '../hardening/event-arbitraries.ts'
import { LiveClient } from '../helpers/live-client.ts'
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts'

let server: TestServer
const now = Date.now()

beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

test('a socket subscribed when its token expires is told so and cut off', async () => {
  await server.ingest([
    { event_id: 'exp-start', type: 'stream_start', stream_id: 'exp', ts: now, creator_id: 'c' },
  ])
  const shortLived = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 2500 })
  const client = new LiveClient(server.url, shortLived)
  const expired = new Promise<string>((resolve) =>
    client.socket.on('session_expired', (m: { message: string }) => resolve(m.message)),
  )
  const disconnected = new Promise<string>((resolve) =>
    client.socket.on('disconnect', (reason) => resolve(reason)),
  )
  expect((await client.subscribe('exp')).ok).toBe(true)
  expect(await expired).toContain('expired')
  expect(await disconnected).toBe('io server disconnect')
  client.close()

  const late = new LiveClient(server.url, shortLived)
  await expect(late.connected()).rejects.toThrow('token_expired')
  late.close()
})

test('an ingest key is not a read token on the socket', async () => {
  const client = new LiveClient(server.url, server.ingestKey)
  await expect(client.connected()).rejects.toThrow('token_invalid')
  client.close()
})

test('strings with quotes, backslashes, emoji and markup round-trip unchanged to the socket', async () => {
  const title = `"Flash" sale \\ 50% off 🔥🛍️ <script>alert('x')</script> ' OR 1=1; DROP TABLE events; --`
  const creator = `créatrice "ü" \\n 👩‍🎤`
  const label = `<b>bold</b> & "quoted" \\ 'single' 😀`
  const result = await server.ingest([
    {
      event_id: 'rt-1',
      type: 'stream_start',
      stream_id: 'round-trip ✨',
      ts: now,
      creator_id: creator,
      title,
    },
    { event_id: 'rt-2', type: 'marker', stream_id: 'round-trip ✨', ts: now, label },
  ])
  expect(result.body.accepted).toBe(2)
  const client = new LiveClient(server.url, server.opsToken)
  const answer = await client.subscribe('round-trip ✨')
  expect(answer.snapshot.stream.title).toBe(title)
  expect(answer.snapshot.stream.creator_id).toBe(creator)
  const wall = await client.socket.emitWithAck('wall', {})
  expect(wall.streams.find((s: { stream_id: string }) => s.stream_id === 'round-trip ✨').title).toBe(title)
  const markers = await server.get(`/v1/streams/${encodeURIComponent('round-trip ✨')}/markers`)
  expect(markers.body.markers[0].label).toBe(label)
  client.close()
})

test('every nasty string of the fuzz set round-trips unchanged through storage to the socket, as title, creator and stream id', async () => {
  // (titles, creators and ids are at least 1 character; a stream id must also fit 128)
  const texts = NASTY.filter((t) => t.length >= 1)
  const streams = texts.map((text, i) => ({ id: `nasty-${i}-${text}`.slice(0, 128), text }))
  const result = await server.ingest(
    streams.map(({ id, text }, i) => ({
      event_id: `nasty-start-${i}`,
      type: 'stream_start',
      stream_id: id,
      ts: now,
      creator_id: text,
      title: text,
    })),
  )
  expect(result.body).toMatchObject({ accepted: streams.length, rejected: 0 })
  const client = new LiveClient(server.url, server.opsToken)
  const differ: string[] = []
  for (const { id, text } of streams) {
    const answer = await client.subscribe(id)
    const stream = answer.snapshot?.stream
    if (!answer.ok || stream.stream_id !== id || stream.title !== text || stream.creator_id !== text)
      differ.push(
        JSON.stringify({ sent: text, got: stream && [stream.stream_id, stream.title, stream.creator_id] }),
      )
    await client.socket.emitWithAck('unsubscribe', { stream_id: id })
  }
  expect(differ).toEqual([])
  const wall = await client.socket.emitWithAck('wall', {})
  const onWall = new Map(
    wall.streams.map((s: { stream_id: string; title: string }) => [s.stream_id, s.title]),
  )
  for (const { id, text } of streams) expect(onWall.get(id), JSON.stringify(text)).toBe(text)
  client.close()
})

test("a creator's subscription ends when an earlier stream_start hands the stream to another creator", async () => {
  const id = 'handed-over'
  await server.ingest([
    { event_id: 'ho-start', type: 'stream_start', stream_id: id, ts: now, creator_id: 'first-creator' },
  ])
  const first = new LiveClient(server.url, server.creatorToken('first-creator'))
  const ops = new LiveClient(server.url, server.opsToken)
  expect((await first.subscribe(id)).ok).toBe(true)
  expect((await ops.subscribe(id)).ok).toBe(true)
  // A like both see: the ticks of what came before are in; what follows is the handover.
  await server.ingest([
    { event_id: 'ho-like-0', type: 'like', stream_id: id, ts: now, viewer_id: 'v', quantity: 2 },
  ])
  await first.waitFor(() => first.totals?.likes === 2)
  await ops.waitFor(() => ops.totals?.likes === 2)
  const firstTicksBefore = first.ticks
  const told = new Promise<{ stream_id: string; error: { code: string } }>((resolve) =>
    first.socket.on('unsubscribed', resolve),
  )
  // The producer corrects the creator: a stream_start a second earlier, naming another one.
  await server.ingest([
    {
      event_id: 'ho-start-0',
      type: 'stream_start',
      stream_id: id,
      ts: now - 1000,
      creator_id: 'second-creator',
    },
  ])
  const message = await Promise.race([
    told,
    new Promise((resolve) => setTimeout(() => resolve('not told within 10 s'), 10_000)),
  ])
  expect(message).toEqual({ stream_id: id, error: { code: 'stream_not_found', message: expect.any(String) } })
  // Not even the handover's own tick reached it (it leaves the room before that tick goes out),
  // nor any after; ops still gets them.
  const opsBefore = ops.ticks
  await server.ingest([
    { event_id: 'ho-like', type: 'like', stream_id: id, ts: now, viewer_id: 'v', quantity: 3 },
  ])
  await ops.waitFor(() => ops.ticks > opsBefore && ops.totals?.likes === 5)
  expect(first.ticks).toBe(firstTicksBefore)
  // ...and subscribing again is refused; the new creator's subscribe is accepted.
  expect((await first.subscribe(id)).ok).toBe(false)
  const second = new LiveClient(server.url, server.creatorToken('second-creator'))
  expect((await second.subscribe(id)).ok).toBe(true)
  for (const client of [first, ops, second]) client.close()
})

test('subscribes to made-up stream ids keep no viewer balance, so real streams keep theirs', async () => {
  const balances = () =>
    Number(/^livewall_live_viewer_balances (\d+)$/m.exec(server.app.registry.render())?.[1] ?? Number.NaN)
  const client = new LiveClient(server.url, server.opsToken)
  const before = balances()
  expect(before).toBeGreaterThanOrEqual(0)
  for (let i = 0; i < 30; i++) expect((await client.subscribe(`made-up-${i}`)).ok).toBe(false)
  expect(balances()).toBe(before)
  client.close()
})
