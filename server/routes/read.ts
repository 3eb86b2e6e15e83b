import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ApiError } from '../errors.ts'
import { parseTimeParameter } from '../ingest/validate.ts'
import { MAX_SERIES_PRODUCTS, STEPS, type StepName } from '../metrics/definitions.ts'
import {
  readMarkers,
  readProductSeries,
  readProducts,
  readQuarantine,
  readSourceCredit,
  readSources,
} from '../metrics/details.ts'
import { alignDown, alignUp, MAX_BUCKETS, parseMetricList, readSeries } from '../metrics/series.ts'
import { getStream, listStreams, streamCreator } from '../metrics/streams.ts'
import { ErrorSchema, SeriesSchema, StreamParams, StreamSchema, TimeParam } from '../schemas/read.ts'

// 503 storage_unavailable, with Retry-After, while ClickHouse does not answer
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema }

function parseTime(name: string, value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  try {
    return parseTimeParameter(value)
  } catch {
    throw new ApiError(
      400,
      'invalid_request',
      `${name}: must be epoch milliseconds or RFC 3339, got "${String(value).slice(0, 40)}"`,
    )
  }
}

/**
 * `limit` as validated: Ajv coerces "1e309" to Infinity and then skips minimum/maximum,
 * which only judge finite numbers.
 */
function finiteLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback
  if (!Number.isFinite(limit))
    throw new ApiError(400, 'invalid_request', 'querystring/limit must be an integer from 1 to 1000')
  return limit
}

function notFound(streamId: string): ApiError {
  return new ApiError(404, 'stream_not_found', `no stream "${streamId}" visible to this token`)
}

/** How long one order-credit answer of /sources serves every page of its stream. */
const CREDIT_REUSE_MS = 15_000
const CREDIT_STREAMS_KEPT = 1000

/** The query parameters `seriesRange` reads, for every series route's schema. */
const RANGE_QUERY = {
  step: Type.Optional(Type.Enum(Object.keys(STEPS) as StepName[])),
  from: Type.Optional(TimeParam),
  to: Type.Optional(TimeParam),
}

/** Steps tried in turn when a series names none: the finest whose range fits the bucket cap. */
const DEFAULT_STEPS: StepName[] = ['10s', '1m', '5m']

/**
 * The buckets a series asks for: `step`, `from` and `to` aligned to it, defaulting to the
 * stream's first event and the end of the bucket holding its last. Without a step, 10s, or
 * the first of 1m and 5m that keeps the range within MAX_BUCKETS: a request with no
 * parameters answers for a stream of any length (10s alone held 55 hours).
 */
function seriesRange(
  query: { step?: StepName; from?: string | number; to?: string | number },
  stream: { started_at: number; last_event_at: number },
): { stepMs: number; from: number; to: number } {
  const fromMs = parseTime('from', query.from) ?? stream.started_at
  const toMs = parseTime('to', query.to)
  const candidates = query.step ? [query.step] : DEFAULT_STEPS
  let range: { step: StepName; stepMs: number; from: number; to: number } | undefined
  for (const step of candidates) {
    const stepMs = STEPS[step]
    const from = alignDown(fromMs, stepMs)
    const to = alignUp(toMs ?? stream.last_event_at + 1, stepMs)
    range = { step, stepMs, from, to }
    if ((to - from) / stepMs <= MAX_BUCKETS) break
  }
  const { step, stepMs, from, to } = range!
  if (to <= from) {
    throw new ApiError(
      400,
      'invalid_request',
      toMs === undefined ? "from: is after the stream's last event; give a to" : 'to: must be after from',
    )
  }
  if ((to - from) / stepMs > MAX_BUCKETS) {
    throw new ApiError(
      400,
      'invalid_request',
      query.step
        ? `the range holds more than ${MAX_BUCKETS} buckets at step ${step}; use a larger step or a shorter range`
        : `the range holds more than ${MAX_BUCKETS} buckets even at step ${step}; give a shorter range (from, to)`,
    )
  }
  return { stepMs, from, to }
}

/** Read API of SPEC §4. A creator token sees only streams whose stream_start named that creator. */
export const readRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/v1/') && route.method === 'GET') {
      route.schema = { ...route.schema, security: [{ readToken: [] }], tags: ['read'] }
    }
  })

  // Every read counts what was acknowledged before it: the rollups of commits answered 200
  // are written a moment after the answer (GroupCommitWriter.writeRollups), and a read
  // arriving in that moment waits for them (at most a few tens of ms; at once when none
  // are owed).
  app.addHook('preHandler', async () => {
    await app.writer.rollupsCaughtUp()
  })

  /** 404 unless the stream exists and this reader may see it. */
  async function assertVisible(request: FastifyRequest, streamId: string): Promise<void> {
    const creator = await streamCreator(app.clickhouse, streamId)
    const reader = request.reader!
    if (creator === undefined || (reader.role === 'creator' && creator !== reader.creator_id))
      throw notFound(streamId)
  }

  // The order credit of /sources reads raw events (~0.2 s for a big stream), and a live
  // stream's page polls it every 10 s: with many pages open on one stream that would hold
  // the engine, and the commits queued behind it. So one answer per stream serves every
  // page for CREDIT_REUSE_MS (views and viewers are read fresh each time); a failed read is
  // not kept. Bounded: answers older than that are dropped before the map grows past
  // CREDIT_STREAMS_KEPT, and past it nothing more is kept.
  const credits = new Map<string, { at: number; rows: ReturnType<typeof readSourceCredit> }>()
  const recentCredit: typeof readSourceCredit = (client, streamId) => {
    const now = performance.now()
    const kept = credits.get(streamId)
    if (kept && now - kept.at < CREDIT_REUSE_MS) return kept.rows
    if (credits.size >= CREDIT_STREAMS_KEPT) {
      for (const [id, entry] of credits) if (now - entry.at >= CREDIT_REUSE_MS) credits.delete(id)
    }
    const rows = readSourceCredit(client, streamId)
    if (credits.size < CREDIT_STREAMS_KEPT) {
      credits.set(streamId, { at: now, rows })
      rows.catch(() => {
        if (credits.get(streamId)?.rows === rows) credits.delete(streamId)
      })
    }
    return rows
  }

  /** The stream, read without its peak (its span and owner are what a series needs); 404 as above. */
  async function visibleSpan(request: FastifyRequest, streamId: string) {
    const stream = await getStream(app.clickhouse, streamId, app.clock.now(), { withPeak: false })
    const reader = request.reader!
    if (!stream || (reader.role === 'creator' && stream.creator_id !== reader.creator_id))
      throw notFound(streamId)
    return stream
  }

  app.get(
    '/v1/me',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Who this read token is',
        response: {
          200: Type.Object({
            role: Type.String(),
            creator_id: Type.Union([Type.String(), Type.Null()]),
            expires_at: Type.Integer(),
            currency: Type.String(),
          }),
          ...errors,
        },
      },
    },
    async (request) => ({ ...request.reader!, currency: app.config.currency }),
  )

  app.get(
    '/v1/streams',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Streams with metadata and totals, by GMV',
        querystring: Type.Object({
          status: Type.Optional(
            // An enum (not a union of literals): its error names the allowed values.
            Type.Enum(['live', 'ended', 'all']),
          ),
          vertical: Type.Optional(Type.String({ maxLength: 64 })),
          creator_id: Type.Optional(Type.String({ maxLength: 128 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: { 200: Type.Object({ streams: Type.Array(StreamSchema) }), ...errors },
      },
    },
    async (request) => {
      const reader = request.reader!
      const { status = 'all', vertical, creator_id } = request.query
      const limit = finiteLimit(request.query.limit, 100)
      if (reader.role === 'creator' && creator_id && creator_id !== reader.creator_id) return { streams: [] }
      const streams = await listStreams(app.clickhouse, {
        status,
        vertical: vertical || undefined,
        creatorId: reader.role === 'creator' ? reader.creator_id! : creator_id || undefined,
        limit,
        now: app.clock.now(),
      })
      return { streams }
    },
  )

  app.get(
    '/v1/streams/:stream_id',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'One stream: metadata, status, totals',
        params: StreamParams,
        response: { 200: StreamSchema, ...errors },
      },
    },
    async (request) => {
      const reader = request.reader!
      const stream = await getStream(app.clickhouse, request.params.stream_id, app.clock.now())
      if (!stream || (reader.role === 'creator' && stream.creator_id !== reader.creator_id)) {
        throw notFound(request.params.stream_id)
      }
      return stream
    },
  )

  app.get(
    '/v1/streams/:stream_id/series',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Columnar time series for charts',
        description:
          'Buckets are aligned to the step (UTC) and dense; `t` holds bucket starts. At most 20 000 buckets.',
        params: StreamParams,
        querystring: Type.Object({
          metrics: Type.Optional(Type.String({ description: 'comma-separated; default all' })),
          ...RANGE_QUERY,
        }),
        response: { 200: SeriesSchema, ...errors },
      },
    },
    async (request) => {
      const streamId = request.params.stream_id
      const stream = await visibleSpan(request, streamId)
      const metrics = parseMetricList(request.query.metrics)
      if (!Array.isArray(metrics)) {
        throw new ApiError(400, 'invalid_request', `metrics: unknown metric(s) ${metrics.unknown.join(', ')}`)
      }
      return readSeries(app.clickhouse, streamId, { ...seriesRange(request.query, stream), metrics })
    },
  )

  app.get(
    '/v1/streams/:stream_id/products/series',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Some products’ funnels per bucket: impressions, clicks, carts, orders, items, gmv',
        description:
          'Aligned and dense as /series (same step, from and to), so a replay can weigh each pin by ' +
          `what it did to the pinned product’s own sales. Repeat product_id for each product (1–${MAX_SERIES_PRODUCTS}).`,
        params: StreamParams,
        querystring: Type.Object({
          product_id: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
            minItems: 1,
            maxItems: MAX_SERIES_PRODUCTS,
          }),
          ...RANGE_QUERY,
        }),
        response: {
          200: Type.Object({
            stream_id: Type.String(),
            step_ms: Type.Number(),
            from: Type.Number(),
            to: Type.Number(),
            t: Type.Array(Type.Number()),
            products: Type.Array(
              Type.Object({
                product_id: Type.String(),
                impressions: Type.Array(Type.Number()),
                clicks: Type.Array(Type.Number()),
                carts: Type.Array(Type.Number()),
                orders: Type.Array(Type.Number()),
                items: Type.Array(Type.Number()),
                gmv: Type.Array(Type.Number()),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const streamId = request.params.stream_id
      const stream = await visibleSpan(request, streamId)
      const range = seriesRange(request.query, stream)
      return readProductSeries(app.clickhouse, streamId, request.query.product_id, range)
    },
  )

  app.get(
    '/v1/streams/:stream_id/products',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Per product: impressions, clicks, orders, items, gmv, ctr, co_rate, ranked by gmv',
        params: StreamParams,
        response: {
          200: Type.Object({
            products: Type.Array(
              Type.Object({
                product_id: Type.String(),
                impressions: Type.Number(),
                clicks: Type.Number(),
                carts: Type.Number(),
                orders: Type.Number(),
                items: Type.Number(),
                gmv: Type.Number(),
                ctr: Type.Union([Type.Number(), Type.Null()]),
                co_rate: Type.Union([Type.Number(), Type.Null()]),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      await assertVisible(request, request.params.stream_id)
      return { products: await readProducts(app.clickhouse, request.params.stream_id) }
    },
  )

  app.get(
    '/v1/streams/:stream_id/sources',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Traffic-source mix of the stream’s views, and the orders each source brought',
        description:
          'An order is credited to the source of its buyer’s latest view_start in the stream at or ' +
          'before the order (last touch); orders with no such view are counted in `unattributed`.',
        params: StreamParams,
        response: {
          200: Type.Object({
            sources: Type.Array(
              Type.Object({
                source: Type.String(),
                views: Type.Number(),
                viewers: Type.Number(),
                orders: Type.Number(),
                buyers: Type.Number(),
                gmv: Type.Number(),
                conversion: Type.Union([Type.Number(), Type.Null()]),
              }),
            ),
            unattributed: Type.Object({ orders: Type.Number(), buyers: Type.Number(), gmv: Type.Number() }),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      await assertVisible(request, request.params.stream_id)
      return await readSources(app.clickhouse, request.params.stream_id, recentCredit)
    },
  )

  app.get(
    '/v1/streams/:stream_id/markers',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'product_pin and marker events in time order',
        params: StreamParams,
        response: {
          200: Type.Object({
            markers: Type.Array(
              Type.Object({
                ts: Type.Integer(),
                type: Type.String(),
                product_id: Type.String(),
                label: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      await assertVisible(request, request.params.stream_id)
      return { markers: await readMarkers(app.clickhouse, request.params.stream_id) }
    },
  )

  app.get(
    '/v1/quarantine',
    {
      onRequest: app.requireReader,
      schema: {
        summary: 'Latest rejected events with their reasons (ops only)',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          // Paging past the newest 1 000: rows to skip, newest first.
          offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
          stream_id: Type.Optional(Type.String({ maxLength: 128 })),
        }),
        response: {
          200: Type.Object({
            total: Type.Integer(),
            items: Type.Array(
              Type.Object({
                received_at: Type.Integer(),
                reason: Type.String(),
                index: Type.Integer(),
                event_id: Type.String(),
                stream_id: Type.String(),
                raw: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      // Rejected events may belong to any creator's stream; only ops read them.
      if (request.reader!.role !== 'ops')
        throw new ApiError(403, 'forbidden', 'the quarantine is visible to ops tokens only')
      return readQuarantine(app.clickhouse, {
        limit: finiteLimit(request.query.limit, 100),
        offset: request.query.offset ?? 0,
        streamId: request.query.stream_id,
      })
    },
  )
}
