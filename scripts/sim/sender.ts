// POSTs NDJSON batches to /v1/events. A failed request (network error, timeout, 429, 5xx)
// is retried whole with exponential backoff and jitter, honouring Retry-After: safe, since
// the server deduplicates by event_id (SPEC §4).

import type { Clock } from './clock.ts'
import type { WireEvent } from './events.ts'
import type { Rng } from './rng.ts'
import type { IngestAck } from './tally.ts'

export type IngestErrorCode = 'unauthorized' | 'too_large' | 'refused' | 'retries_exhausted' | 'aborted'

export class IngestError extends Error {
  readonly code: IngestErrorCode
  readonly status: number | null

  constructor(code: IngestErrorCode, message: string, status: number | null = null) {
    super(message)
    this.name = 'IngestError'
    this.code = code
    this.status = status
  }
}

export interface SenderOptions {
  /** server base URL, e.g. http://127.0.0.1:3000 */
  url: string
  key: string
  clock: Clock
  /** jitter source */
  rng: Rng
  /** retries after the first attempt before a request is given up */
  maxRetries: number
  /** per attempt */
  timeoutMs?: number
  /** first backoff step and its cap, ms */
  backoffBaseMs?: number
  backoffCapMs?: number
  fetch?: typeof fetch
  /** aborts in-flight requests and pending retries (a hard stop) */
  signal?: AbortSignal
  onRetry?: (retry: { attempt: number; delayMs: number; reason: string }) => void
}

export interface SendResult {
  /** 2xx or 422 */
  status: number
  /** the answer's counts, null if the body could not be read */
  ack: IngestAck | null
  attempts: number
}

const RETRY_AFTER_CAP_MS = 60_000

export class EventSender {
  private readonly endpoint: string
  private readonly fetchFn: typeof fetch

  constructor(private readonly opts: SenderOptions) {
    this.endpoint = new URL('/v1/events', opts.url).toString()
    this.fetchFn = opts.fetch ?? fetch
  }

  /** Sends one batch until it is acknowledged; throws IngestError when it cannot be. */
  async send(events: readonly WireEvent[]): Promise<SendResult> {
    const body = toNdjson(events)
    const { clock, maxRetries, signal } = this.opts
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new IngestError('aborted', 'stopped before the request was acknowledged')
      let reason: string
      let retryAfterMs: number | null = null
      try {
        const response = await this.post(body)
        const { status } = response
        if ((status >= 200 && status < 300) || status === 422) {
          return { status, ack: await readAck(response), attempts: attempt }
        }
        const text = await response.text().catch(() => '')
        if (status === 429 || status === 408 || status >= 500) {
          reason = `HTTP ${status}`
          retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), clock.now())
        } else {
          throw refusal(status, text)
        }
      } catch (err) {
        if (err instanceof IngestError) throw err
        if (signal?.aborted) throw new IngestError('aborted', 'stopped before the request was acknowledged')
        reason = describeNetworkError(err)
      }
      if (attempt > maxRetries) {
        throw new IngestError('retries_exhausted', `gave up after ${attempt} attempts: ${reason}`)
      }
      const delayMs = this.backoff(attempt, retryAfterMs)
      this.opts.onRetry?.({ attempt, delayMs, reason })
      await clock.sleep(delayMs, signal)
    }
  }

  /** Retry-After when given (plus a little jitter so concurrent requests spread), else equal-jitter exponential backoff. */
  private backoff(attempt: number, retryAfterMs: number | null): number {
    const { rng } = this.opts
    if (retryAfterMs !== null) return Math.round(retryAfterMs + rng.next() * Math.max(50, retryAfterMs * 0.2))
    const base = this.opts.backoffBaseMs ?? 250
    const cap = this.opts.backoffCapMs ?? 10_000
    const step = Math.min(cap, base * 2 ** (attempt - 1))
    return Math.round(step / 2 + (rng.next() * step) / 2)
  }

  private async post(body: string): Promise<Response> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? 30_000)
    return this.fetchFn(this.endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.opts.key}`,
        'content-type': 'application/x-ndjson',
      },
      body,
      signal: this.opts.signal ? AbortSignal.any([this.opts.signal, timeout]) : timeout,
    })
  }
}

export function toNdjson(events: readonly WireEvent[]): string {
  let body = ''
  for (const event of events) body += `${JSON.stringify(event)}\n`
  return body
}

/** Retry-After in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null || header.trim() === '') return null
  const value = header.trim()
  if (/^\d+(\.\d+)?$/.test(value)) return Math.min(RETRY_AFTER_CAP_MS, Math.round(Number(value) * 1000))
  const date = Date.parse(value)
  if (Number.isNaN(date)) return null
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, date - now))
}

async function readAck(response: Response): Promise<IngestAck | null> {
  try {
    const body = (await response.json()) as Partial<IngestAck>
    if (typeof body.accepted !== 'number' || typeof body.duplicates !== 'number') return null
    return {
      accepted: body.accepted,
      duplicates: body.duplicates,
      rejected: typeof body.rejected === 'number' ? body.rejected : 0,
      errors: Array.isArray(body.errors) ? body.errors : [],
    }
  } catch {
    return null
  }
}

function refusal(status: number, text: string): IngestError {
  // The server's own words when it sent its error shape ("missing or unknown ingest key
  // (Authorization: Bearer <key>)"), its code beside the status; else the text as it came.
  let message = text.slice(0, 300)
  let head = `HTTP ${status}`
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } }
    if (parsed.error?.message) {
      message = parsed.error.message
      if (parsed.error.code) head += ` ${parsed.error.code}`
    }
  } catch {
    // not JSON: keep the text
  }
  if (status === 401 || status === 403) {
    return new IngestError('unauthorized', `${head}: the ingest key was refused: ${message}`, status)
  }
  if (status === 413) {
    return new IngestError('too_large', `${head}: request too large, lower --batch: ${message}`, status)
  }
  return new IngestError('refused', `${head}: ${message}`, status)
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out'
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause
    return cause?.code ?? cause?.message ?? err.message
  }
  return String(err)
}
