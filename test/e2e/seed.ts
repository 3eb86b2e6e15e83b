// A realistic evening for the browser tests and the wall benchmark: a few live streams and one
// finished session, all now-relative (ingest accepts ts within the last 7 days).

export interface SeedStream {
  stream_id: string
  creator_id: string
  title: string
  vertical: string
  /** first event, ms before now */
  startedAgoMs: number
  /** ended streams: when stream_end came, ms before now */
  endedAgoMs?: number
  viewers: number
}

export const SEED_STREAMS = {
  miaLive: {
    stream_id: 'e2e-mia-live',
    creator_id: 'mia',
    title: 'Spring drop with Mia',
    vertical: 'Fashion',
    startedAgoMs: 25 * 60_000,
    viewers: 60,
  },
  noahLive: {
    stream_id: 'e2e-noah-live',
    creator_id: 'noah',
    title: 'Skincare night',
    vertical: 'Beauty',
    startedAgoMs: 15 * 60_000,
    viewers: 40,
  },
  avaLive: {
    stream_id: 'e2e-ava-live',
    creator_id: 'ava',
    title: 'Cosy kitchen deals',
    vertical: 'Home & Living',
    startedAgoMs: 8 * 60_000,
    viewers: 30,
  },
  miaEnded: {
    stream_id: 'e2e-mia-replay',
    creator_id: 'mia',
    title: 'Winter clearance (ended)',
    vertical: 'Fashion',
    startedAgoMs: 50 * 60_000,
    endedAgoMs: 30 * 60_000,
    viewers: 80,
  },
} satisfies Record<string, SeedStream>

const PRICES = ['19.90', '24.50', '34.00', '49.99', '12.75', '89.00']
const SOURCES = ['for_you', 'following', 'search', 'shop', 'ads', 'external']

/** A deterministic pseudo-random sequence (the same seed, the same evening). */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 4_294_967_296
  }
}

/**
 * One stream's session: stream_start, viewers arriving over the session (impressions, clicks,
 * carts, orders, likes, comments, some leaving), product pins and a flash-sale marker, and for
 * an ended stream its stream_end. Live streams' last events are a few seconds old.
 */
export function streamEvents(stream: SeedStream, now: number, seed = 1): Record<string, unknown>[] {
  const random = prng(seed + stream.stream_id.length * 7919)
  const start = now - stream.startedAgoMs
  const end = stream.endedAgoMs === undefined ? now - 3_000 : now - stream.endedAgoMs
  const span = end - start
  let n = 0
  const events: Record<string, unknown>[] = []
  const add = (type: string, ts: number, fields: Record<string, unknown> = {}) =>
    events.push({
      event_id: `${stream.stream_id}-${seed}-${++n}`,
      type,
      stream_id: stream.stream_id,
      ts: Math.round(ts),
      ...fields,
    })
  add('stream_start', start, {
    creator_id: stream.creator_id,
    title: stream.title,
    vertical: stream.vertical,
    campaign_id: 'spring-2026',
  })
  add('product_pin', start + span * 0.1, { product_id: 'p1' })
  add('marker', start + span * 0.5, { label: 'flash sale starts' })
  add('product_pin', start + span * 0.55, { product_id: 'p2' })
  for (let v = 0; v < stream.viewers; v++) {
    const viewer_id = `${stream.creator_id}-viewer-${v}`
    // arrivals spread over the session, the first ones a little after the start
    const joined = start + 2_000 + (span - 4_000) * (v / stream.viewers) * (0.8 + 0.2 * random())
    const remaining = end - joined
    const at = (share: number) => joined + remaining * share
    const product_id = `p${1 + Math.floor(random() * 4)}`
    add('view_start', joined, { viewer_id, source: SOURCES[v % SOURCES.length] })
    add('product_impression', at(0.05), { viewer_id, product_id })
    if (random() < 0.6) add('like', at(0.1), { viewer_id, quantity: 1 + Math.floor(random() * 5) })
    if (random() < 0.3) add('comment', at(0.12), { viewer_id })
    if (random() < 0.1) add('follow', at(0.13), { viewer_id })
    if (random() < 0.05) add('share', at(0.14), { viewer_id })
    if (random() < 0.5) {
      add('product_click', at(0.15), { viewer_id, product_id })
      if (random() < 0.6) {
        add('add_to_cart', at(0.2), { viewer_id, product_id })
        if (random() < 0.6) {
          add('order_paid', at(0.25), {
            viewer_id,
            product_id,
            order_id: `${stream.stream_id}-order-${v}`,
            amount: PRICES[Math.floor(random() * PRICES.length)],
            quantity: 1 + Math.floor(random() * 2),
          })
        }
      }
    }
    if (random() < 0.4) add('view_end', at(0.4 + 0.5 * random()), { viewer_id })
  }
  if (stream.endedAgoMs !== undefined) add('stream_end', end)
  return events.sort((a, b) => (a.ts as number) - (b.ts as number))
}

/** Every seed stream's events, plus one bad event for the quarantine. */
export function seedEvents(now: number): {
  valid: Record<string, unknown>[]
  invalid: Record<string, unknown>
} {
  const valid = Object.values(SEED_STREAMS).flatMap((stream, i) => streamEvents(stream, now, i + 1))
  const invalid = {
    event_id: 'e2e-bad-amount',
    type: 'order_paid',
    stream_id: SEED_STREAMS.noahLive.stream_id,
    ts: now - 60_000,
    viewer_id: 'noah-viewer-1',
    product_id: 'p1',
    order_id: 'bad-order',
    amount: '12.345',
  }
  return { valid, invalid }
}

let orderSeq = 0
/** An order_paid of a given amount (a string keeps the cents exact), now unless `ts` says otherwise. */
export function orderPaid(
  streamId: string,
  amount: string,
  options: { ts?: number; viewerId?: string } = {},
): Record<string, unknown> & { ts: number } {
  const ts = options.ts ?? Date.now()
  const id = `${streamId}-order-${process.pid}-${++orderSeq}-${ts}`
  return {
    event_id: id,
    type: 'order_paid',
    stream_id: streamId,
    ts,
    viewer_id: options.viewerId ?? `buyer-${orderSeq}`,
    product_id: 'p1',
    order_id: id,
    amount,
  }
}
