import type { EventRow } from '../schemas/event.ts'

/** Column order of the `events` INSERT; rows travel as JSONCompactEachRow (arrays, no keys), ~30 % cheaper for the engine to parse than JSONEachRow. */
export const EVENT_COLUMNS = [
  'event_id',
  'type',
  'stream_id',
  'ts',
  'viewer_id',
  'product_id',
  'order_id',
  'amount',
  'quantity',
  'source',
  'creator_id',
  'title',
  'vertical',
  'campaign_id',
  'label',
  'received_at',
] as const

export const INSERT_EVENTS_SQL = `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) FORMAT JSONCompactEachRow`

/** Epoch ms as the decimal seconds text DateTime64(3) reads exactly. */
export function secondsText(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`
}

/** One JSONCompactEachRow line of the `events` table. */
export function eventRowLine(e: EventRow, receivedAt: string): string {
  return JSON.stringify([
    e.event_id,
    e.type,
    e.stream_id,
    secondsText(e.ts),
    e.viewer_id,
    e.product_id,
    e.order_id,
    e.amount,
    e.quantity,
    e.source,
    e.creator_id,
    e.title,
    e.vertical,
    e.campaign_id,
    e.label,
    receivedAt,
  ])
}
