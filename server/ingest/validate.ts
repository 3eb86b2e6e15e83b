import { EVENT_TYPES, type EventRow, type EventType, SOURCES } from '../schemas/event.ts'

export const MAX_PAST_MS = 7 * 24 * 3600 * 1000
export const MAX_FUTURE_MS = 5 * 60 * 1000

const TYPES = new Set<string>(EVENT_TYPES)
const SOURCE_SET = new Set<string>(SOURCES)
const VIEWER_REQUIRED = new Set<EventType>([
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
const PRODUCT_REQUIRED = new Set<EventType>([
  'product_impression',
  'product_click',
  'add_to_cart',
  'order_paid',
  'order_refunded',
  'product_pin',
])
const MONEY_TYPES = new Set<EventType>(['order_paid', 'order_refunded'])
const QUANTITY_TYPES = new Set<EventType>(['order_paid', 'like', 'add_to_cart'])
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
/** An ISO 4217 code, in any case. */
const ASCII_CODE = /^[A-Za-z]{3}$/
/** Zeros after the cents are the same amount (`10.500`), as for a JSON number. */
const DECIMAL = /^(\d{1,16})(?:\.(\d{1,2})0*)?$/
/** A JSON number, read from a given position (sticky). */
const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}

/**
 * The text of the number an event's top-level "amount" member was written as: the last such
 * member, as JSON.parse keeps the last of duplicate keys; a key written with escapes counts
 * too. Undefined when there is none, or it is not a number. One pass over the text, skipping
 * strings and anything nested.
 */
function amountLiteral(text: string): string | undefined {
  let depth = 0
  let found: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) depth--
    else if (c === 0x22) {
      const start = i
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++
      if (depth !== 1) continue
      let j = i + 1
      while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++
      if (text.charCodeAt(j) !== 0x3a) continue // a value, not a key
      const key = text.slice(start, i + 1)
      if (key !== '"amount"' && !(key.includes('\\') && decodedKey(key) === 'amount')) continue
      for (j++; j < text.length && isJsonSpace(text.charCodeAt(j)); j++);
      JSON_NUMBER.lastIndex = j
      found = JSON_NUMBER.exec(text)?.[0]
    }
  }
  return found
}

function decodedKey(key: string): string | undefined {
  try {
    return JSON.parse(key) as string
  } catch {
    return undefined
  }
}

/**
 * A JSON number's text as a plain decimal, exponent applied and trailing fraction zeros
 * dropped (`1.0000000000000001e0` → `1.0000000000000001`, `10.500` → `10.5`); undefined
 * for an exponent past ±1000 (the number is then 0 or infinite anyway).
 */
function plainDecimal(literal: string): string | undefined {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal)
  if (!m) return undefined
  const exponent = Number(m[3] ?? 0)
  if (Math.abs(exponent) > 1000) return undefined
  const digits = m[1]! + (m[2] ?? '')
  const point = m[1]!.length + exponent
  let int: string
  let frac: string
  if (point <= 0) {
    int = '0'
    frac = '0'.repeat(-point) + digits
  } else if (point >= digits.length) {
    int = digits + '0'.repeat(point - digits.length)
    frac = ''
  } else {
    int = digits.slice(0, point)
    frac = digits.slice(point)
  }
  int = int.replace(/^0+(?=\d)/, '')
  frac = frac.replace(/0+$/, '')
  return frac ? `${int}.${frac}` : int
}

/** At most 40 characters of a value quoted back in a message. */
function quoted(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

export type Validation = { ok: true; event: EventRow } | { ok: false; message: string; eventId?: string }

class Reject extends Error {}

/** Messages quote the producer's text (cut short, maybe inside a surrogate pair): keep them valid Unicode. */
function fail(message: string): never {
  throw new Reject(message.toWellFormed())
}

function text(
  obj: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
  required: boolean,
): string {
  const value = obj[field]
  if (value === undefined || value === null) {
    if (required) fail(`${field}: is required`)
    return ''
  }
  if (typeof value !== 'string') fail(`${field}: must be a string, got ${kind(value)}`)
  if (value.length < min) fail(`${field}: must not be empty`)
  if (!value.isWellFormed()) fail(`${field}: contains an unpaired UTF-16 surrogate (not valid Unicode)`)
  if (!fitsChars(value, max)) fail(`${field}: must be at most ${max} characters, got ${charCount(value)}`)
  return value
}

/** Characters (Unicode code points) in a string: an emoji is one, not two UTF-16 units. */
export function charCount(value: string): number {
  let count = 0
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

/** At most `max` characters (the common case decided by the UTF-16 length alone). */
export function fitsChars(value: string, max: number): boolean {
  return value.length <= max || (value.length <= 2 * max && charCount(value) <= max)
}

function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** ISO text of epoch ms; a safe integer can lie beyond the dates JavaScript can represent (±8.64e15). */
function describeTime(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? `${ms} (epoch ms, not a representable date)` : date.toISOString()
}

/** Parses `ts` into epoch ms: RFC 3339 with an offset, or integer epoch ms. */
export function parseTimestamp(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail('ts: a number must be integer epoch milliseconds')
    return value
  }
  if (typeof value !== 'string') {
    if (value === undefined || value === null) fail('ts: is required')
    fail(`ts: must be an RFC 3339 string or integer epoch milliseconds, got ${kind(value)}`)
  }
  const m = RFC3339.exec(value)
  if (!m) fail(`ts: "${value.slice(0, 40)}" is not RFC 3339 with an offset (e.g. 2026-11-24T10:00:00.123Z)`)
  // Keep millisecond precision: cut finer fractions rather than rounding into the next ms.
  const fraction = (m[7] ?? '').slice(0, 4)
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${fraction}${m[8]!.toUpperCase()}`)
  // Date.parse rolls February 30 over into March and takes 24:00; RFC 3339 has neither.
  const [year, month, day, hour] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  const lastOfMonth = new Date(0)
  lastOfMonth.setUTCFullYear(year, month, 0) // (Date.UTC would read years 0–99 as 1900–1999)
  const daysInMonth = lastOfMonth.getUTCDate()
  if (Number.isNaN(ms) || day > daysInMonth || hour > 23)
    fail(`ts: "${value.slice(0, 40)}" is not a real date and time`)
  return ms
}

/**
 * A time given by a reader (`from`, `to`, `since`): like `ts`, and also epoch ms written as
 * a string of digits, which is how a query string carries a number.
 */
export function parseTimeParameter(value: unknown): number {
  if (typeof value === 'string' && /^-?\d{1,16}$/.test(value)) return parseTimestamp(Number(value))
  return parseTimestamp(value)
}

/** Exact decimal text with two places, from a JSON number or a decimal string. */
export function parseAmount(value: unknown, source?: string): string {
  let textValue: string
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('amount: must be a finite number')
    if (value < 0) fail('amount: must not be negative')
    // JSON.parse has already rounded the number to binary: judge the digits the producer
    // wrote where the event's text is at hand (an NDJSON line, a one-object body).
    const literal = source === undefined ? undefined : amountLiteral(source)
    if (literal !== undefined && Number(literal) === value) {
      const written = plainDecimal(literal)
      if (written === undefined)
        fail(`amount: ${quoted(literal)} is not a decimal number with at most 2 decimals`)
      textValue = written
    } else {
      textValue = String(value)
      if (/e-/i.test(textValue)) fail(`amount: ${textValue} has more than 2 decimal places`)
      if (/e/i.test(textValue)) fail('amount: is too large (at most 16 digits before the decimal point)')
      // Up to 15 digits, the shortest text of a double is the decimal it came from; beyond,
      // it may not be (trailing zeros count: 2500000000000000.1 prints as 2500000000000000).
      if (textValue.replace(/^[0.]+|\./g, '').length > 15) {
        fail(
          `amount: ${textValue} has more digits than a JSON number keeps exactly; send it as a decimal string`,
        )
      }
    }
  } else if (typeof value === 'string') {
    textValue = value.trim()
    if (textValue.startsWith('-')) fail('amount: must not be negative')
  } else {
    if (value === undefined || value === null) fail('amount: is required')
    fail(`amount: must be a number or a decimal string, got ${kind(value)}`)
  }
  const m = DECIMAL.exec(textValue)
  if (!m) {
    if (/^\d+\.\d{3,}$/.test(textValue)) fail(`amount: ${quoted(textValue)} has more than 2 decimal places`)
    fail(`amount: "${quoted(textValue)}" is not a decimal number (at most 16 digits and 2 decimals)`)
  }
  return `${BigInt(m[1]!)}.${(m[2] ?? '').padEnd(2, '0')}`
}

/**
 * Checks one event against SPEC §1 and normalizes it for storage. `now` is the arrival
 * time; `ts` must lie in [now − 7 days, now + 5 minutes]. `eventText`, the event's text when the
 * body kept it, lets a JSON-number amount be judged by the digits written, not as rounded.
 */
export function validateEvent(
  raw: unknown,
  now: number,
  currency: string,
  eventText?: string | (() => string | undefined),
): Validation {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, message: `event: must be a JSON object, got ${kind(raw)}` }
  }
  const obj = raw as Record<string, unknown>
  const eventId =
    typeof obj.event_id === 'string' && obj.event_id.isWellFormed() && fitsChars(obj.event_id, 64)
      ? obj.event_id
      : undefined
  try {
    const event_id = text(obj, 'event_id', 1, 64, true)
    const typeValue = obj.type
    if (typeValue === undefined || typeValue === null) fail('type: is required')
    if (typeof typeValue !== 'string' || !TYPES.has(typeValue)) {
      // Never String() a parsed value: `{"toString": 1}` or deep nesting would throw.
      const given = typeof typeValue === 'string' ? JSON.stringify(typeValue.slice(0, 40)) : kind(typeValue)
      fail(`type: unknown type ${given}; expected one of ${EVENT_TYPES.join(', ')}`)
    }
    const type = typeValue as EventType
    const stream_id = text(obj, 'stream_id', 1, 128, true)
    // Every URL parser (browsers, fetch) resolves these as path steps, even percent-encoded:
    // /v1/streams/.. is /v1/ and /v1/streams/./series another stream, so no screen could read it.
    if (stream_id === '.' || stream_id === '..')
      fail(`stream_id: "${stream_id}" cannot be read back through a URL (it is a path step); use another id`)
    const ts = parseTimestamp(obj.ts)
    if (ts < now - MAX_PAST_MS) {
      // 1e11 ms is March 1973; 1e11 s is the year 5138: a number below it is far likelier seconds.
      const hint =
        typeof obj.ts === 'number' && ts >= 0 && ts < 1e11
          ? ' (looks like epoch seconds; ts takes milliseconds)'
          : ''
      fail(`ts: ${describeTime(ts)} is more than 7 days in the past${hint}`)
    }
    if (ts > now + MAX_FUTURE_MS) fail(`ts: ${describeTime(ts)} is more than 5 minutes in the future`)
    const viewer_id = text(obj, 'viewer_id', 1, 128, VIEWER_REQUIRED.has(type))
    const product_id = text(obj, 'product_id', 1, 128, PRODUCT_REQUIRED.has(type))
    const order_id = text(obj, 'order_id', 1, 128, MONEY_TYPES.has(type))

    // (the text is asked for only where a JSON-number amount needs it: cutting it may cost)
    const written =
      typeof eventText !== 'function' ? eventText : typeof obj.amount === 'number' ? eventText() : undefined
    const amount = MONEY_TYPES.has(type) ? parseAmount(obj.amount, written) : '0.00'
    // On any event: SPEC §1 makes `currency` optional everywhere and, when given, binding.
    // An optional field sent as null is absent, as for the string fields (text()): many
    // serializers write every unset field as null.
    if (obj.currency !== undefined && obj.currency !== null) {
      if (typeof obj.currency !== 'string') fail(`currency: must be a string, got ${kind(obj.currency)}`)
      // Case-insensitive for ASCII letters only: toUpperCase maps "ſ" (long s) to "S" and "ı" to "I".
      if (!ASCII_CODE.test(obj.currency) || obj.currency.toUpperCase() !== currency) {
        fail(
          `currency: ${JSON.stringify(obj.currency.slice(0, 8))} differs from the deployment currency ${currency}`,
        )
      }
    }
    // Checked on every event that carries it, as every other field (SPEC §1 names no types);
    // kept where a metric reads it (items of an order, taps of a like) and on carts.
    let quantity = 1
    if (obj.quantity !== undefined && obj.quantity !== null) {
      const q = obj.quantity
      if (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > 10000) {
        fail(`quantity: must be an integer from 1 to 10000, got ${typeof q === 'number' ? q : kind(q)}`)
      }
      if (QUANTITY_TYPES.has(type)) quantity = q
    }
    let source = ''
    if (type === 'view_start' && obj.source !== undefined && obj.source !== null) {
      if (typeof obj.source !== 'string' || !SOURCE_SET.has(obj.source)) {
        fail(`source: must be one of ${SOURCES.join(', ')}`)
      }
      source = obj.source
    }
    let creator_id = ''
    let title = ''
    let vertical = ''
    let campaign_id = ''
    if (type === 'stream_start') {
      creator_id = text(obj, 'creator_id', 1, 128, true)
      title = text(obj, 'title', 0, 200, false)
      vertical = text(obj, 'vertical', 0, 64, false) || 'Other'
      campaign_id = text(obj, 'campaign_id', 0, 128, false)
    }
    const label = type === 'marker' ? text(obj, 'label', 1, 200, true) : ''
    return {
      ok: true,
      event: {
        event_id,
        type,
        stream_id,
        ts,
        viewer_id,
        product_id,
        order_id,
        amount,
        quantity,
        source,
        creator_id,
        title,
        vertical,
        campaign_id,
        label,
      },
    }
  } catch (error) {
    if (error instanceof Reject) return { ok: false, message: error.message, eventId }
    throw error
  }
}
