import { describe, expect, test } from 'vitest'
import type { Clock } from '../../scripts/sim/clock.ts'
import type { WireEvent } from '../../scripts/sim/events.ts'
import { Rng } from '../../scripts/sim/rng.ts'
import { EventSender, IngestError, parseRetryAfter } from '../../scripts/sim/sender.ts'

const NOW = Date.parse('2025-03-14T18:00:00.000Z')
const EVENTS: WireEvent[] = [
  { event_id: 'e-1', type: 'view_start', stream_id: 's-1', ts: NOW, viewer_id: 'v-1' },
  { event_id: 'e-2', type: 'like', stream_id: 's-1', ts: NOW, viewer_id: 'v-1', quantity: 3 },
]

type Answer = Response | Error

/** A fetch that plays back answers in order and records each request. */
function scriptedFetch(answers: Answer[]) {
  const requests: { url: string; init: RequestInit }[] = []
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(input), init: init ?? {} })
    const answer = answers.shift()
    if (!answer) throw new Error('no more scripted answers')
    if (answer instanceof Error) throw answer
    return answer
  }) as typeof fetch
  return { fetchFn, requests }
}

function recordingClock(): Clock & { sleeps: number[] } {
  let now = NOW
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms)
      now += ms
    },
  }
}

const ok = (accepted = 2) =>
  new Response(JSON.stringify({ accepted, duplicates: 0, rejected: 0, errors: [] }), { status: 200 })
const status = (code: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ error: { code: 'x', message: 'nope' } }), { status: code, headers })

function sender(answers: Answer[], maxRetries = 5) {
  const clock = recordingClock()
  const { fetchFn, requests } = scriptedFetch(answers)
  const s = new EventSender({
    url: 'http://127.0.0.1:3000',
    key: 'k1',
    clock,
    rng: new Rng(1),
    maxRetries,
    fetch: fetchFn,
  })
  return { s, clock, requests }
}

describe('EventSender', () => {
  test('POSTs NDJSON to /v1/events with the bearer key', async () => {
    const { s, requests } = sender([ok()])
    const result = await s.send(EVENTS)
    expect(result).toEqual({
      status: 200,
      ack: { accepted: 2, duplicates: 0, rejected: 0, errors: [] },
      attempts: 1,
    })
    const [request] = requests
    expect(request?.url).toBe('http://127.0.0.1:3000/v1/events')
    expect(request?.init.method).toBe('POST')
    const headers = new Headers(request?.init.headers)
    expect(headers.get('authorization')).toBe('Bearer k1')
    expect(headers.get('content-type')).toBe('application/x-ndjson')
    const lines = String(request?.init.body).trimEnd().split('\n')
    expect(lines.map((line) => JSON.parse(line))).toEqual(EVENTS)
  })

  test('a 422 is an answer, not a failure', async () => {
    const body = {
      accepted: 1,
      duplicates: 0,
      rejected: 1,
      errors: [{ index: 1, event_id: 'e-2', message: 'bad' }],
    }
    const { s } = sender([new Response(JSON.stringify(body), { status: 422 })])
    expect(await s.send(EVENTS)).toMatchObject({ status: 422, ack: body, attempts: 1 })
  })

  test('503 with Retry-After waits that long (plus a little jitter) and retries the same body', async () => {
    const { s, clock, requests } = sender([status(503, { 'retry-after': '2' }), ok()])
    const result = await s.send(EVENTS)
    expect(result.attempts).toBe(2)
    expect(clock.sleeps).toHaveLength(1)
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(2000)
    expect(clock.sleeps[0]).toBeLessThanOrEqual(2400)
    expect(requests[1]?.init.body).toBe(requests[0]?.init.body)
  })

  test('429, 500, 502 and network errors are retried with growing, capped backoff', async () => {
    const { s, clock } = sender([
      status(429),
      status(500),
      status(502),
      new TypeError('fetch failed'),
      Object.assign(new Error('timeout'), { name: 'TimeoutError' }),
      ok(),
    ])
    const result = await s.send(EVENTS)
    expect(result.attempts).toBe(6)
    const steps = [250, 500, 1000, 2000, 4000]
    expect(clock.sleeps).toHaveLength(steps.length)
    clock.sleeps.forEach((ms, i) => {
      const step = steps[i] as number
      expect(ms).toBeGreaterThanOrEqual(step / 2)
      expect(ms).toBeLessThanOrEqual(step)
    })
  })

  test('gives up after --max-retries', async () => {
    const { s, requests } = sender([status(503), status(503), status(503)], 2)
    await expect(s.send(EVENTS)).rejects.toMatchObject({ code: 'retries_exhausted' })
    expect(requests).toHaveLength(3)
  })

  test('a refused key is not retried', async () => {
    const { s, requests } = sender([status(401), ok()])
    const error = await s.send(EVENTS).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(IngestError)
    expect(error).toMatchObject({ code: 'unauthorized', status: 401 })
    // the server's words after the status and its code, not run into them
    expect((error as Error).message).toBe('HTTP 401 x: the ingest key was refused: nope')
    expect(requests).toHaveLength(1)
  })

  test('413 says to lower --batch', async () => {
    const { s } = sender([status(413)])
    await expect(s.send(EVENTS)).rejects.toThrow(/--batch/)
  })

  test('an aborted signal stops retrying', async () => {
    const abort = new AbortController()
    const { fetchFn } = scriptedFetch([status(503), ok()])
    const clock = recordingClock()
    const s = new EventSender({
      url: 'http://127.0.0.1:3000',
      key: 'k1',
      clock: {
        now: clock.now,
        sleep: async () => {
          abort.abort()
        },
      },
      rng: new Rng(1),
      maxRetries: 5,
      fetch: fetchFn,
      signal: abort.signal,
    })
    await expect(s.send(EVENTS)).rejects.toMatchObject({ code: 'aborted' })
  })
})

describe('parseRetryAfter', () => {
  test('reads delta-seconds and HTTP dates, caps at a minute, ignores garbage', () => {
    expect(parseRetryAfter('3', NOW)).toBe(3000)
    expect(parseRetryAfter('0.5', NOW)).toBe(500)
    expect(parseRetryAfter(new Date(NOW + 7000).toUTCString(), NOW)).toBe(7000)
    expect(parseRetryAfter('3600', NOW)).toBe(60_000)
    expect(parseRetryAfter('soon', NOW)).toBeNull()
    expect(parseRetryAfter(null, NOW)).toBeNull()
  })
})
