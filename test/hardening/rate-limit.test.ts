import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { OTHER_KEY, startTestServer, TEST_KEY, type TestServer } from '../helpers/server.ts'

/** Each ingest key has its own rate (INGEST_RATE_LIMIT_PER_KEY requests per second). */

const RATE = 20
let server: TestServer
let seq = 0

beforeAll(async () => {
  server = await startTestServer({ env: { INGEST_RATE_LIMIT_PER_KEY: String(RATE) } })
})
afterAll(() => server.close())

async function send(authorization: string, stream = 'rate') {
  const id = `${stream}-${++seq}`
  const started = performance.now()
  const response = await fetch(`${server.url}/v1/events`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-ndjson' },
    body: JSON.stringify({
      event_id: id,
      type: 'view_start',
      stream_id: stream,
      ts: Date.now(),
      viewer_id: 'v',
    }),
    signal: AbortSignal.timeout(10_000),
  })
  return {
    id,
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: await response.json(),
    ms: performance.now() - started,
  }
}

/** Waits for the start of a fresh one-second window, so a burst is not split across two. */
async function freshWindow() {
  await new Promise((resolve) => setTimeout(resolve, 1100))
}

async function storedIds(stream: string): Promise<Set<string>> {
  const rows = await (
    await server.app.clickhouse.query({
      query: 'SELECT event_id FROM events WHERE stream_id = {stream:String}',
      query_params: { stream },
      format: 'JSONEachRow',
    })
  ).json<{ event_id: string }>()
  return new Set(rows.map((r) => r.event_id))
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

describe('per-key rate limit', () => {
  test('over its rate a key gets 429 + Retry-After in the API error format, and nothing of those requests is stored', async () => {
    await freshWindow()
    const answers = await Promise.all(
      Array.from({ length: 3 * RATE }, () => send(`Bearer ${TEST_KEY}`, 'burst')),
    )
    const ok = answers.filter((a) => a.status === 200)
    const limited = answers.filter((a) => a.status === 429)
    expect(ok.length + limited.length).toBe(answers.length)
    // a burst may straddle two windows, never more
    expect(ok.length).toBeGreaterThanOrEqual(RATE)
    expect(ok.length).toBeLessThanOrEqual(2 * RATE)
    for (const a of limited) {
      expect(a.body.error.code).toBe('rate_limited')
      expect(a.body.error.message).toMatch(/retry in/)
      // present, whole seconds, at least 1 (a 0 would invite an immediate retry)
      expect(a.retryAfter).toMatch(/^\d+$/)
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1)
    }
    expect(await storedIds('burst')).toEqual(new Set(ok.map((a) => a.id)))

    // once the window has passed, the key is served again
    await new Promise((resolve) => setTimeout(resolve, Number(limited[0]!.retryAfter) * 1000 + 100))
    expect((await send(`Bearer ${TEST_KEY}`)).status).toBe(200)
  })

  test('a key over its rate does not slow the other key', async () => {
    await freshWindow()
    let flooding = true
    const flood: { status: number }[] = []
    const flooder = (async () => {
      while (flooding)
        flood.push(...(await Promise.all(Array.from({ length: 10 }, () => send(`Bearer ${TEST_KEY}`)))))
    })()
    const other: { status: number; ms: number }[] = []
    for (let i = 0; i < 20; i++) {
      // 10 requests per second: well under this key's rate
      other.push(await send(`Bearer ${OTHER_KEY}`, 'other'))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    flooding = false
    await flooder
    const limited = flood.filter((a) => a.status === 429).length
    console.log(
      `rate: flooding key sent ${flood.length} requests, ${limited} got 429; ` +
        `other key: ${other.filter((a) => a.status === 200).length}/20 served, median ${median(other.map((a) => a.ms)).toFixed(0)} ms, ` +
        `max ${Math.max(...other.map((a) => a.ms)).toFixed(0)} ms`,
    )
    expect(limited).toBeGreaterThan(0)
    expect(other.map((a) => a.status)).toEqual(Array(20).fill(200))
  }, 30_000)

  test('spelling the Authorization header differently does not buy a fresh budget', async () => {
    await freshWindow()
    const spellings = [
      `Bearer ${TEST_KEY}`,
      `bearer ${TEST_KEY}`,
      `Bearer  ${TEST_KEY}`,
      `BEARER ${TEST_KEY} `,
      `Bearer\t${TEST_KEY}`,
    ]
    const answers = await Promise.all(
      Array.from({ length: 3 * RATE }, (_, i) => send(spellings[i % spellings.length]!)),
    )
    const ok = answers.filter((a) => a.status === 200).length
    expect(ok).toBeLessThanOrEqual(2 * RATE)
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0)
  })

  test('unknown keys get 401, never 429, and spend no real key’s budget', async () => {
    await freshWindow()
    const strangers = await Promise.all(
      Array.from({ length: 3 * RATE }, (_, i) => send(`Bearer stranger-key-${i}`)),
    )
    expect(strangers.every((a) => a.status === 401 && a.body.error.code === 'unauthorized')).toBe(true)
    const same = await Promise.all(Array.from({ length: 3 * RATE }, () => send('Bearer stranger-key-x')))
    expect(same.every((a) => a.status === 401)).toBe(true)
    expect((await send(`Bearer ${TEST_KEY}`)).status).toBe(200)
  })
})
