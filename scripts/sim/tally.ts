// What the server should show, from what it acknowledged. Events count only when their
// request was answered 2xx or 422; the simulator knows which of its events are valid, so
// it tallies from that knowledge (a 422 lists at most 100 errors) and uses the server's
// counts only as a cross-check. Money is integer cents in BigInt.

import type { SimEvent, WireEvent } from './events.ts'
import { formatCents, parseCents } from './money.ts'

/** The ingest endpoint's answer to a 200 or 422 (SPEC §4). */
export interface IngestAck {
  accepted: number
  duplicates: number
  rejected: number
  errors: { index: number; event_id?: string; message: string }[]
}

/** Per stream, the totals `GET /v1/streams/:id` should report (SPEC §3 names). */
export interface StreamTally {
  stream_id: string
  views: number
  viewers: number
  impressions: number
  clicks: number
  carts: number
  orders: number
  items: number
  buyers: number
  /** exact decimal strings, e.g. "1234.50" */
  gmv: string
  refunds: string
  net_gmv: string
  gmvCents: bigint
  refundsCents: bigint
  comments: number
  likes: number
  shares: number
  follows: number
  /** a stream_end of this stream was acknowledged */
  ended: boolean
}

export interface TallyCounters {
  /** events in requests that got an answer we count (2xx/422) */
  acked: number
  /** the server's own counts, summed over answers */
  accepted: number
  duplicates: number
  rejected: number
  /** what the server should have said, from our knowledge of each event */
  expected: { accepted: number; duplicates: number; rejected: number }
  /** requests (and their events) given up after the retries ran out */
  failedRequests: number
  failedEvents: number
  /** answers whose counts disagree with the request or with what we know */
  inconsistencies: number
  /** a few of them, for the summary */
  inconsistencyExamples: string[]
}

export interface TallyReport {
  counters: TallyCounters
  streams: StreamTally[]
}

interface StreamAccumulator {
  streamId: string
  views: number
  viewers: Set<string> | null
  viewerCount: number
  impressions: number
  clicks: number
  carts: number
  orderIds: Set<string> | null
  orders: number
  items: number
  buyers: Set<string> | null
  buyerCount: number
  gmvCents: bigint
  refundsCents: bigint
  comments: number
  likes: number
  shares: number
  follows: number
  endedAt: number | null
}

const EXAMPLES_KEPT = 10

/** Event ids recently acknowledged: a bounded window, enough for a resend seconds or minutes later. */
class IdWindow {
  private readonly ids = new Set<string>()
  private readonly ring: string[] = []
  private pos = 0

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id)
  }

  add(id: string): void {
    if (this.ring.length < this.capacity) this.ring.push(id)
    else {
      this.ids.delete(this.ring[this.pos] as string)
      this.ring[this.pos] = id
      this.pos = (this.pos + 1) % this.capacity
    }
    this.ids.add(id)
  }
}

export class Tally {
  private readonly streams = new Map<string, StreamAccumulator>()
  private readonly ackedIds: IdWindow
  private readonly c: TallyCounters = {
    acked: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    expected: { accepted: 0, duplicates: 0, rejected: 0 },
    failedRequests: 0,
    failedEvents: 0,
    inconsistencies: 0,
    inconsistencyExamples: [],
  }

  constructor(options: { idWindow?: number } = {}) {
    this.ackedIds = new IdWindow(options.idWindow ?? 200_000)
  }

  /**
   * A request was answered 2xx or 422. `ack` is the parsed body (null if it could not be
   * read: a 2xx still means every valid event is stored). `now` stamps stream ends for `compact`.
   */
  recordAck(batch: readonly SimEvent[], ack: IngestAck | null, now = 0): void {
    let accepted = 0
    let duplicates = 0
    let rejected = 0
    for (const sim of batch) {
      if (!sim.valid) {
        rejected++
        continue
      }
      // only ids the generator sends twice can come back; remembering just those keeps memory flat
      if (sim.sentTwice) {
        const id = sim.event.event_id
        if (this.ackedIds.has(id)) {
          duplicates++
          continue
        }
        this.ackedIds.add(id)
      }
      accepted++
      this.apply(sim.event, now)
    }
    const c = this.c
    c.acked += batch.length
    c.expected.accepted += accepted
    c.expected.duplicates += duplicates
    c.expected.rejected += rejected
    if (!ack) {
      this.inconsistent('an answer without readable counts')
      return
    }
    c.accepted += ack.accepted
    c.duplicates += ack.duplicates
    c.rejected += ack.rejected
    if (ack.accepted + ack.duplicates + ack.rejected !== batch.length) {
      this.inconsistent(
        `accepted ${ack.accepted} + duplicates ${ack.duplicates} + rejected ${ack.rejected} ≠ ${batch.length} sent`,
      )
    } else if (ack.rejected !== rejected) {
      const unexpected = ack.errors.find((e) => batch[e.index]?.valid)
      const detail = unexpected
        ? `; e.g. ${batch[unexpected.index]?.event.event_id} "${unexpected.message}"`
        : ''
      this.inconsistent(
        `server rejected ${count(ack.rejected, 'event')}, ${rejected} ${rejected === 1 ? 'was' : 'were'} sent invalid${detail}`,
      )
    }
    // accepted vs duplicates may legitimately differ from our view: a retry after a lost answer
  }

  /** A request was given up: none of its events count. */
  recordFailure(batch: readonly SimEvent[]): void {
    this.c.failedRequests++
    this.c.failedEvents += batch.length
  }

  counters(): TallyCounters {
    return {
      ...this.c,
      expected: { ...this.c.expected },
      inconsistencyExamples: [...this.c.inconsistencyExamples],
    }
  }

  stream(streamId: string): StreamTally | undefined {
    const acc = this.streams.get(streamId)
    return acc ? toStreamTally(acc) : undefined
  }

  report(): TallyReport {
    return { counters: this.counters(), streams: [...this.streams.values()].map(toStreamTally) }
  }

  /**
   * Frees the per-viewer and per-order sets of streams ended before `before` (same clock as
   * `recordAck`'s `now`), keeping their counts: a long demo run stays bounded in memory.
   * Nothing but stray resends arrives for a stream that long after its end.
   */
  compact(before: number): void {
    for (const acc of this.streams.values()) {
      if (acc.endedAt !== null && acc.endedAt < before && acc.viewers) {
        acc.viewers = null
        acc.buyers = null
        acc.orderIds = null
      }
    }
  }

  private inconsistent(message: string): void {
    this.c.inconsistencies++
    if (this.c.inconsistencyExamples.length < EXAMPLES_KEPT) this.c.inconsistencyExamples.push(message)
  }

  private accumulator(streamId: string): StreamAccumulator {
    let acc = this.streams.get(streamId)
    if (!acc) {
      acc = {
        streamId,
        views: 0,
        viewers: new Set(),
        viewerCount: 0,
        impressions: 0,
        clicks: 0,
        carts: 0,
        orderIds: new Set(),
        orders: 0,
        items: 0,
        buyers: new Set(),
        buyerCount: 0,
        gmvCents: 0n,
        refundsCents: 0n,
        comments: 0,
        likes: 0,
        shares: 0,
        follows: 0,
        endedAt: null,
      }
      this.streams.set(streamId, acc)
    }
    return acc
  }

  private apply(event: WireEvent, now: number): void {
    if (event.stream_id === undefined) return
    const acc = this.accumulator(event.stream_id)
    switch (event.type) {
      case 'view_start':
        acc.views++
        acc.viewerCount = addDistinct(acc.viewers, event.viewer_id, acc.viewerCount)
        return
      case 'product_impression':
        acc.impressions++
        return
      case 'product_click':
        acc.clicks++
        return
      case 'add_to_cart':
        acc.carts++
        return
      case 'order_paid': {
        // one order, one count: the first acknowledged order_paid of an order_id stands
        const orderId = event.order_id as string
        if (acc.orderIds?.has(orderId)) return
        acc.orderIds?.add(orderId)
        acc.orders++
        acc.items += event.quantity ?? 1
        acc.gmvCents += parseCents(event.amount) ?? 0n
        acc.buyerCount = addDistinct(acc.buyers, event.viewer_id, acc.buyerCount)
        return
      }
      case 'order_refunded':
        acc.refundsCents += parseCents(event.amount) ?? 0n
        return
      case 'comment':
        acc.comments++
        return
      case 'like':
        acc.likes += event.quantity ?? 1
        return
      case 'share':
        acc.shares++
        return
      case 'follow':
        acc.follows++
        return
      case 'stream_end':
        acc.endedAt ??= now
        return
    }
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

/**
 * The server's deployment currency, when one of `ack`'s rejections says it differs from
 * `ours` (ingest names it: `currency: "USD" differs from the deployment currency EUR`).
 * Rejections of the simulator's own wrong-currency events name `ours` and are not it.
 */
export function serverCurrencyIn(ack: IngestAck | null, ours: string): string | undefined {
  for (const error of ack?.errors ?? []) {
    const theirs = /differs from the deployment currency ([A-Z]{3})\b/.exec(error.message)?.[1]
    if (theirs !== undefined && theirs !== ours) return theirs
  }
  return undefined
}

function addDistinct(set: Set<string> | null, value: string | undefined, count: number): number {
  if (value === undefined) return count
  if (!set) return count + 1
  set.add(value)
  return set.size
}

function toStreamTally(acc: StreamAccumulator): StreamTally {
  return {
    stream_id: acc.streamId,
    views: acc.views,
    viewers: acc.viewerCount,
    impressions: acc.impressions,
    clicks: acc.clicks,
    carts: acc.carts,
    orders: acc.orders,
    items: acc.items,
    buyers: acc.buyerCount,
    gmv: formatCents(acc.gmvCents),
    refunds: formatCents(acc.refundsCents),
    net_gmv: formatCents(acc.gmvCents - acc.refundsCents),
    gmvCents: acc.gmvCents,
    refundsCents: acc.refundsCents,
    comments: acc.comments,
    likes: acc.likes,
    shares: acc.shares,
    follows: acc.follows,
    ended: acc.endedAt !== null,
  }
}
