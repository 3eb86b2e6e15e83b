import { Transform } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { bearer } from '../auth/tokens.ts'
import { ApiError } from '../errors.ts'
import type { DuplicateReason } from '../ingest/dedup.ts'
import { InflightBudget, type InflightCharge, type InflightRefusal } from '../ingest/inflight.ts'
import { type BodyItem, parseJsonBody, parseNdjson, previewJson } from '../ingest/parse.ts'
import { fitsChars, validateEvent } from '../ingest/validate.ts'
import { IngestUnavailableError, type QuarantineRow } from '../ingest/writer.ts'
import { type EventRow, IncomingEvent, IngestResponse, MAX_LISTED_EVENTS } from '../schemas/event.ts'

/**
 * Per ingest key, requests per second. The key check runs first (the route's onRequest
 * precedes the limiter's), so the bucket is the key itself: spelling the header
 * differently (`bearer`, extra spaces) does not buy a fresh one, and unknown keys never
 * reach the limiter.
 */
function ingestRateLimit(perSecond: number) {
  return {
    max: perSecond,
    timeWindow: 1000,
    keyGenerator: (request: { ingestKeyId?: string }) => request.ingestKeyId ?? 'unknown',
    errorResponseBuilder: (_request: unknown, context: { after: string }) =>
      new ApiError(429, 'rate_limited', `this ingest key is over its rate; retry in ${context.after}`),
  }
}

const RAW_LIMIT = 64 * 1024

/**
 * Why a duplicate was not counted again, for its producer: a retry (the event_id), or a
 * second order_paid for one order (SPEC §2: the first accepted amount stands).
 */
function duplicateMessage(event: EventRow, reason: DuplicateReason): string {
  return reason === 'event_id'
    ? 'duplicate: this event_id was already accepted (within 24 hours, or earlier in this request or one committed with it); not counted again'
    : `duplicate: order_id ${JSON.stringify(event.order_id)} was already counted (under another event_id, or by this event over 24 hours ago); its first amount stands`
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) })

/** Cuts text at `limit` bytes of UTF-8 without splitting a character. */
function cut(text: string, limit: number): string {
  // A UTF-16 unit is at most 3 bytes of UTF-8 (a pair, two units, is 4).
  if (text.length * 3 <= limit) return text
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= limit) return text
  let end = limit
  // Back to the first byte of the character the limit falls in (continuations are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8')
}

function rawText(item: BodyItem): string {
  return cut(item.raw ?? item.rawLater?.() ?? previewJson(item.value, RAW_LIMIT), RAW_LIMIT)
}

function readableStreamId(value: unknown): string {
  if (value && typeof value === 'object' && 'stream_id' in value) {
    const id = (value as { stream_id: unknown }).stream_id
    if (typeof id === 'string' && id.isWellFormed() && fitsChars(id, 128)) return id
  }
  return ''
}

function unsupportedEncoding(header: string, value: string): ApiError {
  return new ApiError(
    415,
    'unsupported_encoding',
    `${header} ${JSON.stringify(value.slice(0, 40))} is not supported; send the body uncompressed`,
  )
}

/** Charsets whose bytes read as UTF-8 (US-ASCII is a subset). */
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii'])

/**
 * The charset parameter of an ingest Content-Type (lowercased, unquoted), or undefined when
 * there is none or the media type is not one ingest reads (that 415 names the type instead).
 */
function declaredCharset(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined
  const [mediaType, ...parameters] = contentType.split(';')
  const type = mediaType!.trim().toLowerCase()
  if (type !== 'application/json' && type !== 'application/x-ndjson') return undefined
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=')
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue
    return parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
  }
  return undefined
}

/** A Transfer-Encoding list of only `chunked` and `identity` (codings Node has nothing to undo for). */
function onlyChunked(transfer: string): boolean {
  return transfer.split(',').every((coding) => {
    const name = coding.trim()
    return name === 'chunked' || name === 'identity'
  })
}

/** Whether the body is one the ingest parses (another is refused with a 415 unread). */
function isIngestType(request: { headers: { 'content-type'?: string } }): boolean {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  return mediaType === 'application/json' || mediaType === 'application/x-ndjson'
}

declare module 'fastify' {
  interface FastifyRequest {
    ingestKeyId?: string
    inflightCharge?: InflightCharge
  }
}

export const ingestRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { maxBodyBytes, maxInflightBytes } = app.config.ingest
  const inflight = new InflightBudget(maxInflightBytes, new Set(app.config.ingestKeys).size, maxBodyBytes)
  app.registry.gauge(
    'livewall_ingest_inflight_bytes',
    'Body bytes of ingest requests not yet answered (bounded by INGEST_MAX_INFLIGHT_MB, and per key)',
    () => inflight.bytes,
  )
  const inflightFull = (refusal: InflightRefusal): IngestUnavailableError => {
    app.ingestInstruments.shed.inc()
    return new IngestUnavailableError(
      'overloaded',
      refusal === 'key'
        ? 'too many request bodies of this ingest key in flight (each key has a share); retry after a moment'
        : 'too many request bodies in flight; retry after a moment',
      1,
    )
  }
  // Bodies are read raw; each event is parsed and judged on its own (a bad line never
  // sinks the request). The size limit applies before any parsing.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    ['application/json', 'application/x-ndjson'],
    { parseAs: 'buffer', bodyLimit: app.config.ingest.maxBodyBytes },
    (_request, body, done) => done(null, body),
  )

  app.post(
    '/v1/events',
    {
      config: { rateLimit: ingestRateLimit(app.config.ingest.rateLimitPerKey) },
      schema: {
        summary: 'Ingest live-session events',
        description:
          'Body: application/x-ndjson (one event per line) or application/json (one event or an array). ' +
          'Answered only after every accepted event is committed to ClickHouse. Retrying is always safe.',
        tags: ['ingest'],
        security: [{ ingestKey: [] }],
        consumes: ['application/x-ndjson', 'application/json'],
        body: Type.Union([IncomingEvent, Type.Array(IncomingEvent)], { description: 'see SPEC §1' }),
        response: {
          200: IngestResponse,
          422: IngestResponse,
          400: ErrorBody,
          401: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
      // The schema above documents the body; validation is per event in validateEvent.
      validatorCompiler: () => () => true,
      // Everything that can refuse a request is decided before its body is read: strangers
      // cannot make us buffer 5 MiB, and neither can a request we would shed anyway.
      // Every answer of this route, the refusals before the body included.
      onResponse: async (_request, reply) => {
        app.ingestInstruments.requests.inc({ status: String(reply.statusCode) })
      },
      onRequest: async (request, reply) => {
        const keyId = app.ingestKeys.check(bearer(request.headers.authorization))
        if (!keyId)
          throw new ApiError(
            401,
            'unauthorized',
            'missing or unknown ingest key (Authorization: Bearer <key>)',
          )
        request.ingestKeyId = keyId
        // A compressed body would be read as text and quarantined as garbage, line by line.
        // Node de-chunks a body but decodes no other transfer coding (`gzip, chunked`) either.
        const encoding = request.headers['content-encoding']?.trim().toLowerCase()
        if (encoding && encoding !== 'identity') throw unsupportedEncoding('Content-Encoding', encoding)
        const transfer = request.headers['transfer-encoding']?.trim().toLowerCase()
        if (transfer && transfer !== 'chunked' && !onlyChunked(transfer))
          throw unsupportedEncoding('Transfer-Encoding', transfer)
        // Bodies are read as UTF-8 (RFC 8259 §8.1): bytes declared as another charset would be
        // misread (Latin-1 "Ã©" stored as "é") or refused as not UTF-8 with no word why.
        const charset = declaredCharset(request.headers['content-type'])
        if (charset !== undefined && !UTF8_CHARSETS.has(charset)) {
          throw new ApiError(
            415,
            'unsupported_charset',
            `charset ${JSON.stringify(charset.slice(0, 40))} is not supported; send UTF-8 (charset=utf-8, or no charset)`,
          )
        }
        if (!app.storage.migrated) {
          throw new ApiError(503, 'storage_unavailable', 'storage is not reachable yet; retry', {
            'retry-after': '2',
          })
        }
        if (app.writer.pendingEvents >= app.config.ingest.maxPendingEvents) {
          app.ingestInstruments.shed.inc()
          throw new IngestUnavailableError('overloaded', 'the write buffer is full; retry after a moment', 1)
        }
        // Bodies are held in memory until their request is answered: bound them all together
        // and per key. A declared length is charged up front; a chunked body (no length) as
        // its bytes arrive (preParsing), not at the body limit: 50 stalled chunked uploads
        // must not hold the budget of 50 full bodies.
        const declared = Number(request.headers['content-length'])
        const bytes = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, maxBodyBytes) : 0
        const charge = inflight.open(keyId)
        const refusal = charge.grow(bytes)
        if (refusal) throw inflightFull(refusal)
        // Held until the answer is sent or the client is gone: the body stays referenced
        // while its events wait for their commit.
        request.inflightCharge = charge
        reply.raw.once('close', () => charge.release())
      },
      preParsing: async (request, _reply, payload) => {
        const charge = request.inflightCharge
        if (!charge || request.headers['content-length'] !== undefined || !isIngestType(request))
          return payload
        const counted = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            const refusal = charge.grow(chunk.length)
            if (refusal) callback(inflightFull(refusal))
            else callback(null, chunk)
          },
        })
        counted.once('error', () => {
          // Read and drop the rest, as for a 413, so the answer reaches the client and the
          // connection may serve again (the request deadline bounds an endless body).
          payload.unpipe(counted)
          payload.resume()
        })
        // (pipe forwards no error: a client gone mid-body ends the read as it did unwrapped)
        payload.once('error', (error) => counted.destroy(error))
        return payload.pipe(counted)
      },
    },
    async (request, reply) => {
      const keyId = request.ingestKeyId!
      const body = request.body as unknown as Buffer
      const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      const { maxEventsPerRequest } = app.config.ingest
      const items =
        mediaType === 'application/x-ndjson'
          ? parseNdjson(body, maxEventsPerRequest)
          : parseJsonBody(body, maxEventsPerRequest)

      const now = app.clock.now()
      const events: EventRow[] = []
      // (each accepted event's index in the request, for the duplicates' entries)
      const indices: number[] = []
      const quarantine: QuarantineRow[] = []
      const errors: { index: number; event_id?: string; message: string }[] = []
      for (const item of items) {
        let message: string
        let eventId: string | undefined
        if (item.error !== undefined) message = item.error
        else {
          const result = validateEvent(item.value, now, app.config.currency, item.raw ?? item.rawLater)
          if (result.ok) {
            events.push(result.event)
            indices.push(item.index)
            continue
          }
          message = result.message
          eventId = result.eventId
        }
        if (errors.length < MAX_LISTED_EVENTS)
          errors.push(
            eventId === undefined
              ? { index: item.index, message }
              : { index: item.index, event_id: eventId, message },
          )
        quarantine.push({
          received_at: now,
          reason: message,
          idx: item.index,
          event_id: eventId ?? '',
          stream_id: readableStreamId(item.value),
          raw: rawText(item),
          key_id: keyId,
        })
      }

      const outcome = await app.writer.submit(events, quarantine)
      app.ingestInstruments.events.inc({ outcome: 'accepted' }, outcome.accepted)
      app.ingestInstruments.events.inc({ outcome: 'duplicate' }, outcome.duplicates)
      app.ingestInstruments.events.inc({ outcome: 'rejected' }, quarantine.length)
      const answer = {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected: quarantine.length,
        errors,
        ...(outcome.duplicateOf && {
          duplicate_events: outcome.duplicateOf.map(({ position, reason }) => {
            const event = events[position]!
            return {
              index: indices[position]!,
              event_id: event.event_id,
              message: duplicateMessage(event, reason),
            }
          }),
        }),
      }
      return reply.code(quarantine.length > 0 ? 422 : 200).send(answer)
    },
  )
}
