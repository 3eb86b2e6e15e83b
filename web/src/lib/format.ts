// Numbers as the screens show them. Fixed en-US grouping on purpose: a war-room wall must read
// the same on every screen whatever the locale of the machine driving it. `null` (a ratio whose
// denominator is 0, a missing value) always shows as an em dash, never as 0 or NaN.

import type { Marker } from './types.ts'

export const NONE = '—'

const formatters = new Map<string, Intl.NumberFormat>()

// Intl.NumberFormat construction is costly; a wall formats hundreds of numbers a second.
function numberFormat(key: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  let f = formatters.get(key)
  if (!f) {
    f = new Intl.NumberFormat('en-US', options)
    formatters.set(key, f)
  }
  return f
}

function isNumber(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

/** `$1,234.56` — exact money, two decimals. */
export function formatMoney(value: number | null | undefined, currency = 'USD'): string {
  if (!isNumber(value)) return NONE
  return numberFormat(`money:${currency}`, { style: 'currency', currency }).format(value)
}

/** `$1,235` — money rounded to whole units, for large displays. */
export function formatMoneyWhole(value: number | null | undefined, currency = 'USD'): string {
  if (!isNumber(value)) return NONE
  return numberFormat(`money0:${currency}`, {
    style: 'currency',
    currency,
    maximumFractionDigits: 0,
    minimumFractionDigits: 0,
  }).format(value)
}

const UNITS = [
  { size: 1e12, suffix: 'T' },
  { size: 1e9, suffix: 'B' },
  { size: 1e6, suffix: 'M' },
  { size: 1e3, suffix: 'K' },
] as const

/**
 * Three significant digits with a K/M/B suffix: 12.3K, 123K, 1.23M. Below `fullBelow` the
 * whole number is shown instead (9,876), so small values keep every digit.
 */
export function formatCompact(value: number | null | undefined, fullBelow = 10_000): string {
  if (!isNumber(value)) return NONE
  const sign = value < 0 ? '-' : ''
  const abs = Math.abs(value)
  if (abs < fullBelow) return sign + numberFormat('int', { maximumFractionDigits: 0 }).format(abs)
  for (let u = UNITS.length - 1; u >= 0; u--) {
    const unit = UNITS[u] as (typeof UNITS)[number]
    const next = UNITS[u - 1]
    const scaled = abs / unit.size
    if (next && abs >= next.size) continue
    const digitsFor = (x: number) => (x >= 100 ? 0 : x >= 10 ? 1 : 2)
    // 9.999 rounds to 10.00 and 99.96 to 100.0: choose the decimals again after rounding.
    const decimals = digitsFor(Number(scaled.toFixed(digitsFor(scaled))))
    const rounded = Number(scaled.toFixed(decimals))
    // 999.95K rounds to 1000K: show it as 1.00M.
    if (rounded >= 1000 && next) return sign + (abs / next.size).toFixed(2) + next.suffix
    return sign + rounded.toFixed(decimals) + unit.suffix
  }
  return sign + String(abs)
}

const symbols = new Map<string, string>()

/** The currency's symbol as en-US writes it: `$`, `€`, `CA$`. */
export function currencySymbol(currency = 'USD'): string {
  let symbol = symbols.get(currency)
  if (symbol === undefined) {
    const parts = numberFormat(`money:${currency}`, { style: 'currency', currency }).formatToParts(0)
    symbol = parts.find((p) => p.type === 'currency')?.value ?? currency
    symbols.set(currency, symbol)
  }
  return symbol
}

/**
 * Whole units below a million (`$29,712`: the biggest stream's tile moves with every order,
 * not in $100 steps), `$1.23M` from there.
 */
export function formatMoneyCompact(value: number | null | undefined, currency = 'USD'): string {
  if (!isNumber(value)) return NONE
  const text = formatCompact(Math.abs(value), 1_000_000)
  return (value < 0 ? '-' : '') + currencySymbol(currency) + text
}

/** `12,345` */
export function formatCount(value: number | null | undefined): string {
  if (!isNumber(value)) return NONE
  return numberFormat('int', { maximumFractionDigits: 0 }).format(value)
}

/** A ratio (0.0345) as a percentage (`3.45%`). */
export function formatPercent(ratio: number | null | undefined, decimals = 1): string {
  if (!isNumber(ratio)) return NONE
  return (ratio * 100).toFixed(decimals) + '%'
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/** A length of time: `45s`, `12m 05s`, `3h 07m`, `2d 04h`. Negative counts as 0. */
export function formatDuration(ms: number | null | undefined): string {
  if (!isNumber(ms)) return NONE
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${pad2(s % 60)}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${pad2(m % 60)}m`
  return `${Math.floor(h / 24)}d ${pad2(h % 24)}h`
}

/** Elapsed time on a replay clock: `4:05`, `1:02:03`. */
export function formatClock(ms: number | null | undefined): string {
  if (!isNumber(ms)) return NONE
  const s = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`
}

/** How old the newest data on screen is: `now`, `12s`, `3m 10s`. */
export function formatAge(ms: number | null | undefined): string {
  if (!isNumber(ms)) return NONE
  return ms < 1000 ? 'now' : formatDuration(ms)
}

/** Local wall-clock time of an epoch-ms instant: `14:05:09`. */
export function formatTime(epochMs: number | null | undefined): string {
  if (!isNumber(epochMs)) return NONE
  const d = new Date(epochMs)
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
}

/**
 * The viewer's time zone as a short label ("UTC", "GMT+1", "PST"), for the times the
 * dashboard shows in the browser's zone: two analysts in different zones see which.
 */
export function timeZoneLabel(at: number = Date.now()): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(new Date(at))
    .find((p) => p.type === 'timeZoneName')
  return part?.value ?? 'local time'
}

/** Local date and time: `2025-03-14 14:05` (`:07` more with seconds). */
export function formatDateTime(epochMs: number | null | undefined, withSeconds = false): string {
  if (!isNumber(epochMs)) return NONE
  const d = new Date(epochMs)
  const seconds = withSeconds ? `:${pad2(d.getSeconds())}` : ''
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}${seconds}`
}

/** What a pin or marker was, in words for a list: "Pinned p1", or the marker's label. */
export function describeMarker(m: Marker): string {
  return m.type === 'product_pin' ? `Pinned ${m.product_id}` : m.label
}
