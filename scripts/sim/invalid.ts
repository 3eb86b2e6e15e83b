// Events that break SPEC §1 on purpose, the mistakes real producers make, so that the
// server's rejection path and the quarantine screen have something to show.

import type { InvalidReason, WireEvent } from './events.ts'
import type { Rng } from './rng.ts'

const DAY = 86_400_000

const REASONS: readonly (readonly [InvalidReason, number])[] = [
  ['missing_viewer_id', 0.2],
  ['amount_3_decimals', 0.2],
  ['unknown_type', 0.15],
  ['wrong_currency', 0.15],
  ['negative_amount', 0.08],
  ['ts_out_of_window', 0.08],
  ['bad_quantity', 0.07],
  ['missing_stream_id', 0.07],
]

const UNKNOWN_TYPES = ['purchase', 'order_created', 'viewer_joined', 'checkout'] as const

export interface InvalidContext {
  eventId: string
  /** an order id no valid event uses */
  orderId: string
  streamId: string
  ts: number
  viewerId: string
  productId: string
  /** the deployment currency (the invalid one differs from it) */
  currency: string
}

export function invalidEvent(rng: Rng, ctx: InvalidContext): { event: WireEvent; reason: InvalidReason } {
  const reason = rng.weighted(REASONS)
  const base = { event_id: ctx.eventId, stream_id: ctx.streamId, ts: ctx.ts }
  const order = {
    ...base,
    type: 'order_paid',
    viewer_id: ctx.viewerId,
    product_id: ctx.productId,
    order_id: ctx.orderId,
  }
  switch (reason) {
    case 'missing_viewer_id': {
      const { viewer_id: _omitted, ...withoutViewer } = order
      return { reason, event: { ...withoutViewer, amount: '19.99' } }
    }
    case 'amount_3_decimals':
      return { reason, event: { ...order, amount: rng.chance(0.5) ? '24.995' : 24.995 } }
    case 'unknown_type':
      return { reason, event: { ...base, type: rng.pick(UNKNOWN_TYPES), viewer_id: ctx.viewerId } }
    case 'wrong_currency':
      return { reason, event: { ...order, amount: 39.9, currency: ctx.currency === 'EUR' ? 'USD' : 'EUR' } }
    case 'negative_amount':
      return {
        reason,
        event: {
          ...base,
          type: 'order_refunded',
          product_id: ctx.productId,
          order_id: ctx.orderId,
          amount: '-5.00',
        },
      }
    case 'ts_out_of_window':
      return { reason, event: { ...base, type: 'comment', viewer_id: ctx.viewerId, ts: ctx.ts - 8 * DAY } }
    case 'bad_quantity':
      return {
        reason,
        event: { ...base, type: 'like', viewer_id: ctx.viewerId, quantity: rng.pick([0, 2.5, 20_000]) },
      }
    case 'missing_stream_id': {
      const { stream_id: _omitted, ...withoutStream } = base
      return { reason, event: { ...withoutStream, type: 'comment', viewer_id: ctx.viewerId } }
    }
  }
}
