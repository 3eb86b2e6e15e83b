// The simulator's one-line status on stderr: rewritten in place on a terminal, one line
// per update otherwise (CI logs, pipes).

import { formatCents } from './money.ts'
import type { TallyReport } from './tally.ts'

export interface ProgressSink {
  write(text: string): unknown
  isTTY?: boolean
}

export interface ProgressSnapshot {
  phase: 'backfill' | 'live'
  /** wall-clock ms since the run began */
  elapsedMs: number
  /** events handed to the sender */
  sent: number
  accepted: number
  duplicates: number
  rejected: number
  retries: number
  /** why the last retry was needed ("connect ECONNREFUSED …", "HTTP 503"), while retries go on */
  lastRetryReason?: string
  failedRequests: number
  inFlight: number
  liveStreams: number
}

const number = new Intl.NumberFormat('en-US')

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`
}

export class ProgressLine {
  private last: { at: number; sent: number } | null = null
  private drawn = false

  constructor(private readonly sink: ProgressSink) {}

  update(p: ProgressSnapshot): void {
    const rate =
      this.last && p.elapsedMs > this.last.at
        ? ((p.sent - this.last.sent) * 1000) / (p.elapsedMs - this.last.at)
        : 0
    this.last = { at: p.elapsedMs, sent: p.sent }
    const line =
      `sim ${p.phase} ${formatDuration(p.elapsedMs)} | sent ${number.format(p.sent)} ` +
      `accepted ${number.format(p.accepted)} dup ${number.format(p.duplicates)} rejected ${number.format(p.rejected)} | ` +
      `${number.format(Math.round(rate))} ev/s | retries ${number.format(p.retries)}` +
      (p.lastRetryReason ? ` (last: ${p.lastRetryReason})` : '') +
      (p.failedRequests > 0 ? ` failed ${number.format(p.failedRequests)}` : '') +
      ` | in flight ${p.inFlight} | ${p.liveStreams} live`
    if (this.sink.isTTY) {
      this.sink.write(`\r${line}\x1b[K`)
      this.drawn = true
    } else {
      this.sink.write(`${line}\n`)
    }
  }

  /** A line of its own above the progress line (which the next update draws again). */
  note(line: string): void {
    this.finish(line)
  }

  /** Ends the in-place line (if any) and writes a final line. */
  finish(line: string): void {
    if (this.drawn) this.sink.write('\r\x1b[K')
    this.drawn = false
    this.sink.write(`${line}\n`)
  }
}

export function summaryLine(
  report: TallyReport,
  run: { elapsedMs: number; retries: number; sent: number; droppedBudget: number; currency: string },
): string {
  const { elapsedMs, retries, sent } = run
  const c = report.counters
  let gmv = 0n
  let orders = 0
  for (const s of report.streams) {
    gmv += s.gmvCents
    orders += s.orders
  }
  const parts = [
    `sim done in ${formatDuration(elapsedMs)}: ${number.format(sent)} events sent`,
    `${number.format(c.accepted)} accepted`,
    `${number.format(c.duplicates)} duplicates`,
    `${number.format(c.rejected)} rejected (${number.format(c.expected.rejected)} invalid sent)`,
    `${number.format(retries)} retries`,
    `${number.format(c.failedRequests)} failed requests`,
    `${report.streams.length} streams`,
    `${number.format(orders)} orders`,
    `GMV ${formatCents(gmv)} ${run.currency}`,
  ]
  let line = parts.join(', ')
  if (run.droppedBudget > 0) {
    line += `\nsim: the server took fewer events than --rate; ${number.format(run.droppedBudget)} were not generated`
  }
  if (c.inconsistencies > 0) {
    // a few examples, one a line: fifteen on one line were not read
    const shown = c.inconsistencyExamples.slice(0, 3)
    line += `\nsim: ${c.inconsistencies} answers disagreed with what was sent, e.g.:`
    for (const example of shown) line += `\n  - ${example}`
    if (c.inconsistencies > shown.length) line += `\n  (and ${c.inconsistencies - shown.length} more)`
  }
  return line
}
