import { createHmac } from 'node:crypto'
import { io } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { issueToken } from '../../server/auth/tokens.ts'
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts'

let server: TestServer
const now = Date.now()

beforeAll(async () => {
  server = await startTestServer()
  const start = (stream: string, creator: string) => ({
    event_id: `start-${stream}`,
    type: 'stream_start',
    stream_id: stream,
    ts: now,
    creator_id: creator,
    title: stream,
  })
  const views = (stream: string) => ({
    event_id: `view-${stream}`,
    type: 'view_start',
    stream_id: stream,
    ts: now,
    viewer_id: 'v1',
  })
  const marker = (stream: string) => ({
    event_id: `mark-${stream}`,
    type: 'marker',
    stream_id: stream,
    ts: now,
    label: 'hi',
  })
  const result = await server.ingest([
    start('alice-1', 'alice'),
    views('alice-1'),
    start('bob-1', 'bob'),
    views('bob-1'),
    marker('bob-1'),
  ])
  expect(result.body.accepted).toBe(5)
})
afterAll(() => server.close())

describe('read tokens (SPEC §6)', () => {
  test('a creator token reads its own streams', async () => {
    const alice = server.creatorToken('alice')
    const list = await server.get('/v1/streams', alice)
    expect(list.status).toBe(200)
    expect(list.body.streams.map((s: { stream_id: string }) => s.stream_id)).toEqual(['alice-1'])
    expect((await server.get('/v1/streams/alice-1', alice)).status).toBe(200)
    expect((await server.get('/v1/streams/alice-1/series?step=1m', alice)).status).toBe(200)
  })

  test("a creator token is refused on another creator's stream, on every endpoint", async () => {
    const alice = server.creatorToken('alice')
    for (const path of [
      '',
      '/series',
      '/products',
      '/products/series?product_id=p',
      '/markers',
      '/sources',
    ]) {
      const { status, body } = await server.get(`/v1/streams/bob-1${path}`, alice)
      expect(status, path).toBe(404)
      expect(body.error.code).toBe('stream_not_found')
    }
    const filtered = await server.get('/v1/streams?creator_id=bob', alice)
    expect(filtered.body.streams).toEqual([])
    expect((await server.get('/v1/quarantine', alice)).status).toBe(403)
  })

  test('an ops token sees every stream', async () => {
    const list = await server.get('/v1/streams')
    expect(list.body.streams.map((s: { stream_id: string }) => s.stream_id).sort()).toEqual([
      'alice-1',
      'bob-1',
    ])
  })

  test('no token, an expired token, a tampered token and an ingest key all get 401', async () => {
    const none = await fetch(`${server.url}/v1/streams`)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="livewall"')
    expect((await none.json()).error.code).toBe('token_missing')

    const expired = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 1000 }, now - 60_000)
    const e = await server.get('/v1/streams', expired)
    expect(e.status).toBe(401)
    expect(e.body.error.code).toBe('token_expired')

    const [prefix, payload, signature] = server.creatorToken('alice').split('.')
    const forged = Buffer.from(
      JSON.stringify({ role: 'ops', creator_id: null, exp: Math.floor(now / 1000) + 3600 }),
    ).toString('base64url')
    const tampered = await server.get('/v1/streams', `${prefix}.${forged}.${signature}`)
    expect(tampered.status).toBe(401)
    expect(tampered.body.error.code).toBe('token_invalid')
    expect(payload).not.toBe(forged)

    // Other spellings of the same signature bytes: base64url's unused last bits, padding,
    // junk a lenient decoder skips. One token has one form.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const good = server.opsToken
    const last = alphabet.indexOf(good.at(-1)!)
    const sibling = `${good.slice(0, -1)}${alphabet[last ^ 1]}`
    expect(Buffer.from(sibling.split('.')[2]!, 'base64url')).toEqual(
      Buffer.from(good.split('.')[2]!, 'base64url'),
    )
    for (const variant of [sibling, `${good}=`, `${good}!!`]) {
      const answer = await server.get('/v1/streams', variant)
      expect(answer.status, variant.slice(-4)).toBe(401)
      expect(answer.body.error.code).toBe('token_invalid')
    }
    expect((await server.get('/v1/streams', good)).status).toBe(200)

    const otherSecret = issueToken('another-secret-entirely-123', { role: 'ops', ttlMs: 60_000 })
    expect((await server.get('/v1/streams', otherSecret)).status).toBe(401)
    expect((await server.get('/v1/streams', server.ingestKey)).status).toBe(401)
  })

  test('a token signed with the secret but made by hand is read as carefully as a request', async () => {
    const signed = (payload: unknown) => {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
      const signature = createHmac('sha256', TEST_SECRET).update(`lw1.${body}`).digest('base64url')
      return `lw1.${body}.${signature}`
    }
    const exp = Math.floor(now / 1000) + 3600
    for (const payload of [
      null,
      [],
      42,
      { role: 'creator', creator_id: '', exp },
      { role: 'creator', exp },
    ]) {
      const answer = await server.get('/v1/streams', signed(payload))
      expect(answer.status, JSON.stringify(payload)).toBe(401)
      expect(answer.body.error.code).toBe('token_invalid')
    }
    // The same checks guard the socket's handshake.
    const socket = io(`${server.url}/live`, {
      auth: { token: signed(null) },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    })
    const refusal = await new Promise<Error & { data?: { code: string } }>((resolve) =>
      socket.once('connect_error', resolve),
    )
    socket.close()
    expect(refusal.data?.code).toBe('token_invalid')
  })

  test('the token is checked before the query, and a header of another scheme is named', async () => {
    const bad = await fetch(`${server.url}/v1/streams/alice-1/series?step=7s`)
    expect(bad.status).toBe(401)
    const basic = await fetch(`${server.url}/v1/streams`, { headers: { authorization: 'Basic YTpi' } })
    expect(basic.status).toBe(401)
    expect((await basic.json()).error).toEqual({
      code: 'token_invalid',
      message: 'the Authorization header must be "Bearer <read token>"',
    })
    // With a valid token, the same query is the client's mistake to fix.
    expect((await server.get('/v1/streams/alice-1/series?step=7s')).status).toBe(400)
  })

  test('health, readiness and metrics need no token', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(200)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toContain('livewall_ingest_events_total{outcome="accepted"} 5')
    expect(metrics).toContain('livewall_ingest_commit_seconds_bucket')
  })

  test('/metrics counts every answer by route pattern and status, refused reads included', async () => {
    const count = async (labels: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(`livewall_http_requests_total{${labels}}`))
      return line ? Number(line.split(' ').pop()) : 0
    }
    const timed = async () =>
      Number(
        /^livewall_read_seconds_count (\d+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1],
      )
    const route = (pattern: string, status: number) => `route="${pattern}",method="GET",status="${status}"`
    const series = '/v1/streams/:stream_id/series'
    const before = [
      await count(route(series, 200)),
      await count(route(series, 401)),
      await count(route('unmatched', 404)),
      await timed(),
    ]
    expect((await server.get('/v1/streams/alice-1/series?step=1m')).status).toBe(200)
    expect((await fetch(`${server.url}/v1/streams/bob-1/series`)).status).toBe(401)
    expect((await server.get('/v1/streams/bob-1/series', 'tampered')).status).toBe(401)
    expect((await server.get('/v1/nothing-here')).status).toBe(404)
    expect(await count(route(series, 200))).toBe(before[0]! + 1)
    expect(await count(route(series, 401))).toBe(before[1]! + 2)
    expect(await count(route('unmatched', 404))).toBe(before[2]! + 1)
    expect(await timed()).toBe(before[3]! + 3) // the series route's three answers above (a path with no route is not a read)
  })

  test('the OpenAPI description is served and lists the endpoints', async () => {
    const doc = await (await fetch(`${server.url}/docs/json`)).json()
    // Every route of SPEC §4 and nothing else: the dashboard's pages are not API.
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/metrics',
      '/readyz',
      '/v1/events',
      '/v1/me',
      '/v1/quarantine',
      '/v1/streams',
      '/v1/streams/{stream_id}',
      '/v1/streams/{stream_id}/markers',
      '/v1/streams/{stream_id}/products',
      '/v1/streams/{stream_id}/products/series',
      '/v1/streams/{stream_id}/series',
      '/v1/streams/{stream_id}/sources',
    ])
    // A read can be refused while storage is down.
    expect(Object.keys(doc.paths['/v1/streams'].get.responses)).toContain('503')
    // NDJSON, the main format, is described beside JSON.
    expect(Object.keys(doc.paths['/v1/events'].post.requestBody.content)).toEqual([
      'application/x-ndjson',
      'application/json',
    ])
  })
})
