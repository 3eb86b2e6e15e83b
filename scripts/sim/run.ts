// runSimulation: backfill (optional), then live traffic paced at --rate or as fast as the
// server takes it, sent in NDJSON batches with a few requests in flight, tallied as acked.

import { type Clock, systemClock } from './clock.ts'
import type { SimEvent } from './events.ts'
import { type GeneratorStats, TrafficGenerator } from './generator.ts'
import { ProgressLine, type ProgressSink, summaryLine } from './progress.ts'
import { Rng } from './rng.ts'
import { EventSender, IngestError } from './sender.ts'
import { serverCurrencyIn, Tally, type TallyReport } from './tally.ts'

export interface SimulationOptions {
  /** server base URL */
  url: string
  /** ingest key (Authorization: Bearer) */
  key: string
  /** concurrent live streams */
  streams?: number
  /** events per second, or 'max': as fast as the server acknowledges */
  rate?: number | 'max'
  /** default: derived from the clock (and reported in the result) */
  seed?: number
  /** live phase length; undefined = until `signal` aborts */
  durationMs?: number
  /** finished past sessions written before the live phase */
  backfill?: number
  /** events per simulated second per backfill session */
  backfillRate?: number
  dupRate?: number
  lateRate?: number
  invalidRate?: number
  orderRepeatRate?: number
  /** events per request, at most */
  batch?: number
  /** requests in flight */
  concurrency?: number
  /** deployment currency */
  currency?: string
  maxRetries?: number
  /** per request attempt */
  timeoutMs?: number
  /**
   * stops generating; what is queued and in flight is still sent and tallied, for at most
   * `stopGraceMs` (then given up, as `abortSignal` does): a server that is down must not
   * keep a stopped simulator retrying for minutes
   */
  signal?: AbortSignal
  /** default 10 000 */
  stopGraceMs?: number
  /** also aborts requests in flight */
  abortSignal?: AbortSignal
  clock?: Clock
  fetch?: typeof fetch
  /** where the progress line goes; false for none. Default: process.stderr */
  progress?: ProgressSink | false
  /** live pacing step and the longest an event waits in the queue, ms */
  tickMs?: number
  flushMs?: number
}

export interface SimulationResult {
  seed: number
  startedAt: number
  endedAt: number
  /** events handed to the sender */
  sent: number
  retries: number
  /** live phase: the streams it started */
  liveStreamIds: string[]
  generator: { live: GeneratorStats; backfill: GeneratorStats | null }
  tally: TallyReport
  /** live --rate budget that could not be sent in time (the server was slower than the rate) */
  droppedBudget: number
}

export const DEFAULTS = {
  streams: 12,
  rate: 500,
  backfill: 0,
  backfillRate: 20,
  dupRate: 0.02,
  lateRate: 0.02,
  invalidRate: 0.005,
  orderRepeatRate: 0.01,
  batch: 500,
  concurrency: 4,
  currency: 'USD',
  maxRetries: 10,
} as const

/** Audience sizing for --rate max, where there is no rate to size from. */
const MAX_RATE_NOMINAL = 2000
/** In paced mode, budget older than this many seconds is dropped rather than sent in a burst. */
const MAX_CATCH_UP_SECONDS = 2

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const o = { ...DEFAULTS, ...withoutUndefined(options) }
  const clock = options.clock ?? systemClock
  const startedAt = clock.now()
  const seed = (options.seed ?? Math.floor(startedAt / 1000) % 1_000_000) >>> 0
  const tally = new Tally()
  let retries = 0
  let sent = 0
  let phase: 'backfill' | 'live' = 'backfill'
  let liveGen: TrafficGenerator | null = null
  let fatal: IngestError | null = null
  const stopped = () => fatal !== null || options.signal?.aborted === true

  // Requests still retrying are given up `stopGraceMs` after a stop or the end of --duration.
  const giveUp = new AbortController()
  const graceMs = options.stopGraceMs ?? 10_000
  let graceTimer: ReturnType<typeof setTimeout> | undefined
  const startGrace = () => {
    if (graceTimer !== undefined || giveUp.signal.aborted) return
    graceTimer = setTimeout(() => giveUp.abort(), graceMs)
    graceTimer.unref?.()
  }
  options.signal?.addEventListener('abort', startGrace, { once: true })
  let durationTimer: ReturnType<typeof setTimeout> | undefined
  let lastRetryReason: string | undefined
  const sender = new EventSender({
    url: options.url,
    key: options.key,
    clock,
    rng: new Rng(seed).fork('jitter'),
    maxRetries: o.maxRetries,
    timeoutMs: options.timeoutMs,
    fetch: options.fetch,
    signal: options.abortSignal ? AbortSignal.any([options.abortSignal, giveUp.signal]) : giveUp.signal,
    onRetry: ({ reason }) => {
      retries++
      lastRetryReason = reason
    },
  })

  const inFlight = new Set<Promise<void>>()
  const sendBatch = async (batch: SimEvent[]): Promise<void> => {
    try {
      const result = await sender.send(batch.map((sim) => sim.event))
      tally.recordAck(batch, result.ack, clock.now())
      const theirs = currencyNoted ? undefined : serverCurrencyIn(result.ack, o.currency)
      noteFirstDisagreement(theirs)
      if (theirs !== undefined) noteCurrency(theirs)
      // Answered again: the reason of the last retry is history, no longer shown.
      lastRetryReason = undefined
    } catch (err) {
      tally.recordFailure(batch)
      if (!(err instanceof IngestError)) throw err
      // a refused request (bad key, too large) will not get better by sending more
      if (err.code !== 'retries_exhausted' && err.code !== 'aborted') fatal ??= err
    }
  }
  const submit = async (batch: SimEvent[]): Promise<void> => {
    if (batch.length === 0) return
    while (inFlight.size >= o.concurrency) await Promise.race(inFlight)
    sent += batch.length
    const request: Promise<void> = sendBatch(batch).finally(() => inFlight.delete(request))
    inFlight.add(request)
  }
  const drain = async () => {
    while (inFlight.size > 0) await Promise.race(inFlight)
  }

  const sink = options.progress === undefined ? process.stderr : options.progress
  const progress = sink ? new ProgressLine(sink) : null
  const draw = () => {
    const c = tally.counters()
    progress?.update({
      phase,
      elapsedMs: clock.now() - startedAt,
      sent,
      accepted: c.accepted,
      duplicates: c.duplicates,
      rejected: c.rejected,
      retries,
      lastRetryReason,
      failedRequests: c.failedRequests,
      inFlight: inFlight.size,
      liveStreams: liveGen?.liveSessions ?? 0,
    })
    // ended streams' sets are not needed once stray resends can no longer arrive
    tally.compact(clock.now() - 10 * 60_000)
  }
  // Said at once, not only in the summary of a run that may last hours: a server that
  // rejects valid events (another deployment currency, mostly) makes the whole run wrong.
  // The first disagreeing answer need not be the one naming the currency (an invalid event
  // the other currency accepts disagrees too), so the currency is said whenever it first comes.
  let disagreementNoted = false
  let currencyNoted = false
  const currencyHint = (theirs: string) => `the server's CURRENCY is ${theirs}: pass --currency ${theirs}`
  const noteFirstDisagreement = (theirs: string | undefined) => {
    if (disagreementNoted) return
    const [example] = tally.counters().inconsistencyExamples
    if (example === undefined) return
    disagreementNoted = true
    const hint = theirs === undefined ? '' : ` (${currencyHint(theirs)})`
    if (theirs !== undefined) currencyNoted = true
    progress?.note(`sim: the server's answer disagrees with what was sent: ${example}${hint}`)
  }
  const noteCurrency = (theirs: string) => {
    if (currencyNoted) return
    currencyNoted = true
    progress?.note(
      `sim: the server rejects the orders that name ${o.currency}, the simulator's currency; ${currencyHint(theirs)}`,
    )
  }
  const timer = setInterval(draw, 1000)
  timer.unref()

  const generatorOptions = {
    seed,
    currency: o.currency,
    dupRate: o.dupRate,
    lateRate: o.lateRate,
    invalidRate: o.invalidRate,
    orderRepeatRate: o.orderRepeatRate,
  }
  let backfillStats: GeneratorStats | null = null
  let droppedBudget = 0
  try {
    if (o.backfill > 0) {
      const backfill = new TrafficGenerator({
        ...generatorOptions,
        mode: 'backfill',
        startMs: clock.now(),
        streams: o.backfill,
        eventsPerSecond: o.backfillRate,
      })
      let queue: SimEvent[] = []
      let carry = 0
      for (let t = backfill.cursor; !backfill.done && !stopped(); ) {
        t += 1000
        carry += o.backfillRate * backfill.liveSessions
        const events = backfill.advance(t, Math.floor(carry))
        carry -= events.length
        queue = queue.concat(events)
        while (queue.length >= o.batch) await submit(queue.splice(0, o.batch))
      }
      queue = queue.concat(backfill.finish())
      while (queue.length > 0) await submit(queue.splice(0, o.batch))
      await drain()
      backfillStats = backfill.stats()
    }

    phase = 'live'
    const liveStart = clock.now()
    const endAt = options.durationMs === undefined ? Number.POSITIVE_INFINITY : liveStart + options.durationMs
    if (options.durationMs !== undefined) {
      // The clock may be simulated: the grace starts when the live phase is over (below)
      // or, on the wall clock, once --duration has passed while requests block the loop.
      durationTimer = setTimeout(startGrace, options.durationMs)
      durationTimer.unref?.()
    }
    const gen = new TrafficGenerator({
      ...generatorOptions,
      mode: 'live',
      startMs: liveStart,
      streams: o.streams,
      eventsPerSecond: o.rate === 'max' ? MAX_RATE_NOMINAL : o.rate,
    })
    liveGen = gen
    const tickMs = options.tickMs ?? 50
    const flushMs = options.flushMs ?? 200
    let queue: SimEvent[] = []
    let carry = 0
    let last = liveStart
    let lastFlush = liveStart
    while (!stopped()) {
      const now = Math.min(clock.now(), endAt)
      let produced: number
      if (o.rate === 'max') {
        const events = gen.advance(now, Math.max(0, o.batch - queue.length))
        produced = events.length
        queue = queue.concat(events)
      } else {
        carry += (o.rate * (now - last)) / 1000
        if (carry > o.rate * MAX_CATCH_UP_SECONDS) {
          droppedBudget += Math.floor(carry - o.rate)
          carry = o.rate
        }
        const events = gen.advance(now, Math.floor(carry))
        produced = events.length
        carry -= produced
        queue = queue.concat(events)
      }
      last = now
      while (queue.length >= o.batch) {
        await submit(queue.splice(0, o.batch))
        lastFlush = clock.now()
      }
      if (queue.length > 0 && clock.now() - lastFlush >= flushMs) {
        await submit(queue.splice(0))
        lastFlush = clock.now()
      }
      if (now >= endAt) break
      if (o.rate !== 'max' || produced === 0) await clock.sleep(tickMs, options.signal)
    }
    startGrace()
    queue = queue.concat(gen.finish())
    while (queue.length > 0) await submit(queue.splice(0, o.batch))
    await drain()
  } finally {
    clearInterval(timer)
    clearTimeout(graceTimer)
    clearTimeout(durationTimer)
    options.signal?.removeEventListener('abort', startGrace)
  }

  const report = tally.report()
  const endedAt = clock.now()
  const livePrefix = liveGen ? `s-${liveGen.idPrefix}-` : '\u0000'
  progress?.finish(
    summaryLine(report, {
      elapsedMs: endedAt - startedAt,
      retries,
      sent,
      droppedBudget,
      currency: o.currency,
    }),
  )
  if (fatal) throw fatal
  return {
    seed,
    startedAt,
    endedAt,
    sent,
    retries,
    liveStreamIds: report.streams.map((s) => s.stream_id).filter((id) => id.startsWith(livePrefix)),
    generator: { live: liveGen?.stats() as GeneratorStats, backfill: backfillStats },
    tally: report,
    droppedBudget,
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
