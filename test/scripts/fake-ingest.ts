// An in-memory stand-in for POST /v1/events with SPEC §2 semantics (dedup by event_id, one
// count per order, 422 with at most 100 errors, faults on demand), so runSimulation and its
// tally can be checked without a server.

import { parseCents } from '../../scripts/sim/money.ts'
import { specViolations } from './spec-event.ts'

export type Fault =
  /** 503 + Retry-After, nothing stored */
  | 'unavailable'
  /** 429 + Retry-After, nothing stored */
  | 'rate_limited'
  /** stored, then the answer is lost (network error) */
  | 'lost_answer'
  /** network error before anything is stored */
  | 'refused'

export interface FakeTotals {
  views: number
  viewers: Set<string>
  orders: number
  items: number
  gmvCents: bigint
  refundsCents: bigint
}

export interface FakeIngest {
  fetch: typeof fetch
  totals: Map<string, FakeTotals>
  /** rejected events over every request the server processed */
  quarantined: number
  /** rejected events in requests whose answer reached the client */
  rejectedAnswered: number
  requests: number
}

export function fakeIngest(options: {
  key: string
  now: () => number
  /** fault for the n-th request (1-based) */
  faults?: ReadonlyMap<number, Fault>
}): FakeIngest {
  const stored = new Set<string>()
  const orders = new Set<string>()
  const state: FakeIngest = {
    fetch: undefined as unknown as typeof fetch,
    totals: new Map(),
    quarantined: 0,
    rejectedAnswered: 0,
    requests: 0,
  }
  const totalsOf = (streamId: string): FakeTotals => {
    let t = state.totals.get(streamId)
    if (!t) {
      t = { views: 0, viewers: new Set(), orders: 0, items: 0, gmvCents: 0n, refundsCents: 0n }
      state.totals.set(streamId, t)
    }
    return t
  }
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })

  state.fetch = async (_input, init) => {
    const n = ++state.requests
    const fault = options.faults?.get(n)
    const headers = new Headers(init?.headers)
    if (headers.get('authorization') !== `Bearer ${options.key}`) {
      return json(401, { error: { code: 'key_invalid', message: 'unknown ingest key' } })
    }
    if (headers.get('content-type') !== 'application/x-ndjson') return json(415, { error: { code: 'media' } })
    if (fault === 'refused') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    if (fault === 'unavailable') return json(503, { error: { code: 'unavailable' } }, { 'retry-after': '1' })
    if (fault === 'rate_limited')
      return json(429, { error: { code: 'rate_limited' } }, { 'retry-after': '2' })

    const lines = String(init?.body ?? '')
      .split('\n')
      .filter((line) => line.length > 0)
    let accepted = 0
    let duplicates = 0
    const errors: { index: number; event_id?: string; message: string }[] = []
    let rejected = 0
    lines.forEach((line, index) => {
      const event = JSON.parse(line) as Record<string, unknown>
      const problems = specViolations(event, { nowMs: options.now() })
      if (problems.length > 0) {
        rejected++
        if (errors.length < 100)
          errors.push({ index, event_id: String(event.event_id), message: problems.join('; ') })
        return
      }
      const id = event.event_id as string
      if (stored.has(id)) {
        duplicates++
        return
      }
      stored.add(id)
      accepted++
      const t = totalsOf(event.stream_id as string)
      if (event.type === 'view_start') {
        t.views++
        t.viewers.add(event.viewer_id as string)
      } else if (event.type === 'order_paid' && !orders.has(event.order_id as string)) {
        orders.add(event.order_id as string)
        t.orders++
        t.items += (event.quantity as number | undefined) ?? 1
        t.gmvCents += parseCents(event.amount) ?? 0n
      } else if (event.type === 'order_refunded') {
        t.refundsCents += parseCents(event.amount) ?? 0n
      }
    })
    state.quarantined += rejected
    if (fault === 'lost_answer') throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })
    state.rejectedAnswered += rejected
    return json(rejected > 0 ? 422 : 200, { accepted, duplicates, rejected, errors })
  }
  return state
}
