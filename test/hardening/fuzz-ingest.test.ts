import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { EVENT_TYPES } from '../../server/schemas/event.ts'
import { manualClock, OTHER_KEY, startTestServer, TEST_KEY, type TestServer } from '../helpers/server.ts'
import {
  type ExpectedRow,
  type LineSpec,
  type MixedBody,
  mixedBody,
  NASTY,
  nasty,
  renderEvent,
} from './event-arbitraries.ts'

/**
 * POST /v1/events under generated abuse. Whatever arrives, the answer is never a 5xx and
 * never a crash; every rejection is explained; the valid events of a mixed body are stored,
 * exactly once, byte for byte.
 */

let server: TestServer
const tally = { inject: 0, port: 0, accepted: 0, duplicates: 0, rejected: 0 }
/** Every event the server acknowledged as accepted, as the events table must hold it. */
const stored = new Map<string, ExpectedRow>()
let unique = 0
const line = (e: object) => JSON.stringify(e)

beforeAll(async () => {
  // The fuzzer is one very fast client: the per-key rate limit is not what is under test here.
  // Load shedding is off here: this file checks what the validator answers, and a loaded CI
  // machine must not turn a fuzz case into a (correct) 503. Shedding has its own tests.
  server = await startTestServer({
    env: {
      INGEST_RATE_LIMIT_PER_KEY: '1000000',
      LOAD_SHED_EVENT_LOOP_DELAY_MS: '0',
      LOAD_SHED_HEAP_USED_MB: '0',
    },
  })
})
afterAll(() => server.close())

interface Answer {
  status: number
  // biome-ignore lint/suspicious/noExplicitAny: an answer is JSON of several shapes, read field by field
  body: any
  headers: Record<string, string | string[] | undefined>
}

async function inject(payload: Buffer, headers: Record<string, string>): Promise<Answer> {
  tally.inject++
  const res = await server.app.inject({ method: 'POST', url: '/v1/events', headers, payload })
  let body: unknown
  try {
    body = res.json()
  } catch {
    body = res.body
  }
  return { status: res.statusCode, body, headers: res.headers as Answer['headers'] }
}

async function overPort(payload: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  tally.port++
  const res = await fetch(`${server.url}/v1/events`, { method: 'POST', headers, body: payload as BodyInit })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, headers: Object.fromEntries(res.headers) }
}

/** A body ready to send, with the answer it must get. */
interface Rendered {
  payload: Buffer
  contentType: string
  accepted: ExpectedRow[]
  duplicates: number
  /** index of each duplicate slot, in order */
  duplicateAt: number[]
  /** index and (when readable) event_id of each rejected slot, in order */
  rejected: { index: number; eventId?: string }[]
}

function render(b: MixedBody): Rendered {
  const now = Date.now()
  const slots: {
    bytes: Buffer
    fate: 'valid' | 'duplicate' | 'rejected' | 'blank'
    row?: ExpectedRow
    eventId?: string
  }[] = []
  for (const spec of b.lines as LineSpec[]) {
    const tag = `${process.pid}.${++unique}`
    if (spec.kind === 'valid') {
      const r = renderEvent(spec.event, tag, now)
      slots.push({ bytes: Buffer.from(r.text), fate: 'valid', row: r.expected })
    } else if (spec.kind === 'mutant') {
      const r = renderEvent(spec.event, tag, now, spec.mutation)
      slots.push({
        bytes: Buffer.from(r.text),
        fate: 'rejected',
        eventId: spec.mutation.field === 'event_id' ? undefined : r.eventId,
      })
    } else if (spec.kind === 'junk') {
      slots.push({ bytes: Buffer.from(spec.line.bytes), fate: 'rejected' })
    } else if (spec.kind === 'blank') {
      slots.push({ bytes: Buffer.from(spec.text), fate: 'blank' })
    } else {
      const earlier = slots.filter((s) => s.fate === 'valid')
      const original = earlier[earlier.length - spec.back]
      if (original) slots.push({ bytes: original.bytes, fate: 'duplicate' })
    }
  }
  let payload: Buffer
  if (b.mode === 'ndjson') {
    payload = Buffer.concat(
      slots.flatMap((s, i) => (i === 0 ? [s.bytes] : [Buffer.from(b.crlf ? '\r\n' : '\n'), s.bytes])),
    )
  } else if (b.mode === 'json-array') {
    payload = Buffer.concat([
      Buffer.from('['),
      ...slots.flatMap((s, i) => (i === 0 ? [s.bytes] : [Buffer.from(b.crlf ? ',\r\n' : ','), s.bytes])),
      Buffer.from(']'),
    ])
  } else payload = slots[0]!.bytes
  return {
    payload,
    contentType: b.contentType,
    accepted: slots.filter((s) => s.fate === 'valid').map((s) => s.row!),
    duplicates: slots.filter((s) => s.fate === 'duplicate').length,
    duplicateAt: slots.flatMap((s, index) => (s.fate === 'duplicate' ? [index] : [])),
    rejected: slots.flatMap((s, index) => (s.fate === 'rejected' ? [{ index, eventId: s.eventId }] : [])),
  }
}

/** An error answer names its problem: SPEC's `{ error: { code, message } }`. */
function expectExplained(answer: Answer) {
  expect(answer.body?.error?.code, JSON.stringify(answer.body)).toEqual(expect.any(String))
  expect(answer.body.error.message.length).toBeGreaterThan(0)
}

/** The answer a 200/422 body must have; every 422 entry says why. */
function expectIngestAnswer(answer: Answer) {
  expect([200, 422]).toContain(answer.status)
  const { accepted, duplicates, rejected, errors } = answer.body
  for (const n of [accepted, duplicates, rejected]) expect(Number.isInteger(n) && n >= 0).toBe(true)
  expect(answer.status === 422).toBe(rejected > 0)
  expect(errors).toHaveLength(Math.min(rejected, 100))
  for (const e of errors) {
    expect(Number.isInteger(e.index)).toBe(true)
    expect(typeof e.message === 'string' && e.message.length > 0 && e.message.isWellFormed()).toBe(true)
  }
  tally.accepted += accepted
  tally.duplicates += duplicates
  tally.rejected += rejected
}

function expectFate(r: Rendered, answer: Answer) {
  expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBeLessThan(500)
  expectIngestAnswer(answer)
  expect(answer.body.accepted).toBe(r.accepted.length)
  expect(answer.body.duplicates).toBe(r.duplicates)
  // each duplicate named by its index (the field is there only when there are some)
  const named = (answer.body.duplicate_events as { index: number }[] | undefined)?.map((d) => d.index)
  expect(named).toEqual(r.duplicates > 0 ? r.duplicateAt.slice(0, 100) : undefined)
  expect(answer.body.rejected).toBe(r.rejected.length)
  const errors = answer.body.errors as { index: number; event_id?: string }[]
  expect(errors.map((e) => e.index)).toEqual(r.rejected.slice(0, 100).map((x) => x.index))
  r.rejected.slice(0, 100).forEach((x, i) => {
    if (x.eventId !== undefined) expect(errors[i]!.event_id).toBe(x.eventId)
  })
  for (const row of r.accepted) stored.set(row.event_id, row)
}

describe('POST /v1/events under fuzzing', () => {
  test('mixed bodies: valid events stored, every bad one explained (in-process, concurrent)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mixedBody, { minLength: 40, maxLength: 40 }), async (bodies) => {
        const rendered = bodies.map(render)
        const answers = await Promise.all(
          rendered.map((r) =>
            inject(r.payload, { authorization: `Bearer ${TEST_KEY}`, 'content-type': r.contentType }),
          ),
        )
        rendered.forEach((r, i) => {
          expectFate(r, answers[i]!)
        })
      }),
      { numRuns: 100 },
    )
  }, 180_000)

  const CONTENT_TYPES = [
    'application/json',
    'application/x-ndjson',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'text/plain',
    'text/html',
    'application/xml',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    'application/*',
    '*/*',
    '',
    ';',
    'application/json;;;',
    'application/x-ndjson, application/json',
    'APPLICATION/JSON',
    'application/jsonp',
  ]
  const looseEvent = fc.record(
    {
      event_id: fc.oneof(nasty(0, 70), fc.integer(), fc.constant(null), fc.string()),
      type: fc.oneof(
        fc.constantFrom(...EVENT_TYPES),
        fc.string(),
        fc.constantFrom('__proto__', 'constructor'),
      ),
      stream_id: fc.oneof(nasty(0, 140), fc.integer(), fc.array(fc.string())),
      ts: fc.oneof(
        fc.constant(Date.now()),
        fc.integer(),
        fc.double(),
        fc.string(),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      ),
      viewer_id: fc.oneof(nasty(0, 140), fc.integer()),
      product_id: nasty(0, 140),
      order_id: nasty(0, 140),
      amount: fc.oneof(
        fc.double(),
        fc.string(),
        fc.integer(),
        fc.stringMatching(/^-?[0-9]{0,20}(\.[0-9]{0,4})?$/),
      ),
      currency: fc.oneof(fc.constantFrom('USD', 'usd', 'EUR'), fc.string()),
      quantity: fc.oneof(fc.integer(), fc.double()),
      source: fc.oneof(fc.constantFrom('for_you', 'ads'), fc.string()),
      creator_id: nasty(0, 140),
      title: nasty(0, 210),
      label: nasty(0, 210),
    },
    { requiredKeys: [] },
  )
  const garbageBody: fc.Arbitrary<Buffer> = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
    fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s)),
    fc.json().map((s) => Buffer.from(s)),
    fc.array(fc.json(), { maxLength: 20 }).map((a) => Buffer.from(a.join('\n'))),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.array(fc.constantFrom(...NASTY), { maxLength: 20 }).map((a) => Buffer.from(a.join('\n'))),
    looseEvent.map((e) => Buffer.from(JSON.stringify(e))),
    fc.array(looseEvent, { maxLength: 15 }).map((a) => Buffer.from(JSON.stringify(a))),
    fc
      .array(looseEvent, { maxLength: 15 })
      .map((a) => Buffer.from(a.map((e) => JSON.stringify(e)).join('\n'))),
  )
  const garbageRequest = fc.record({
    payload: garbageBody,
    contentType: fc.option(
      fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.stringMatching(/^[\x20-\x7e]{0,60}$/)),
      {
        freq: 6,
      },
    ),
    authorization: fc.oneof(
      { weight: 10, arbitrary: fc.constant(`Bearer ${TEST_KEY}`) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          null,
          'Bearer',
          'Bearer ',
          `bearer ${OTHER_KEY}`,
          `Bearer ${TEST_KEY}x`,
          `Bearer ${TEST_KEY} ${TEST_KEY}`,
          'Basic dXNlcjpwYXNz',
          `Bearer ${'k'.repeat(5000)}`,
        ),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,80}$/) },
    ),
  })

  test('garbage bodies, content types and keys: never a 5xx, every refusal explained (in-process)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(garbageRequest, { minLength: 50, maxLength: 50 }), async (requests) => {
        const answers = await Promise.all(
          requests.map((r) => {
            const headers: Record<string, string> = {}
            if (r.contentType !== null) headers['content-type'] = r.contentType
            if (r.authorization !== null) headers.authorization = r.authorization
            return inject(r.payload, headers)
          }),
        )
        for (const answer of answers) {
          expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBeLessThan(500)
          expect([200, 400, 401, 413, 415, 422]).toContain(answer.status)
          if (answer.status === 200 || answer.status === 422) expectIngestAnswer(answer)
          else expectExplained(answer)
        }
      }),
      { numRuns: 130 },
    )
  }, 180_000)

  test('mixed bodies over the real port', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mixedBody, { minLength: 20, maxLength: 20 }), async (bodies) => {
        const rendered = bodies.map(render)
        const answers = await Promise.all(
          rendered.map((r) =>
            overPort(r.payload, { authorization: `Bearer ${TEST_KEY}`, 'content-type': r.contentType }),
          ),
        )
        rendered.forEach((r, i) => {
          expectFate(r, answers[i]!)
        })
      }),
      { numRuns: 15 },
    )
  }, 120_000)

  test('read endpoints under junk ids and query strings: never a 5xx', async () => {
    const query = fc.dictionary(
      fc.constantFrom(
        'status',
        'vertical',
        'creator_id',
        'limit',
        'metrics',
        'step',
        'from',
        'to',
        '__proto__',
      ),
      fc.oneof(
        nasty(0, 80),
        fc.constantFrom(
          '1e309',
          '-1',
          '0',
          '99999999999999999999',
          '-99999999999999999999',
          'NaN',
          '1s',
          '5m',
        ),
        fc.constantFrom('gmv,__proto__', 'constructor', 'gmv,gmv,orders', '2026-02-30T00:00:00Z', 'live'),
      ),
      { maxKeys: 4 },
    )
    const readRequest = fc.record({
      path: fc.constantFrom('', '/series', '/products', '/markers', '/sources'),
      id: fc.oneof(nasty(1, 200), fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..', '.', 'a%2Fb')),
      encode: fc.boolean(),
      query,
      list: fc.constantFrom('/v1/streams', '/v1/quarantine', null),
    })
    const token = server.opsToken
    await fc.assert(
      fc.asyncProperty(fc.array(readRequest, { minLength: 10, maxLength: 10 }), async (requests) => {
        const answers = await Promise.all(
          requests.map(async (r) => {
            const qs = new URLSearchParams(r.query).toString()
            const id = r.encode ? encodeURIComponent(r.id) : r.id.replace(/[\s#?]/g, encodeURIComponent)
            const url = r.list ? `${r.list}?${qs}` : `/v1/streams/${id}${r.path}?${qs}`
            const res = await server.app.inject({
              method: 'GET',
              url,
              headers: { authorization: `Bearer ${token}` },
            })
            return { url, status: res.statusCode, body: res.body }
          }),
        )
        for (const a of answers) {
          expect(a.status, `${a.url} → ${a.body.slice(0, 300)}`).toBeLessThan(500)
          if (a.status >= 400) expect(JSON.parse(a.body).error.code).toEqual(expect.any(String))
        }
      }),
      { numRuns: 40 },
    )
  }, 120_000)
})

test('storage holds exactly what was acknowledged, byte for byte, and every rejection', async () => {
  const bodies = tally.inject + tally.port
  const query = async <T>(sql: string) =>
    (await (await server.app.clickhouse.query({ query: sql, format: 'JSONEachRow' })).json()) as T[]
  const rows = await query<ExpectedRow>(
    `SELECT event_id, type, stream_id, toUnixTimestamp64Milli(ts) AS ts, viewer_id, product_id, order_id,
            toInt64(amount * 100) AS cents, quantity, source, creator_id, title, vertical, campaign_id, label
     FROM events`,
  )
  const quarantined = (await query<{ n: number }>('SELECT count() AS n FROM quarantine'))[0]!.n
  console.log(
    `fuzz: ${bodies} bodies (${tally.inject} in-process, ${tally.port} over the port); ` +
      `${tally.accepted} events accepted, ${tally.duplicates} duplicates, ${tally.rejected} rejected; ` +
      `${rows.length} events stored, ${quarantined} quarantined`,
  )
  expect(bodies).toBeGreaterThanOrEqual(10_000)
  expect(rows.length).toBe(tally.accepted)
  expect(quarantined).toBe(tally.rejected)
  const byId = new Map(rows.map((r) => [r.event_id, r]))
  expect(byId.size).toBe(rows.length) // no event stored twice
  const mismatches = [...stored.values()].filter((want) => {
    const got = byId.get(want.event_id)
    return !got || JSON.stringify(got) !== JSON.stringify(want)
  })
  expect(mismatches.slice(0, 3).map((w) => ({ want: w, got: byId.get(w.event_id) }))).toEqual([])
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  console.log(
    metrics
      .split('\n')
      .filter((l) => /inflight|shed|pending/.test(l))
      .join('\n'),
  )
})

describe('adversarial bodies over the real port', () => {
  const key = { authorization: `Bearer ${TEST_KEY}` }
  const ndjson = { ...key, 'content-type': 'application/x-ndjson' }
  const json = { ...key, 'content-type': 'application/json' }
  const view = (fields: Record<string, unknown> = {}) => ({
    event_id: `adv-${++unique}`,
    type: 'view_start',
    stream_id: 'adversarial',
    ts: Date.now(),
    viewer_id: 'v',
    ...fields,
  })
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
  const TEN_MB = 10 * 1024 * 1024

  test('10 MB lines and bodies: 413 before they are read, with a code', async () => {
    const huge = `{"event_id":"big","type":"view_start","stream_id":"s","ts":1,"viewer_id":"${'x'.repeat(TEN_MB)}"}`
    for (const [headers, payload] of [
      [ndjson, huge],
      [json, huge],
      [json, `[${huge}]`],
    ] as const) {
      const answer = await overPort(payload, headers)
      expect(answer.status).toBe(413)
      expect(answer.body.error.code).toBe('payload_too_large')
    }
    // the same without a Content-Length: cut off while streaming
    let sent = 0
    const chunks = new ReadableStream({
      pull(controller) {
        if (sent++ < 10) controller.enqueue(Buffer.alloc(1024 * 1024, 0x78))
        else controller.close()
      },
    })
    const streamed = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: ndjson,
      body: chunks,
      duplex: 'half',
    } as RequestInit)
    const streamedBody = await streamed.json()
    expect(streamed.status, JSON.stringify(streamedBody)).toBe(413)
    expect(streamedBody.error.code).toBe('payload_too_large')
  })

  test('a line just under the limit is judged on its own; its raw text is quarantined cut at 64 KiB', async () => {
    const big = view({ padding: 'p'.repeat(3 * 1024 * 1024) })
    const bad = view({ ts: undefined, padding: 'q'.repeat(1024 * 1024) })
    const answer = await overPort(`${line(big)}\n${line(bad)}`, ndjson)
    expect(answer.status).toBe(422)
    expect(answer.body).toMatchObject({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, message: 'ts: is required' }],
    })
    const q = await server.get('/v1/quarantine?limit=5')
    const row = q.body.items.find((i: { event_id: string }) => i.event_id === bad.event_id)
    expect(row.raw.length).toBe(64 * 1024)
    expect(line(bad).startsWith(row.raw)).toBe(true)
  })

  test('ten thousand nested arrays: rejected as not an event, or ignored in an unknown field; deeper is refused unparsed', async () => {
    const nestedLine = await overPort(deep(10_000), ndjson)
    expect(nestedLine.status).toBe(422)
    expect(nestedLine.body.errors[0].message).toBe('event: must be a JSON object, got an array')
    const nestedInArray = await overPort(`[${line(view())},${deep(10_000)}]`, json)
    expect(nestedInArray.body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 1 }] })
    // (an event 10 000 levels deep, the most allowed)
    const inUnknownField = `{"nested":${deep(9_999)},${line(view()).slice(1)}`
    expect((await overPort(inUnknownField, ndjson)).body).toMatchObject({ accepted: 1, rejected: 0 })
    // Two million levels (4 MB) are refused unparsed: JSON.parse of that depth holds the event
    // loop for seconds (every request with it). The line is refused and quarantined, its
    // neighbours stored; a JSON body that deep is a 400 saying why.
    const deepLine = deep(2_000_000)
    const millionLine = await overPort(`${line(view())}\n${deepLine}`, ndjson)
    expect(millionLine.status).toBe(422)
    expect(millionLine.body).toMatchObject({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, message: 'line nests deeper than 10000 levels of arrays and objects' }],
    })
    const million = await overPort(`[${deep(2_000_000)}]`, json)
    expect(million.status).toBe(400)
    expect(million.body.error).toEqual({
      code: 'invalid_json',
      message: 'body nests deeper than 10001 levels of arrays and objects (an event at most 10000)',
    })
    const unclosed = await overPort('['.repeat(4_000_000), json)
    expect(unclosed.status).toBe(400)
    expect(unclosed.body.error.code).toBe('invalid_json')
  })

  test('1e309, huge and negative numbers are rejected field by field', async () => {
    const order = { type: 'order_paid', product_id: 'p', order_id: `o-${unique}`, amount: 1 }
    const body = [
      `{"ts":1e309,${line(view()).slice(1)}`.replace(/,"ts":\d+/, ''),
      line(view({ ts: -1 })),
      line(view({ ts: 9_000_000_000_000_000 })),
      line(view({ ...order, amount: -0.01 })),
      `${line(view({ ...order, order_id: 'o-inf' })).slice(0, -1)},"amount":1e309}`,
      line(view({ ...order, order_id: 'o-big', amount: 1e21 })),
      line(view({ ...order, order_id: 'o-q', quantity: 1e9 })),
      line(view({ ...order, order_id: 'o-neg0', amount: -0 })),
    ].join('\n')
    const answer = await overPort(body, ndjson)
    expect(answer.status).toBe(422)
    expect(answer.body.errors.map((e: { message: string }) => e.message.split(':')[0])).toEqual([
      'ts',
      'ts',
      'ts',
      'amount',
      'amount',
      'amount',
      'quantity',
    ])
    expect(answer.body.accepted).toBe(1) // -0 is 0.00
  })

  test('NUL bytes and broken UTF-8: the line is refused, the rest stored; a JSON body is a 400', async () => {
    const good = view({ viewer_id: 'nul\u0000inside' })
    const body = Buffer.concat([
      Buffer.from(`${line(good)}\n{"event_id":"raw-nul`),
      Buffer.from([0x00]),
      Buffer.from('"}\n{"event_id":"bad-utf8-'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}\n'),
      Buffer.from([0x00, 0x00, 0x00]),
    ])
    const answer = await overPort(body, ndjson)
    expect(answer.body).toMatchObject({ accepted: 1, rejected: 3 })
    expect(answer.body.errors[1].message).toBe('line is not valid UTF-8')
    const asJson = await overPort(
      Buffer.concat([Buffer.from('['), Buffer.from([0xff]), Buffer.from(']')]),
      json,
    )
    expect(asJson.status).toBe(400)
    expect(asJson.body.error.code).toBe('invalid_body')
  })

  test('wrong and missing content types: 415 with a code; NDJSON sent as JSON is a 400', async () => {
    const body = `${line(view())}\n${line(view())}`
    for (const contentType of [
      undefined,
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/xml',
    ]) {
      const headers: Record<string, string> = { ...key }
      if (contentType) headers['content-type'] = contentType
      const answer = await overPort(body, headers)
      expect(answer.status, contentType).toBe(415)
      expect(answer.body.error.code).toBe('unsupported_media_type')
    }
    const mislabelled = await overPort(body, json)
    expect(mislabelled.status).toBe(400)
    expect(mislabelled.body.error.code).toBe('invalid_json')
  })

  test('__proto__ and constructor keys pollute nothing', async () => {
    const polluting = () => [
      `{"__proto__":{"polluted":"yes","type":"marker"},${line(view()).slice(1)}`,
      `{"constructor":{"prototype":{"polluted":"yes"}},${line(view()).slice(1)}`,
      '{"__proto__":{"event_id":"p","type":"view_start","stream_id":"s","ts":1,"viewer_id":"v"}}',
    ]
    const answer = await overPort(polluting().join('\n'), ndjson)
    expect(answer.body).toMatchObject({
      accepted: 2,
      rejected: 1,
      errors: [{ index: 2, message: 'event_id: is required' }],
    })
    const asArray = await overPort(`[${polluting().join(',')}]`, json)
    expect(asArray.body).toMatchObject({ accepted: 2, rejected: 1 })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('type')
  })

  test('10 000 blank lines keep their line numbers; 10 001 events are a 413', async () => {
    const blanks = `${'\n'.repeat(10_000)}${line(view({ ts: 'garbage' }))}`
    const answer = await overPort(blanks, ndjson)
    expect(answer.body.errors[0].index).toBe(10_000)
    const tooMany = Array.from({ length: 10_001 }, () => '{}').join('\n')
    const refused = await overPort(tooMany, ndjson)
    expect(refused.status).toBe(413)
    expect(refused.body.error.code).toBe('too_many_events')
  })

  test('impossible calendar dates are refused, not rolled over into the next month', async () => {
    const clock = manualClock(Date.parse('2026-03-01T12:00:00Z'))
    const own = await startTestServer({
      clock,
      env: { LOAD_SHED_EVENT_LOOP_DELAY_MS: '0', LOAD_SHED_HEAP_USED_MB: '0' },
    })
    try {
      const at = (ts: string) => ({
        event_id: `cal-${ts}`,
        type: 'view_start',
        stream_id: 'cal',
        ts,
        viewer_id: 'v',
      })
      const answer = await own.ingest([
        at('2026-02-29T12:00:00Z'),
        at('2026-02-28T24:00:00Z'),
        at('2026-03-01T11:59:00Z'),
      ])
      expect(answer.body).toMatchObject({ accepted: 1, rejected: 2 })
      expect(answer.body.errors[0].message).toContain('is not a real date and time')
    } finally {
      await own.close()
    }
  })
})

describe('text round-trips unchanged through storage and the API', () => {
  test('creator, title, vertical, campaign, label, product and viewer ids come back identical', async () => {
    const texts = [...NASTY, ...fc.sample(nasty(1, 60), { numRuns: 40, seed: 42 })]
    const answers = await Promise.all(
      texts.map(async (text, i) => {
        const stream = `rt-${i}-${text}`
        const ts = Date.now()
        const events = [
          {
            event_id: `rt-start-${i}`,
            type: 'stream_start',
            stream_id: stream,
            ts,
            creator_id: text,
            title: text,
            vertical: text,
            campaign_id: text,
          },
          { event_id: `rt-view-${i}`, type: 'view_start', stream_id: stream, ts, viewer_id: text },
          { event_id: `rt-pin-${i}`, type: 'product_pin', stream_id: stream, ts: ts + 1, product_id: text },
          { event_id: `rt-mark-${i}`, type: 'marker', stream_id: stream, ts: ts + 2, label: text },
        ]
        const ingest = await overPort(events.map(line).join('\n'), {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': 'application/x-ndjson',
        })
        expect(ingest.body, text).toMatchObject({ accepted: 4, rejected: 0 })
        const path = `/v1/streams/${encodeURIComponent(stream)}`
        const meta = await server.get(path)
        expect(meta.status, JSON.stringify(text)).toBe(200)
        expect(meta.body).toMatchObject({
          stream_id: stream,
          creator_id: text,
          title: text,
          vertical: text,
          campaign_id: text,
        })
        expect(meta.body.totals.views).toBe(1)
        const markers = await server.get(`${path}/markers`)
        expect(markers.body.markers).toEqual([
          expect.objectContaining({ type: 'product_pin', product_id: text }),
          expect.objectContaining({ type: 'marker', label: text }),
        ])
        const listed = await server.get(`/v1/streams?limit=1000&creator_id=${encodeURIComponent(text)}`)
        expect(listed.body.streams.map((s: { stream_id: string }) => s.stream_id)).toContain(stream)
        // a creator token naming this text reads the stream
        expect((await server.get(path, server.creatorToken(text))).status).toBe(200)
        return text
      }),
    )
    expect(answers).toHaveLength(texts.length)
    const rows = (await (
      await server.app.clickhouse.query({
        query:
          "SELECT viewer_id FROM events WHERE event_id LIKE 'rt-view-%' ORDER BY toUInt32(splitByChar('-', event_id)[3])",
        format: 'JSONEachRow',
      })
    ).json()) as { viewer_id: string }[]
    expect(rows.map((r) => r.viewer_id)).toEqual(texts)
  }, 60_000)

  test('a rejected line keeps its raw text and stream id exactly', async () => {
    const texts = NASTY.filter((t) => t.length <= 100)
    const lines = texts.map((text, i) =>
      line({ event_id: `rq-${i}`, type: 'view_start', stream_id: `rq-${text}`, ts: Date.now(), note: text }),
    )
    const answer = await overPort(lines.join('\n'), {
      authorization: `Bearer ${TEST_KEY}`,
      'content-type': 'application/x-ndjson',
    })
    expect(answer.body.rejected).toBe(texts.length)
    const q = await server.get('/v1/quarantine?limit=1000')
    for (const [i, text] of texts.entries()) {
      const item = q.body.items.find((it: { event_id: string }) => it.event_id === `rq-${i}`)
      expect(item, text).toMatchObject({
        raw: lines[i],
        stream_id: `rq-${text}`,
        reason: 'viewer_id: is required',
      })
    }
  })
})
