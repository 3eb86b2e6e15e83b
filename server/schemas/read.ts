import { Type } from 'typebox'
import { METRICS } from '../metrics/definitions.ts'

const Nullable = (description: string) => Type.Union([Type.Number(), Type.Null()], { description })

export const Totals = Type.Object(
  Object.fromEntries(
    METRICS.map((m) => [
      m,
      ['ctr', 'conversion', 'co_rate', 'gpm'].includes(m)
        ? Nullable(`${m} (null when its denominator is 0)`)
        : Type.Number(),
    ]),
  ),
  { description: 'every metric of SPEC §3; money as numbers with at most 2 decimals' },
)

export const StreamSchema = Type.Object({
  stream_id: Type.String(),
  creator_id: Type.String(),
  title: Type.String(),
  vertical: Type.String(),
  campaign_id: Type.String(),
  status: Type.Union([Type.Literal('live'), Type.Literal('ended')]),
  started_at: Type.Integer({ description: 'epoch ms of the first event' }),
  last_event_at: Type.Integer(),
  ended_at: Type.Union([Type.Integer(), Type.Null()]),
  totals: Totals,
})

export const SeriesSchema = Type.Object(
  {
    stream_id: Type.String(),
    step_ms: Type.Integer(),
    from: Type.Integer(),
    to: Type.Integer(),
    t: Type.Array(Type.Integer(), { description: 'bucket starts, epoch ms' }),
  },
  {
    additionalProperties: Type.Array(Type.Union([Type.Number(), Type.Null()])),
    description: 'one array per requested metric',
  },
)

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
})

export const StreamParams = Type.Object({ stream_id: Type.String({ minLength: 1, maxLength: 128 }) })

/**
 * A string, read by `parseTimeParameter`, not an integer-or-string union: Ajv would coerce
 * `1e309` to Infinity first, and the 400 would quote "Infinity" rather than what was sent.
 */
export const TimeParam = Type.String({
  description: 'epoch milliseconds (an integer) or RFC 3339 with offset',
  examples: ['1763978400000', '2025-11-24T10:00:00Z'],
})
