// SPEC §1 written out once more, independently of the server's validator, as the oracle
// for the simulator's tests: what it reports as violations, the server must reject.

const DAY = 86_400_000
const TYPES = new Set([
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
])
const SOURCES = new Set(['for_you', 'following', 'search', 'shop', 'ads', 'external', 'other'])
const NEEDS_VIEWER = new Set([
  'view_start',
  'view_end',
  'product_click',
  'add_to_cart',
  'order_paid',
  'comment',
  'like',
  'share',
  'follow',
])
const NEEDS_PRODUCT = new Set([
  'product_impression',
  'product_click',
  'add_to_cart',
  'order_paid',
  'order_refunded',
  'product_pin',
])
const NEEDS_ORDER = new Set(['order_paid', 'order_refunded'])
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/
const DECIMAL = /^\d+(\.\d{1,2})?$/

export interface SpecContext {
  /** the server's now, for the ts window */
  nowMs: number
  currency?: string
}

/** Every way `value` breaks SPEC §1; empty when it is a valid event. */
export function specViolations(value: unknown, ctx: SpecContext): string[] {
  const problems: string[] = []
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['not a JSON object']
  const e = value as Record<string, unknown>
  const str = (field: string, min: number, max: number, required: boolean) => {
    const v = e[field]
    if (v === undefined) {
      if (required) problems.push(`${field} missing`)
      return
    }
    if (typeof v !== 'string' || v.length < min || v.length > max)
      problems.push(`${field} not a string of ${min}–${max}`)
  }
  str('event_id', 1, 64, true)
  str('stream_id', 1, 128, true)
  const type = e.type
  if (typeof type !== 'string' || !TYPES.has(type)) problems.push(`unknown type ${String(type)}`)
  const t = typeof type === 'string' ? type : ''

  const ts = e.ts
  let ms = Number.NaN
  if (typeof ts === 'number' && Number.isInteger(ts)) ms = ts
  else if (typeof ts === 'string' && RFC3339.test(ts)) ms = Date.parse(ts)
  if (Number.isNaN(ms)) problems.push('ts not RFC 3339 with offset nor epoch ms')
  else if (ms < ctx.nowMs - 7 * DAY || ms > ctx.nowMs + 5 * 60_000)
    problems.push('ts outside [now − 7 days, now + 5 min]')

  str('viewer_id', 1, 128, NEEDS_VIEWER.has(t))
  str('product_id', 1, 128, NEEDS_PRODUCT.has(t))
  str('order_id', 1, 128, NEEDS_ORDER.has(t))
  str('creator_id', 1, 128, t === 'stream_start')
  str('title', 0, 200, false)
  str('vertical', 0, 64, false)
  str('campaign_id', 0, 128, false)
  str('label', 0, 200, t === 'marker')

  const amount = e.amount
  if (amount === undefined) {
    if (NEEDS_ORDER.has(t)) problems.push('amount missing')
  } else if (!isAmount(amount)) {
    problems.push(`amount ${JSON.stringify(amount)} not ≥ 0 with at most 2 decimals`)
  }
  if (e.currency !== undefined && e.currency !== (ctx.currency ?? 'USD')) problems.push('currency differs')
  const quantity = e.quantity
  if (
    quantity !== undefined &&
    !(Number.isInteger(quantity) && (quantity as number) >= 1 && (quantity as number) <= 10_000)
  ) {
    problems.push('quantity not an integer 1–10000')
  }
  if (e.source !== undefined && !(typeof e.source === 'string' && SOURCES.has(e.source)))
    problems.push('unknown source')
  return problems
}

function isAmount(amount: unknown): boolean {
  if (typeof amount === 'number')
    return Number.isFinite(amount) && amount >= 0 && DECIMAL.test(String(amount))
  return typeof amount === 'string' && DECIMAL.test(amount)
}

/** Whether `amount` (number or string) has at most two decimals, sign aside. */
export function hasAtMostTwoDecimals(amount: number | string): boolean {
  return /^-?\d+(\.\d{1,2})?$/.test(String(amount))
}
