// The traffic model. Time is simulated and passed in: `advance(to, count)` produces about
// `count` events with ts in (cursor, to], so the same seed, options and sequence of calls give
// the same events with the same ids. Live runs call it with wall-clock times, backfill with
// past ones, tests with a fixed clock.
//
// Each sampled event picks a session and an action in proportion to their current rates
// (audience × per-viewer rates, flash sales boosting the funnel), i.e. a Gillespie step whose
// time is set by the caller's budget instead of drawn. Funnel follow-ups (cart → pay → refund)
// and the session lifecycle (start, pins, flash sales, end) are scheduled at their own times.

import { act, type EventFields, runTask, type SessionTask, type World } from './behaviour.ts'
import { type Creator, DELAYS, EVENTS_PER_VIEWER_SECOND, SESSION } from './catalog.ts'
import type { SimEvent, WireEvent } from './events.ts'
import { invalidEvent } from './invalid.ts'
import { amountValue } from './money.ts'
import { creatorLineup, planSession } from './plan.ts'
import { Rng } from './rng.ts'
import { Schedule } from './schedule.ts'
import { ACTIONS, Session } from './session.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
/** viewer ids are drawn from one platform-wide pool, skewed so heavy viewers recur */
const VIEWER_POOL = 400_000
const TS_OFFSETS = ['+02:00', '-05:00', '+05:30', '+09:00'] as const

export interface GeneratorOptions {
  seed: number
  /** simulated time the generator starts at (epoch ms): live sessions start here, backfill ends before it */
  startMs: number
  /** live: keep `streams` sessions running; backfill: `streams` finished sessions in the past hours */
  mode: 'live' | 'backfill'
  streams: number
  /** nominal event rate that sizes audiences: live, all streams together; backfill, per session */
  eventsPerSecond: number
  /** deployment currency (SPEC §1); default USD */
  currency?: string
  /** share of events sent a second time with the same event_id */
  dupRate?: number
  /** share of events held back and sent late, out of order */
  lateRate?: number
  /** share of events followed by an invalid one */
  invalidRate?: number
  /** share of orders whose order_paid is sent again under a new event_id */
  orderRepeatRate?: number
  /** distinguishes runs of the same seed; default: the start second in base 36 */
  runTag?: string
}

type Task =
  | SessionTask
  | { kind: 'next_session'; slot: number; creator: Creator }
  | { kind: 'release'; sim: SimEvent }

export interface GeneratorStats {
  traffic: number
  duplicates: number
  late: number
  orderRepeats: number
  invalid: number
  sessionsStarted: number
  sessionsEnded: number
  /** events that ended the sessions still live when the run finished (view_end, stream_end) */
  closing: number
}

export class TrafficGenerator {
  readonly idPrefix: string
  private readonly opts: Required<Omit<GeneratorOptions, 'runTag'>>
  /** the traffic itself; anomalies and wire formatting draw from their own forks so they never shift it */
  private readonly planRng: Rng
  private readonly trafficRng: Rng
  private readonly anomalyRng: Rng
  private readonly formatRng: Rng
  private readonly schedule = new Schedule<Task>()
  private readonly world: World
  private readonly live: Session[] = []
  private readonly lineup: Creator[]
  private readonly audience: number
  private cursorMs: number
  private out: SimEvent[] = []
  private finished = false
  private eventSeq = 0
  private extraSeq = 0
  private orderSeq = 0
  private streamSeq = 0
  private firstStart = Number.POSITIVE_INFINITY
  private lastEnd = Number.NEGATIVE_INFINITY
  private readonly counts: GeneratorStats = {
    traffic: 0,
    duplicates: 0,
    late: 0,
    orderRepeats: 0,
    invalid: 0,
    sessionsStarted: 0,
    sessionsEnded: 0,
    closing: 0,
  }

  constructor(options: GeneratorOptions) {
    this.opts = {
      currency: 'USD',
      dupRate: 0,
      lateRate: 0,
      invalidRate: 0,
      orderRepeatRate: 0,
      ...options,
    }
    const root = new Rng(options.seed)
    this.planRng = root.fork(`plan:${options.mode}`)
    this.trafficRng = root.fork(`traffic:${options.mode}`)
    this.anomalyRng = root.fork(`anomaly:${options.mode}`)
    this.formatRng = root.fork(`format:${options.mode}`)
    this.lineup = creatorLineup(root.fork('creators'))
    const tag = options.runTag ?? Math.floor(options.startMs / 1000).toString(36)
    this.idPrefix = `${options.seed >>> 0}-${tag}${options.mode === 'backfill' ? 'b' : ''}`
    // a typical session's plateau audience such that the nominal rate matches the model's own
    const sessions = options.mode === 'live' ? Math.max(1, options.streams) : 1
    this.audience = options.eventsPerSecond / sessions / EVENTS_PER_VIEWER_SECOND / 1.2
    this.cursorMs = options.startMs
    this.world = this.makeWorld()
    if (options.mode === 'live') this.planLive()
    else this.planBackfill()
  }

  /** Simulated time up to which events have been produced. */
  get cursor(): number {
    return this.cursorMs
  }

  /** Sessions started and not yet ended. */
  get liveSessions(): number {
    return this.live.length
  }

  /** Backfill: first stream_start and last stream_end of the plan. */
  get span(): { from: number; to: number } {
    return { from: this.firstStart, to: this.lastEnd }
  }

  /** True once every planned session has ended (backfill) and nothing is left to send but held events. */
  get done(): boolean {
    return this.opts.mode === 'backfill' && this.counts.sessionsEnded >= this.opts.streams
  }

  stats(): GeneratorStats {
    return { ...this.counts }
  }

  /**
   * Produces about `count` sampled events with ts evenly spread over (cursor, to], plus
   * whatever is scheduled in that window (lifecycle, funnel follow-ups, late and repeated
   * events) and the invalid events that follow some of them.
   */
  advance(to: number, count: number): SimEvent[] {
    if (this.finished) return []
    const from = this.cursorMs
    const end = Math.max(from, to)
    const out: SimEvent[] = []
    this.out = out
    const n = Math.max(0, Math.floor(count))
    for (let i = 0; i < n; i++) {
      const t = Math.floor(from + ((end - from) * (i + 1)) / n)
      this.runDue(t)
      this.sample(t)
    }
    this.runDue(end)
    this.cursorMs = end
    return out
  }

  /**
   * Ends the run: live sessions end now (their viewers leave, a stream_end), so a stopped
   * simulator leaves no stream looking live for five more minutes; held-back late events and
   * pending duplicates are sent now (their ts stays in the past); funnel steps still in the
   * future are dropped.
   */
  finish(): SimEvent[] {
    const out: SimEvent[] = []
    this.out = out
    for (const session of [...this.live]) runTask(this.world, { kind: 'end', session }, this.cursorMs)
    this.counts.closing = out.length
    for (const { item } of this.schedule.drain()) {
      if (item.kind === 'release') out.push({ ...item.sim, emittedAt: this.cursorMs })
    }
    this.finished = true
    return out
  }

  private planLive(): void {
    const { streams, startMs } = this.opts
    let startAt = startMs
    for (let slot = 0; slot < streams; slot++) {
      const creator = this.lineup[slot % this.lineup.length] as Creator
      // one viral stream among the first few when there are enough streams to compare
      const forceViral = streams >= 4 && slot === 2
      this.scheduleSession(creator, startAt, SESSION.liveMinutes, slot, forceViral)
      startAt += Math.round(this.planRng.uniform(200, 800))
    }
  }

  private planBackfill(): void {
    const { streams, startMs } = this.opts
    for (let k = 0; k < streams; k++) {
      const creator =
        k < this.lineup.length && this.planRng.chance(0.7)
          ? (this.lineup[k] as Creator)
          : this.planRng.pick(this.lineup)
      // finished well before now (ended, not merely quiet), started within the last 6 hours
      const latestEnd = startMs - 10 * MINUTE
      const startAt = Math.round(
        this.planRng.uniform(startMs - 6 * HOUR, latestEnd - SESSION.backfillMinutes[1] * MINUTE),
      )
      this.scheduleSession(creator, startAt, SESSION.backfillMinutes, null, false)
    }
    this.cursorMs = Math.min(this.firstStart, startMs) - 1
  }

  private scheduleSession(
    creator: Creator,
    startAt: number,
    minutes: readonly [number, number],
    slot: number | null,
    forceViral: boolean,
  ): void {
    const streamId = `s-${this.idPrefix}-${++this.streamSeq}`
    const plan = planSession(this.planRng, {
      streamId,
      creator,
      startAt,
      minutes,
      audience: this.audience,
      slot,
      forceViral,
    })
    this.firstStart = Math.min(this.firstStart, plan.startAt)
    this.lastEnd = Math.max(this.lastEnd, plan.endAt)
    this.schedule.push(plan.startAt, { kind: 'start', session: new Session(plan) })
  }

  private runDue(t: number): void {
    for (let next = this.schedule.popDue(t); next; next = this.schedule.popDue(t)) {
      const { item: task, due } = next
      if (task.kind === 'release') this.out.push({ ...task.sim, emittedAt: due })
      else if (task.kind === 'next_session') {
        this.scheduleSession(task.creator, due, SESSION.liveMinutes, task.slot, false)
      } else runTask(this.world, task, due)
    }
  }

  /** What behaviour.ts may do to this generator. */
  private makeWorld(): World {
    return {
      rng: this.trafficRng,
      emit: (s, t, fields) => this.emit(s, t, fields),
      at: (due, task) => this.schedule.push(due, task),
      later: (s, due, task) => {
        if (due < s.plan.endAt) this.schedule.push(due, task)
      },
      sessionStarted: (s) => {
        this.live.push(s)
        this.counts.sessionsStarted++
      },
      sessionEnded: (s, t) => this.sessionEnded(s, t),
      newViewer: (s) => this.newViewer(s),
      nextOrderId: () => `o-${this.idPrefix}-${++this.orderSeq}`,
      amount: (cents) => amountValue(cents, this.formatRng.chance(0.35)),
      currency: () => (this.formatRng.chance(0.4) ? { currency: this.opts.currency } : {}),
      maybeRepeatOrder: (s, t, order) => {
        const a = this.anomalyRng
        if (!a.chance(this.opts.orderRepeatRate)) return
        const due = t + Math.round((DELAYS.orderRepeat.floor + a.exp(DELAYS.orderRepeat.mean)) * SECOND)
        if (due < s.plan.endAt) this.schedule.push(due, { kind: 'order_repeat', session: s, event: order })
      },
      repeatOrder: (s, t, order) => {
        // the payment webhook fires again: same order and amount, a new event_id, a later ts
        const event: WireEvent = {
          ...order,
          event_id: `e-${this.idPrefix}-r${++this.extraSeq}`,
          ts: this.ts(t, this.anomalyRng),
        }
        this.push({ event, valid: true, note: 'order_repeat', emittedAt: t }, s)
      },
    }
  }

  private sessionEnded(s: Session, t: number): void {
    this.live.splice(this.live.indexOf(s), 1)
    this.counts.sessionsEnded++
    if (s.plan.slot === null) return
    // a live slot goes on with a new session after a pause, often by the same creator
    const rng = this.trafficRng
    const creator = rng.chance(SESSION.sameCreatorNext)
      ? (this.lineup.find((c) => c.creatorId === s.plan.creatorId) as Creator)
      : this.freeCreator()
    const gap = Math.round(
      rng.uniform(SESSION.nextSessionGapSeconds[0], SESSION.nextSessionGapSeconds[1]) * SECOND,
    )
    this.schedule.push(t + gap, { kind: 'next_session', slot: s.plan.slot, creator })
  }

  private sample(t: number): void {
    let total = 0
    for (const s of this.live) total += s.weights(t)
    if (total <= 0) return
    let r = this.trafficRng.next() * total
    for (const s of this.live) {
      for (let a = 0; a < ACTIONS.length; a++) {
        r -= s.rates[a] as number
        if (r < 0) {
          act(this.world, s, a, t)
          return
        }
      }
    }
  }

  private newViewer(s: Session): string {
    for (let attempt = 0; attempt < 5; attempt++) {
      const u = this.trafficRng.next()
      const viewerId = `v-${Math.floor(VIEWER_POOL * u * u)}`
      if (!s.isOnline(viewerId)) return viewerId
    }
    return `v-${this.idPrefix}-${this.eventSeq}`
  }

  private freeCreator(): Creator {
    const busy = new Set(this.live.map((s) => s.plan.creatorId))
    const free = this.lineup.filter((c) => !busy.has(c.creatorId))
    return this.trafficRng.pick(free.length > 0 ? free : this.lineup)
  }

  /** Builds a traffic event, sends it (or holds it back as a late one) and maybe adds anomalies. */
  private emit(s: Session, t: number, fields: EventFields): WireEvent {
    const { type, ...rest } = fields
    const event: WireEvent = {
      event_id: `e-${this.idPrefix}-${++this.eventSeq}`,
      type,
      stream_id: s.streamId,
      ts: this.ts(t),
      ...rest,
    }
    this.push({ event, valid: true, note: 'traffic', emittedAt: t }, s)
    return event
  }

  private push(traffic: SimEvent, s: Session): void {
    const t = traffic.emittedAt
    const a = this.anomalyRng
    if (traffic.note === 'traffic') this.counts.traffic++
    else if (traffic.note === 'order_repeat') this.counts.orderRepeats++
    // stream_start is never late: it must reach the server before the stream's other events
    const late = traffic.event.type !== 'stream_start' && a.chance(this.opts.lateRate)
    const twice = a.chance(this.opts.dupRate)
    const sim: SimEvent = twice ? { ...traffic, sentTwice: true } : traffic
    if (late) {
      this.counts.late++
      const hold = Math.round(Math.min(240, 3 + a.exp(40)) * SECOND)
      this.schedule.push(t + hold, { kind: 'release', sim: { ...sim, late: true } })
    } else {
      this.out.push(sim)
    }
    if (twice) {
      this.counts.duplicates++
      const after = Math.round(a.uniform(200, 10_000))
      this.schedule.push(t + after, { kind: 'release', sim: { ...sim, note: 'duplicate' } })
    }
    if (a.chance(this.opts.invalidRate)) this.pushInvalid(s, t)
  }

  private pushInvalid(s: Session, t: number): void {
    const n = ++this.extraSeq
    const { event, reason } = invalidEvent(this.anomalyRng, {
      eventId: `e-${this.idPrefix}-x${n}`,
      orderId: `o-${this.idPrefix}-x${n}`,
      streamId: s.streamId,
      ts: t,
      viewerId: s.randomOnline(this.anomalyRng) ?? `v-${Math.floor(VIEWER_POOL * this.anomalyRng.next())}`,
      productId: s.productId(s.pinned),
      currency: this.opts.currency,
    })
    this.counts.invalid++
    this.out.push({ event, valid: false, note: 'invalid', invalidReason: reason, emittedAt: t })
  }

  /** ts as producers send it: mostly epoch ms, sometimes RFC 3339 in UTC or with an offset. */
  private ts(t: number, rng = this.formatRng): number | string {
    const r = rng.next()
    if (r < 0.75) return t
    if (r < 0.95) return new Date(t).toISOString()
    const offset = rng.pick(TS_OFFSETS)
    const sign = offset.startsWith('-') ? -1 : 1
    const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)))
    return new Date(t + minutes * MINUTE).toISOString().replace('Z', offset)
  }
}
