// The event format of SPEC §1 as the simulator writes it, plus what the simulator knows
// about each event it sends (the server is told none of this).

// One list of types and sources for the server and the simulator.
import { EVENT_TYPES, type EventType, SOURCES } from '../../server/schemas/event.ts'

export { EVENT_TYPES, type EventType }
export const TRAFFIC_SOURCES = SOURCES
export type TrafficSource = (typeof SOURCES)[number]

/**
 * One event on the wire. Deliberately loose: the simulator also writes invalid events
 * (unknown type, missing field, 3-decimal amount…), so `type` is any string and every
 * field but `event_id` may be absent.
 */
export interface WireEvent {
  event_id: string
  type: string
  stream_id?: string
  ts: number | string
  viewer_id?: string
  product_id?: string
  order_id?: string
  amount?: number | string
  currency?: string
  quantity?: number
  source?: TrafficSource
  creator_id?: string
  title?: string
  vertical?: string
  campaign_id?: string
  label?: string
}

/** Why an event is in the output besides the traffic itself. */
export type EventNote =
  | 'traffic'
  /** a copy of an earlier event, same event_id: the server must count it once */
  | 'duplicate'
  /** order_paid for an order already paid, under a new event_id: counts once */
  | 'order_repeat'
  /** breaks SPEC §1 on purpose: must be rejected and quarantined */
  | 'invalid'

export interface SimEvent {
  event: WireEvent
  /** true when the event follows SPEC §1 (so the server must store it or call it a duplicate) */
  valid: boolean
  note: EventNote
  /** held back and sent with its original (by then past) ts, out of order */
  late?: true
  /** this event_id goes out twice (the event and its duplicate): the tally must remember it */
  sentTwice?: true
  /** for invalid events: which rule they break */
  invalidReason?: InvalidReason
  /** the simulated time the event left the generator (equals ts except for late ones) */
  emittedAt: number
}

export type InvalidReason =
  | 'missing_viewer_id'
  | 'amount_3_decimals'
  | 'unknown_type'
  | 'wrong_currency'
  | 'negative_amount'
  | 'ts_out_of_window'
  | 'bad_quantity'
  | 'missing_stream_id'

/** epoch ms of an event's ts, whichever of the two SPEC forms it uses. */
export function tsMillis(ts: number | string): number {
  return typeof ts === 'number' ? ts : Date.parse(ts)
}
