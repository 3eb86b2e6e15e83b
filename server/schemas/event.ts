import { type Static, Type } from 'typebox'

export const EVENT_TYPES = [
  'stream_start',
  'stream_end',
  'view_start',
  'view_end',
  'product_impression',
  'product_click',
  'add_to_cart',
  'order_paid',
  'order_refunded',
  'comment',
  'like',
  'share',
  'follow',
  'product_pin',
  'marker',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const SOURCES = ['for_you', 'following', 'search', 'shop', 'ads', 'external', 'other'] as const

/** The event of SPEC §1 as it arrives (documentation for OpenAPI; validation is in ingest/validate.ts). */
export const IncomingEvent = Type.Object(
  {
    event_id: Type.String({ minLength: 1, maxLength: 64, description: 'idempotency key' }),
    type: Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))),
    stream_id: Type.String({ minLength: 1, maxLength: 128 }),
    ts: Type.Union([
      Type.String({ description: 'RFC 3339 with offset, e.g. 2026-11-24T10:00:00.123Z' }),
      Type.Integer({ description: 'epoch milliseconds' }),
    ]),
    viewer_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    product_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    order_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    amount: Type.Optional(
      Type.Union([
        Type.Number({ minimum: 0, description: 'at most 2 decimal places, as written' }),
        Type.String({
          pattern: '^\\s*[0-9]{1,16}(\\.[0-9]{1,2}0*)?\\s*$',
          description:
            'a decimal string, e.g. "19.99"; spaces around it and zeros after the cents are ignored',
        }),
      ]),
    ),
    currency: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 3,
        description: 'ISO 4217 code (any case): the deployment currency',
      }),
    ),
    quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    source: Type.Optional(Type.Union(SOURCES.map((s) => Type.Literal(s)))),
    creator_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    title: Type.Optional(Type.String({ maxLength: 200 })),
    vertical: Type.Optional(Type.String({ maxLength: 64 })),
    campaign_id: Type.Optional(Type.String({ maxLength: 128 })),
    label: Type.Optional(
      Type.String({ maxLength: 200, description: 'required on marker (1–200 characters)' }),
    ),
  },
  {
    additionalProperties: true,
    description: 'One live-session event (SPEC §1). Unknown fields are ignored.',
  },
)
export type IncomingEvent = Static<typeof IncomingEvent>

/** An accepted event, normalized, as stored in the `events` table. */
export interface EventRow {
  event_id: string
  type: EventType
  stream_id: string
  /** epoch ms */
  ts: number
  viewer_id: string
  product_id: string
  order_id: string
  /** exact decimal text with 2 places, "0.00" when not applicable */
  amount: string
  quantity: number
  source: string
  creator_id: string
  title: string
  vertical: string
  campaign_id: string
  label: string
}

export const IngestError = Type.Object({
  index: Type.Integer({ description: '0-based position in the request (NDJSON: line number − 1)' }),
  event_id: Type.Optional(Type.String()),
  message: Type.String(),
})

/** An ingest answer lists at most this many rejected events, and as many duplicates. */
export const MAX_LISTED_EVENTS = 100

export const IngestResponse = Type.Object({
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  errors: Type.Array(IngestError, { description: `at most ${MAX_LISTED_EVENTS} entries` }),
  duplicate_events: Type.Optional(
    Type.Array(IngestError, {
      description:
        'Present when duplicates > 0: which events were not counted again, and why (an event_id ' +
        `already accepted, or an order_id already counted); at most ${MAX_LISTED_EVENTS} entries`,
    }),
  ),
})
export type IngestResponse = Static<typeof IngestResponse>
