import { connect } from 'node:net'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startTestServer, TEST_KEY, type TestServer } from '../helpers/server.ts'

let server: TestServer
let seq = 0
const id = (prefix = 'i') => `${prefix}-${++seq}`
const view = (stream: string, fields: Record<string, unknown> = {}) => ({
  event_id: id(),
  type: 'view_start',
  stream_id: stream,
  ts: Date.now(),
  viewer_id: `v-${seq}`,
  ...fields,
})
const order = (stream: string, amount: unknown, fields: Record<string, unknown> = {}) => ({
  event_id: id(),
  type: 'order_paid',
  stream_id: stream,
  ts: Date.now(),
  viewer_id: 'buyer',
  product_id: 'p1',
  order_id: id('o'),
  amount,
  ...fields,
})

beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.close())

async function post(
  body: string | Uint8Array,
  contentType: string | undefined,
  key: string | null = TEST_KEY,
) {
  const headers: Record<string, string> = {}
  if (contentType) headers['content-type'] = contentType
  if (key) headers.authorization = `Bearer ${key}`
  const response = await fetch(`${server.url}/v1/events`, { method: 'POST', headers, body: body as BodyInit })
  return { status: response.status, headers: response.headers, body: await response.json() }
}

/** One request written as raw bytes (for headers fetch will not send); the whole answer as text. */
async function rawExchange(head: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  const { port } = new URL(server.url)
  const socket = connect(Number(port), '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk) => chunks.push(chunk))
  // (not end(): Node's server drops a request whose client half-closes; Connection: close ends it)
  socket.write(Buffer.concat([Buffer.from(head), body]))
  await new Promise((resolve) => socket.on('close', resolve))
  return Buffer.concat(chunks).toString('utf8')
}

/** A chunked body of one chunk, and its end. */
const oneChunk = (body: Buffer) =>
  Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])

describe('POST /v1/events', () => {
  test('accepts NDJSON and JSON (one event or an array)', async () => {
    expect((await server.ingest([view('fmt'), view('fmt')])).body).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: 0,
      errors: [],
    })
    expect((await post(JSON.stringify(view('fmt')), 'application/json')).body.accepted).toBe(1)
    expect(
      (await post(JSON.stringify([view('fmt'), view('fmt')]), 'application/json; charset=utf-8')).body
        .accepted,
    ).toBe(2)
    expect((await server.get('/v1/streams/fmt')).body.totals.views).toBe(5)
  })

  const now = Date.now()
  const base = { event_id: 'r', type: 'view_start', stream_id: 's', ts: now, viewer_id: 'v' }
  const orderBase = { ...base, type: 'order_paid', product_id: 'p', order_id: 'o', amount: '1.00' }
  const rejections: [string, Record<string, unknown>, string][] = [
    ['missing event_id', { ...base, event_id: undefined }, 'event_id: is required'],
    ['event_id too long', { ...base, event_id: 'x'.repeat(65) }, 'event_id: must be at most 64 characters'],
    ['missing type', { ...base, type: undefined }, 'type: is required'],
    ['unknown type', { ...base, type: 'teleport' }, 'type: unknown type "teleport"'],
    ['missing stream_id', { ...base, stream_id: undefined }, 'stream_id: is required'],
    ['stream_id of the wrong type', { ...base, stream_id: 42 }, 'stream_id: must be a string, got a number'],
    [
      'stream_id too long',
      { ...base, stream_id: 's'.repeat(129) },
      'stream_id: must be at most 128 characters',
    ],
    // A URL resolves them as path steps: /v1/streams/.. is /v1/, in every browser and fetch.
    ['stream_id "."', { ...base, stream_id: '.' }, 'stream_id: "." cannot be read back through a URL'],
    ['stream_id ".."', { ...base, stream_id: '..' }, 'stream_id: ".." cannot be read back through a URL'],
    ['missing ts', { ...base, ts: undefined }, 'ts: is required'],
    ['ts without an offset', { ...base, ts: '2026-11-24T10:00:00' }, 'is not RFC 3339 with an offset'],
    ['ts as a float', { ...base, ts: now + 0.5 }, 'ts: a number must be integer epoch milliseconds'],
    ['ts more than 7 days old', { ...base, ts: now - 8 * 86_400_000 }, 'more than 7 days in the past'],
    [
      'ts in epoch seconds',
      { ...base, ts: Math.floor(now / 1000) },
      'is more than 7 days in the past (looks like epoch seconds; ts takes milliseconds)',
    ],
    ['ts more than 5 minutes ahead', { ...base, ts: now + 10 * 60_000 }, 'more than 5 minutes in the future'],
    ['missing viewer_id on view_start', { ...base, viewer_id: undefined }, 'viewer_id: is required'],
    ['missing product_id on order_paid', { ...orderBase, product_id: undefined }, 'product_id: is required'],
    ['missing order_id on order_paid', { ...orderBase, order_id: undefined }, 'order_id: is required'],
    ['missing amount', { ...orderBase, amount: undefined }, 'amount: is required'],
    [
      'amount with 3 decimals',
      { ...orderBase, amount: 1.005 },
      'amount: 1.005 has more than 2 decimal places',
    ],
    ['amount string with 3 decimals', { ...orderBase, amount: '2.999' }, 'has more than 2 decimal places'],
    ['negative amount', { ...orderBase, amount: -1 }, 'amount: must not be negative'],
    [
      'amount of the wrong type',
      { ...orderBase, amount: true },
      'amount: must be a number or a decimal string',
    ],
    [
      'other currency',
      { ...orderBase, currency: 'EUR' },
      'currency: "EUR" differs from the deployment currency USD',
    ],
    // "ſ" (long s) upper-cases to "S": only ASCII letters are compared without case.
    [
      'currency spelled with a long s',
      { ...orderBase, currency: 'uſd' },
      'currency: "uſd" differs from the deployment currency USD',
    ],
    // SPEC §1: optional on every event, binding when present; not only on money events.
    [
      'other currency on an event without money',
      { ...base, type: 'like', currency: 'EUR' },
      'currency: "EUR" differs from the deployment currency USD',
    ],
    // Counted in characters: 65 emoji are 130 UTF-16 units.
    [
      'event_id of 65 emoji',
      { ...base, event_id: '🛍'.repeat(65) },
      'event_id: must be at most 64 characters, got 65',
    ],
    ['quantity out of range', { ...orderBase, quantity: 0 }, 'quantity: must be an integer from 1 to 10000'],
    // As every field: checked wherever it is sent, not only where a metric reads it.
    [
      'quantity out of range on a refund',
      { ...orderBase, type: 'order_refunded', quantity: 0 },
      'quantity: must be an integer from 1 to 10000',
    ],
    ['quantity of the wrong type on a view', { ...base, quantity: '2' }, 'quantity: must be an integer'],
    ['unknown source', { ...base, source: 'tv' }, 'source: must be one of'],
    [
      'stream_start without creator',
      { ...base, type: 'stream_start', viewer_id: undefined },
      'creator_id: is required',
    ],
    ['marker without label', { ...base, type: 'marker' }, 'label: is required'],
    [
      'title too long',
      { ...base, type: 'stream_start', creator_id: 'c', title: 't'.repeat(201) },
      'title: must be at most 200',
    ],
  ]

  test.each(rejections)('rejects %s with a 422 entry and a quarantine row', async (_name, event, message) => {
    const eventId = id('bad')
    // Each case gets a fresh event_id, except the cases about event_id itself.
    const bad: Record<string, unknown> = {
      ...event,
      event_id: event.event_id === 'r' ? eventId : event.event_id,
    }
    const good = view('mixed')
    const { status, body } = await server.ingest([good, bad])
    expect(status).toBe(422)
    expect(body.accepted).toBe(1)
    expect(body.rejected).toBe(1)
    expect(body.errors).toHaveLength(1)
    expect(body.errors[0].index).toBe(1)
    expect(body.errors[0].message).toContain(message)
    const quarantine = await server.get('/v1/quarantine?limit=1000')
    const row = quarantine.body.items.find(
      (q: { reason: string; raw: string }) =>
        q.reason === body.errors[0].message && q.raw === JSON.stringify(bad),
    )
    expect(row).toBeDefined()
    expect(row.index).toBe(1)
  })

  test('an optional field sent as null is absent, as for the string fields (serializers write unset fields so)', async () => {
    const stream = 'nulls'
    const like = {
      event_id: id(),
      type: 'like',
      stream_id: stream,
      ts: Date.now(),
      viewer_id: 'v',
      quantity: null,
    }
    const events = [
      like,
      view(stream, { source: null }),
      order(stream, '10.00', { currency: null, quantity: null }),
    ]
    expect((await server.ingest(events)).body).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: 0,
      errors: [],
    })
    const detail = await server.get(`/v1/streams/${stream}`)
    expect(detail.body.totals).toMatchObject({ likes: 1, views: 1, orders: 1, items: 1, gmv: 10 })
    const sources = await server.get(`/v1/streams/${stream}/sources`)
    expect(sources.body.sources.map((s: { source: string }) => s.source)).toEqual([''])
  })

  test('an NDJSON body with one bad line stores every other line', async () => {
    const lines = [view('nd'), view('nd'), view('nd')].map((e) => JSON.stringify(e))
    const body = [lines[0], '{"event_id": oops', lines[1], '', lines[2]].join('\n')
    const result = await post(body, 'application/x-ndjson')
    expect(result.status).toBe(422)
    expect(result.body).toMatchObject({ accepted: 3, rejected: 1 })
    expect(result.body.errors[0].index).toBe(1)
    expect(result.body.errors[0].message).toContain('line is not valid JSON')
    expect((await server.get('/v1/streams/nd')).body.totals.views).toBe(3)
  })

  test('a body cut with bare CRs is refused with the reason named', async () => {
    const lines = [view('cr'), view('cr')].map((e) => JSON.stringify(e))
    const result = await post(lines.join('\r'), 'application/x-ndjson')
    expect(result.status).toBe(422)
    expect(result.body.errors[0].message).toContain('it holds a bare CR: NDJSON lines end with LF or CRLF')
  })

  test('text with tabs, newlines, backslashes and NUL is stored as sent', async () => {
    // Rows travel to ClickHouse as TabSeparated: each of these must be escaped, never cut a
    // row or a field.
    const title = 'tab\there, line\nbreak, CR\r, back\\slash \\t, NUL\u0000, 😀'
    const label = 'flash\tsale\n\\ "50%"\u0000 off'
    const stream = 'tsv-text'
    const start = {
      event_id: id(),
      type: 'stream_start',
      stream_id: stream,
      ts: Date.now(),
      creator_id: 'c\t1',
      title,
    }
    const marker = { event_id: id(), type: 'marker', stream_id: stream, ts: Date.now(), label }
    expect((await server.ingest([start, marker])).body.accepted).toBe(2)
    const detail = await server.get(`/v1/streams/${stream}`)
    expect(detail.body.title).toBe(title)
    expect(detail.body.creator_id).toBe('c\t1')
    const markers = await server.get(`/v1/streams/${stream}/markers`)
    expect(markers.body.markers.map((m: { label: string }) => m.label)).toEqual([label])
  })

  test('invalid UTF-8 on one line rejects only that line', async () => {
    const good = Buffer.from(JSON.stringify(view('utf')))
    const bad = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])
    const result = await post(Buffer.concat([good, Buffer.from('\n'), bad]), 'application/x-ndjson')
    expect(result.body).toMatchObject({ accepted: 1, rejected: 1 })
    expect(result.body.errors[0].message).toBe('line is not valid UTF-8')
  })

  test('errors list at most 100 entries; every rejection is still counted and quarantined', async () => {
    const events = Array.from({ length: 150 }, () => ({
      event_id: id('many'),
      type: 'nope',
      stream_id: 'many-rejected',
      ts: Date.now(),
    }))
    const result = await server.ingest(events)
    expect(result.body.rejected).toBe(150)
    expect(result.body.errors).toHaveLength(100)
    // all 150 are in the quarantine, the 50 not listed too
    const quarantine = await server.get('/v1/quarantine?limit=1000')
    const ids = quarantine.body.items
      .filter((q: { stream_id: string }) => q.stream_id === 'many-rejected')
      .map((q: { event_id: string }) => q.event_id)
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.event_id)))
  })

  test('405 with Allow for a method a path does not take; 404 for a path nobody serves', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/events', 'POST'],
      ['PUT', '/v1/events', 'POST'],
      ['POST', '/v1/streams', 'GET, HEAD'],
      ['DELETE', '/v1/streams/some-id/series', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
    ]
    for (const [method, path, allow] of cases) {
      const response = await fetch(`${server.url}${path}`, { method })
      expect(response.status, `${method} ${path}`).toBe(405)
      expect(response.headers.get('allow')).toBe(allow)
      expect((await response.json()).error).toEqual({
        code: 'method_not_allowed',
        message: `${method} is not allowed on ${path}; allowed: ${allow}`,
      })
    }
    const nowhere = await fetch(`${server.url}/v1/nowhere`, { method: 'POST' })
    expect(nowhere.status).toBe(404)
    expect((await nowhere.json()).error.code).toBe('not_found')
  })

  test('400 when a JSON body does not parse', async () => {
    const result = await post('[{"event_id": "a",', 'application/json')
    expect(result.status).toBe(400)
    expect(result.body.error.code).toBe('invalid_json')
  })

  test('401 without a key or with an unknown one', async () => {
    const missing = await post('{}', 'application/json', null)
    expect(missing.status).toBe(401)
    // RFC 6750: a 401 says how to authenticate.
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="livewall"')
    const unknown = await post('{}', 'application/json', 'not-a-key-at-all')
    expect(unknown.status).toBe(401)
    expect(unknown.body.error.code).toBe('unauthorized')
    expect((await post('{}', 'application/json', server.opsToken)).status).toBe(401) // a read token is no ingest key
  })

  test('413 for a body over 5 MiB and for more than 10 000 events', async () => {
    const big = await post(`[${'"x",'.repeat(1_400_000)}"x"]`, 'application/json')
    expect(big.status).toBe(413)
    expect(big.body.error.code).toBe('payload_too_large')
    const many = Array.from({ length: 10_001 }, () => '{}').join('\n')
    const tooMany = await post(many, 'application/x-ndjson')
    expect(tooMany.status).toBe(413)
    expect(tooMany.body.error.message).toContain('10000')
  })

  test('415 for another content type', async () => {
    const result = await post('event_id=1', 'text/plain')
    expect(result.status).toBe(415)
    expect(result.body.error.code).toBe('unsupported_media_type')
  })

  test('415 for a compressed body, which would otherwise be quarantined as garbage', async () => {
    const event = view('gzipped')
    for (const encoding of ['gzip', 'br']) {
      const response = await fetch(`${server.url}/v1/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': 'application/x-ndjson',
          'content-encoding': encoding,
        },
        body: gzipSync(JSON.stringify(event)),
      })
      expect(response.status).toBe(415)
      const body = await response.json()
      expect(body.error.code).toBe('unsupported_encoding')
      expect(body.error.message).toContain(`Content-Encoding "${encoding}" is not supported`)
    }
    const plain = await post(JSON.stringify(event), 'application/x-ndjson')
    expect(plain.body.accepted).toBe(1)
    // Nothing of the refused requests reached the quarantine.
    const quarantine = await server.get('/v1/quarantine?limit=1000')
    expect(quarantine.body.items.filter((q: { stream_id: string }) => q.stream_id === 'gzipped')).toEqual([])
  })

  test('415 naming a declared charset other than UTF-8, rather than reading the bytes as UTF-8 anyway', async () => {
    const title = Buffer.from('\u00c3\u00a9t\u00c3\u00a9', 'latin1') // "été" in UTF-8, "Ã©tÃ©" in Latin-1
    const start = Buffer.from(
      `{"event_id":"${id()}","type":"stream_start","stream_id":"charset-l1","ts":${Date.now()},"creator_id":"c","title":"`,
    )
    const body = Buffer.concat([start, title, Buffer.from('"}')])
    for (const [contentType, charset] of [
      ['application/json; charset=iso-8859-1', 'iso-8859-1'],
      ['application/json;charset="Latin1"', 'latin1'],
      ['application/x-ndjson; charset=utf-16', 'utf-16'],
    ]) {
      const result = await post(body, contentType!)
      expect(result.status, contentType).toBe(415)
      expect(result.body.error.code).toBe('unsupported_charset')
      expect(result.body.error.message).toContain(`charset "${charset}" is not supported`)
    }
    expect((await server.get('/v1/streams/charset-l1')).status).toBe(404) // nothing stored
    for (const contentType of [
      'application/json; charset=UTF-8',
      'application/x-ndjson; charset="us-ascii"',
    ]) {
      const result = await post(JSON.stringify(view('charset-ok')), contentType)
      expect(result.status, contentType).toBe(200)
    }
  })

  test('a JSON body with invalid UTF-8 is a 400 that says the byte offset of the first bad sequence', async () => {
    const good = Buffer.from(`[${JSON.stringify(view('u8-offset'))},{"title":"caf`)
    const body = Buffer.concat([good, Buffer.from([0xe9]), Buffer.from('"}]')])
    const result = await post(body, 'application/json')
    expect(result.status).toBe(400)
    expect(result.body.error.code).toBe('invalid_body')
    expect(result.body.error.message).toContain(`at byte offset ${good.length} (0xE9)`)
  })

  test('415 for a transfer coding other than chunked, which Node de-chunks but never decodes', async () => {
    const event = view('transfer-coded')
    for (const coding of ['gzip, chunked', 'deflate,chunked']) {
      const answer = await rawExchange(
        `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\n` +
          `Content-Type: application/x-ndjson\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n`,
        oneChunk(gzipSync(JSON.stringify(event))),
      )
      expect(answer).toMatch(/^HTTP\/1\.1 415 /)
      expect(answer).toContain('"code":"unsupported_encoding"')
      expect(answer).toContain(`Transfer-Encoding \\"${coding}\\" is not supported`)
    }
    // chunked alone is the ordinary streaming upload
    const chunked = await rawExchange(
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\n` +
        'Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      oneChunk(Buffer.from(JSON.stringify(event))),
    )
    expect(chunked).toMatch(/^HTTP\/1\.1 200 /)
    expect((await server.get('/v1/streams/transfer-coded')).body.totals.views).toBe(1)
  })

  test('the raw text of a rejected event is kept up to 64 KiB of UTF-8, cut between characters', async () => {
    // 3 bytes per €: 70 000 of them are 210 000 bytes, in 70 000 UTF-16 units.
    const bad = { ...view('long-raw'), source: 'tv', note: '€'.repeat(70_000) }
    const { status } = await server.ingest([bad])
    expect(status).toBe(422)
    const quarantine = await server.get('/v1/quarantine?limit=1000')
    const row = quarantine.body.items.find((q: { event_id: string }) => q.event_id === bad.event_id)
    const bytes = Buffer.byteLength(row.raw)
    expect(bytes).toBeLessThanOrEqual(64 * 1024)
    expect(bytes).toBeGreaterThan(64 * 1024 - 3)
    expect(row.raw).toBe(JSON.stringify(bad).slice(0, row.raw.length))
  })

  test('the quarantine pages past its newest rows and filters by stream', async () => {
    // Three requests, each one rejected event of stream q-page (sources no one sends).
    for (const source of ['tv', 'radio', 'billboard']) {
      expect((await server.ingest([view('q-page', { source })])).status).toBe(422)
    }
    const page = (query: string) => server.get(`/v1/quarantine?stream_id=q-page&${query}`)
    const first = await page('limit=2')
    expect(first.body.total).toBe(3)
    expect(first.body.items).toHaveLength(2)
    const rest = await page('limit=2&offset=2')
    expect(rest.body.total).toBe(3)
    expect(rest.body.items).toHaveLength(1)
    const all = [...first.body.items, ...rest.body.items]
    expect(all.every((q: { stream_id: string }) => q.stream_id === 'q-page')).toBe(true)
    // Newest first, each row once.
    expect(all.map((q: { raw: string }) => JSON.parse(q.raw).source).sort()).toEqual([
      'billboard',
      'radio',
      'tv',
    ])
    const times = all.map((q: { received_at: number }) => q.received_at)
    expect(times).toEqual([...times].sort((a, b) => b - a))
    expect((await server.get('/v1/quarantine?offset=-1')).status).toBe(400)
  })

  test('/metrics counts ingest answers by status, refusals before the body included', async () => {
    const count = async (status: number) => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`livewall_ingest_requests_total{status="${status}"}`))
      return line ? Number(line.split(' ').pop()) : 0
    }
    const before = { ok: await count(200), unauthorized: await count(401), unsupported: await count(415) }
    await post(JSON.stringify(view('counted')), 'application/json')
    await post('{}', 'application/json', null)
    await post('event_id=1', 'text/plain')
    expect(await count(200)).toBe(before.ok + 1)
    expect(await count(401)).toBe(before.unauthorized + 1)
    expect(await count(415)).toBe(before.unsupported + 1)
  })

  test('/metrics follows Prometheus naming: a _total is a counter, a counter is a _total', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const)
    expect(types.length).toBeGreaterThan(10)
    expect(new Set(types.map(([name]) => name)).size).toBe(types.length)
    for (const [name, type] of types) {
      expect(name.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter')
    }
  })

  test('/metrics gives the dedup filters’ estimated false-positive rates, as the filters have them', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
    const { eventId, orderId } = server.app.dedup.falsePositiveRates
    expect(gauge('livewall_dedup_event_id_false_positive_ratio')).toBe(eventId)
    expect(gauge('livewall_dedup_order_id_false_positive_ratio')).toBe(orderId)
    // This file's few thousand events in 4 MiB: far from full, but not nothing.
    expect(eventId).toBeGreaterThan(0)
    expect(eventId).toBeLessThan(0.001)
  })
})

describe('money is exact to the cent', () => {
  test('1 000 orders of 0.10 sum to exactly 100.00', async () => {
    const orders = Array.from({ length: 1000 }, () => order('cents', 0.1))
    expect((await server.ingest(orders)).body.accepted).toBe(1000)
    const { body } = await server.get('/v1/streams/cents')
    expect(body.totals.gmv).toBe(100)
    const rows = await (
      await server.app.clickhouse.query({
        query: "SELECT toString(sum(amount)) AS total FROM events WHERE stream_id = 'cents'",
        format: 'JSONEachRow',
      })
    ).json<{ total: string }>()
    expect(rows[0]!.total).toBe('100')
  })

  test('a decimal string is read as a JSON number is: zeros after the cents and spaces around it change nothing', async () => {
    const result = await server.ingest([
      order('str-zeros', '10.500'),
      order('str-zeros', ' 5 '),
      order('str-zeros', '1.235'),
    ])
    expect(result.body.accepted).toBe(2)
    expect(result.body.errors.map((e: { message: string }) => e.message)).toEqual([
      'amount: 1.235 has more than 2 decimal places',
    ])
    expect((await server.get('/v1/streams/str-zeros')).body.totals.gmv).toBe(15.5)
  })

  test('0.1 + 0.2 is 0.30, and large amounts keep their cents', async () => {
    await server.ingest([order('cents2', 0.1), order('cents2', 0.2), order('cents2', '9999999999999.99')])
    const { body } = await server.get('/v1/streams/cents2')
    expect(body.totals.gmv).toBe(10000000000000.29)
    expect(String(body.totals.gmv)).toBe('10000000000000.29')
  })

  test('a JSON-number amount is judged by the digits written, never as rounded to binary', async () => {
    // Written by hand: JSON.stringify would print these numbers as the doubles they round to.
    const line = (amount: string, extra = '') =>
      `{"event_id":"${id()}","type":"order_paid","stream_id":"exact","ts":${Date.now()},` +
      `"viewer_id":"b","product_id":"p","order_id":"${id('o')}"${extra},"amount":${amount}}`
    const sent = [
      line('9007199254740993'),
      line('1234567890123456.78'),
      line('1.0000000000000001'),
      line('0.0000001'),
      line('12.5'),
      // Trailing zeros are the same amount (fixed-scale serializers write them).
      line('10.500'),
      // Only the event's own member counts, the last if repeated (as JSON.parse reads it).
      line('25', ',"meta":{"amount":25.000}'),
      // A nested amount before a too precise top-level one hides nothing.
      line('1.0000000000000001', ',"meta":{"amount":1}'),
      `${line('1.0000000000000001').slice(0, -1)},"amount":2}`,
      // An exponent or an escaped key hide nothing.
      line('1.0000000000000001e0'),
      line('1.5e1'),
      line('3', '').replace('"amount":3', '"am\\u006funt":3.0000000000000001'),
      line(`1.${'0'.repeat(5000)}1`),
    ]
    const result = await post(sent.join('\n'), 'application/x-ndjson')
    expect(result.status).toBe(422)
    const errors = result.body.errors.map((e: { index: number; message: string }) => [e.index, e.message])
    expect(errors).toEqual([
      [2, 'amount: 1.0000000000000001 has more than 2 decimal places'],
      [3, 'amount: 0.0000001 has more than 2 decimal places'],
      [7, 'amount: 1.0000000000000001 has more than 2 decimal places'],
      [9, 'amount: 1.0000000000000001 has more than 2 decimal places'],
      [11, 'amount: 3.0000000000000001 has more than 2 decimal places'],
      [12, `amount: 1.${'0'.repeat(38)}… has more than 2 decimal places`],
    ])
    expect(result.body.accepted).toBe(7)
    const rows = await (
      await server.app.clickhouse.query({
        query: "SELECT toString(amount) AS text FROM events WHERE stream_id = 'exact' ORDER BY amount",
        format: 'JSONEachRow',
      })
    ).json<{ text: string }>()
    expect(rows.map((r) => r.text)).toEqual([
      '2',
      '10.5',
      '12.5',
      '15',
      '25',
      '1234567890123456.78',
      '9007199254740993',
    ])

    // In a JSON array each element's text is read the same way: the framing of the body
    // changes nothing.
    const tooPrecise = line('1.0000000000000001')
    const array = await post(
      `[ ${line('9007199254740995')} ,\n${line('2500000000000000.1')},${tooPrecise},${line('10.500')}]`,
      'application/json',
    )
    expect(array.status).toBe(422)
    expect(array.body.accepted).toBe(3)
    expect(array.body.errors.map((e: { index: number; message: string }) => [e.index, e.message])).toEqual([
      [2, 'amount: 1.0000000000000001 has more than 2 decimal places'],
    ])
    const arrayRows = await (
      await server.app.clickhouse.query({
        query:
          "SELECT toString(amount) AS text FROM events WHERE stream_id = 'exact' AND toString(amount) IN ('9007199254740995', '2500000000000000.1', '10.5') ORDER BY amount",
        format: 'JSONEachRow',
      })
    ).json<{ text: string }>()
    // (2500000000000000.1 as a double is …000: it was read as written)
    expect(arrayRows.map((r) => r.text)).toEqual(['10.5', '10.5', '2500000000000000.1', '9007199254740995'])
    // and the quarantine keeps the element as it was written
    const quarantine = await server.get('/v1/quarantine?limit=1000')
    expect(quarantine.body.items.map((q: { raw: string }) => q.raw)).toContain(tooPrecise)
  })
})

describe('exactly once', () => {
  test('a retried request changes no metric', async () => {
    const batch = [view('retry'), view('retry'), order('retry', '12.50')]
    expect((await server.ingest(batch)).body).toMatchObject({ accepted: 3, duplicates: 0 })
    const before = (await server.get('/v1/streams/retry')).body.totals
    const retried = (await server.ingest(batch)).body
    expect(retried).toMatchObject({ accepted: 0, duplicates: 3 })
    // each duplicate named, as the rejected events are, with why it was not counted
    const again =
      'duplicate: this event_id was already accepted (within 24 hours, or earlier in this request or one committed with it); not counted again'
    expect(retried.duplicate_events).toEqual(
      batch.map((event, index) => ({ index, event_id: event.event_id, message: again })),
    )
    expect((await server.get('/v1/streams/retry')).body.totals).toEqual(before)
  })

  test('the same event twice in one request counts once', async () => {
    const event = view('twice')
    const answer = (await server.ingest([view('twice'), event, event])).body
    expect(answer).toMatchObject({ accepted: 2, duplicates: 1 })
    expect(answer.duplicate_events).toEqual([
      { index: 2, event_id: event.event_id, message: expect.stringMatching(/^duplicate: this event_id/) },
    ])
  })

  test('order_paid repeated for one order_id under a new event_id counts once; the first amount stands', async () => {
    const first = order('orders1', '30.00', { order_id: 'ord-x' })
    const again = order('orders1', '99.00', { order_id: 'ord-x' })
    expect((await server.ingest([first])).body.accepted).toBe(1)
    const answer = (await server.ingest([again])).body
    expect(answer).toMatchObject({ accepted: 0, duplicates: 1 })
    const counted =
      'duplicate: order_id "ord-x" was already counted (under another event_id, or by this event over 24 hours ago); its first amount stands'
    expect(answer.duplicate_events).toEqual([{ index: 0, event_id: again.event_id, message: counted }])
    // Two copies of a new event for that order: the second is not "an event_id already
    // accepted" (neither copy was), it is dropped for the order too.
    const copy = order('orders1', '99.00', { order_id: 'ord-x' })
    expect((await server.ingest([copy, copy])).body.duplicate_events).toEqual([
      { index: 0, event_id: copy.event_id, message: counted },
      { index: 1, event_id: copy.event_id, message: counted },
    ])
    const { totals } = (await server.get('/v1/streams/orders1')).body
    expect(totals.orders).toBe(1)
    expect(totals.gmv).toBe(30)
  })

  test('an order_id already counted on another stream is a duplicate; the first stream keeps the order', async () => {
    expect(
      (await server.ingest([order('orders-a', '10.00', { order_id: 'ord-shared' })])).body.accepted,
    ).toBe(1)
    const other = await server.ingest([order('orders-b', '99.00', { order_id: 'ord-shared' })])
    expect(other.body).toMatchObject({ accepted: 0, duplicates: 1 })
    expect((await server.get('/v1/streams/orders-a')).body.totals).toMatchObject({ orders: 1, gmv: 10 })
    expect((await server.get('/v1/streams/orders-b')).status).toBe(404) // nothing of it was stored
  })

  test('refunds count once per event_id, not per order: they may precede, repeat and exceed the order', async () => {
    const refund = (amount: string) => ({
      ...order('refunds', amount, { order_id: 'ord-r' }),
      type: 'order_refunded',
    })
    const early = refund('50.00')
    const answer = await server.ingest([
      early,
      order('refunds', '10.00', { order_id: 'ord-r' }),
      refund('50.00'), // a second refund of the same order, under a new event_id
      early, // a retry of the first: a duplicate
    ])
    expect(answer.body).toMatchObject({ accepted: 3, duplicates: 1, rejected: 0 })
    expect((await server.get('/v1/streams/refunds')).body.totals).toMatchObject({
      orders: 1,
      gmv: 10,
      refunds: 100,
      net_gmv: -90,
    })
  })

  test('the same event_id sent after a server restart changes no metric', async () => {
    const batch = [view('restart'), order('restart', '7.77')]
    expect((await server.ingest(batch)).body.accepted).toBe(2)
    const before = (await server.get('/v1/streams/restart')).body.totals
    await server.close()
    server = await startTestServer({ database: server.database })
    expect((await server.ingest(batch)).body).toMatchObject({ accepted: 0, duplicates: 2 })
    expect((await server.get('/v1/streams/restart')).body.totals).toEqual(before)
  })
})
