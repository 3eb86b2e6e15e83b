import fc from 'fast-check'
import { EVENT_TYPES, type EventType, SOURCES } from '../../server/schemas/event.ts'

/**
 * fast-check generators for POST /v1/events bodies whose fate is known in advance: each
 * line is a valid event (with adversarial text in every string field and junk in unknown
 * fields), a mutant that breaks exactly one rule of SPEC §1, raw junk, or a blank line.
 * Generators are pure data; ids and timestamps are filled in when a body is rendered, so
 * shrinking replays never collide with events already stored.
 */

/** Text that has broken naive SQL builders, HTML templates, JSON encoders and terminals. */
export const NASTY = [
  "'; DROP TABLE events; --",
  "' OR '1'='1",
  'Robert"); DROP TABLE students;--',
  "1'); SELECT * FROM system.users; --",
  '{name:String}',
  '{ids:Array(String)}',
  '$1 ? :name @p',
  '\\',
  '\\\\',
  "\\'",
  '\\"',
  '"',
  "'",
  '`rm -rf /`',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '"><svg/onload=alert(1)>',
  '&lt;&amp;&#x27;',
  '$' + '{7*7}', // template injection
  '{{7*7}}',
  '%s%n%x%d',
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\t\u000b\f',
  '\u0007\u001b[31mred',
  '😀',
  '👩‍👩‍👧‍👦',
  '🇯🇵🇺🇸',
  'e\u0301',
  '\u202eevil',
  '\ufeffbom',
  '\u2028\u2029',
  'ÿ',
  'Ω≈ç√∫',
  '直播带货',
  'مرحبا',
  'null',
  'undefined',
  'NaN',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  ' ',
  '../../etc/passwd',
  '%00%2F%2e%2e',
  'a/b?c#d',
  '\ud83d\ude00\ud83d\ude00',
]

const KNOWN_FIELDS = new Set([
  'event_id',
  'type',
  'stream_id',
  'ts',
  'viewer_id',
  'product_id',
  'order_id',
  'amount',
  'currency',
  'quantity',
  'source',
  'creator_id',
  'title',
  'vertical',
  'campaign_id',
  'label',
])

/** A string of `min`..`max` UTF-16 units, valid Unicode, mostly adversarial. */
export function nasty(min: number, max: number): fc.Arbitrary<string> {
  const short = Math.min(max, 40)
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: short }) },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: short }) },
      {
        weight: 2,
        arbitrary: fc.array(fc.constantFrom(...NASTY), { minLength: 2, maxLength: 6 }).map((a) => a.join('')),
      },
      { weight: 1, arbitrary: fc.constantFrom('x'.repeat(max), '😀'.repeat(Math.floor(max / 2))) },
    )
    .filter((s) => s.length >= min && s.length <= max && s.isWellFormed())
}

const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

/** Raw JSON text of values that must not disturb anything when they sit in unknown fields. */
const JUNK_VALUES = [
  '1e309',
  '-1e309',
  '-0',
  '1e-400',
  '123456789012345678901234567890',
  '-9007199254740993',
  '{"polluted":"yes"}',
  '{"prototype":{"polluted":"yes"}}',
  deep(100),
  deep(2000),
  '"<script>alert(1)</script>"',
  '"\\ud800"',
  '"\\u0000"',
  'null',
  '[]',
  '{}',
  'true',
]

export type Member = [key: string, rawValue: string]

const junkMember: fc.Arbitrary<Member> = fc.tuple(
  fc.oneof(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'x'),
    nasty(1, 30).map((k) => `x_${k}`),
  ),
  fc.oneof(
    fc.constantFrom(...JUNK_VALUES),
    nasty(0, 40).map((s) => JSON.stringify(s)),
  ),
)

export interface TsFormat {
  kind: 'ms' | 'rfc3339'
  /** whole minutes east of UTC */
  offsetMinutes: number
  separator: 'T' | 't' | ' '
  /** digits after the milliseconds (cut by the server, never rounded); null = no fraction */
  extraDigits: string | null
  lowercaseZ: boolean
}

export interface EventTemplate {
  type: EventType
  /** event_id and order_id get `#<unique>` appended when rendered */
  idPrefix: string
  orderPrefix: string
  streamId: string
  /** ts = render time + this */
  tsOffsetMs: number
  tsFormat: TsFormat
  text: Partial<
    Record<'viewer_id' | 'product_id' | 'creator_id' | 'title' | 'vertical' | 'campaign_id' | 'label', string>
  >
  amount: { cents: number; as: 'number' | 'fixed' | 'short' | 'padded' } | null
  currency: 'USD' | 'usd' | null
  quantity: number | null
  source: string | null
  junk: Member[]
}

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
const MONEY = new Set<EventType>(['order_paid', 'order_refunded'])
const QUANTITY = new Set<EventType>(['order_paid', 'like', 'add_to_cart'])

const tsFormat: fc.Arbitrary<TsFormat> = fc.record({
  kind: fc.constantFrom('ms', 'rfc3339'),
  offsetMinutes: fc.oneof(fc.constant(0), fc.integer({ min: -12 * 60, max: 14 * 60 })),
  separator: fc.constantFrom('T', 't', ' '),
  extraDigits: fc.option(fc.stringMatching(/^[0-9]{0,6}$/), { freq: 5 }),
  lowercaseZ: fc.boolean(),
})

/** A valid event of the given type: every rule of SPEC §1 holds. */
export function validTemplate(type?: EventType): fc.Arbitrary<EventTemplate> {
  return (type ? fc.constant(type) : fc.constantFrom(...EVENT_TYPES)).chain((t) =>
    fc.record({
      type: fc.constant(t),
      idPrefix: nasty(1, 40),
      orderPrefix: nasty(1, 100),
      // ("." and ".." are refused: a URL cannot address them)
      streamId: nasty(1, 110).filter((s) => s !== '.' && s !== '..'),
      tsOffsetMs: fc.integer({ min: -Math.floor(6.5 * 86_400_000), max: 4 * 60_000 }),
      tsFormat,
      text: fc.record(
        {
          viewer_id: nasty(1, 128),
          product_id: nasty(1, 128),
          creator_id: nasty(1, 128),
          title: nasty(0, 200),
          vertical: nasty(0, 64),
          campaign_id: nasty(0, 128),
          label: nasty(1, 200),
        },
        {
          requiredKeys: [
            ...(VIEWER_REQUIRED.has(t) ? (['viewer_id'] as const) : []),
            ...(PRODUCT_REQUIRED.has(t) ? (['product_id'] as const) : []),
            ...(t === 'stream_start' ? (['creator_id'] as const) : []),
            ...(t === 'marker' ? (['label'] as const) : []),
          ],
        },
      ),
      amount: MONEY.has(t)
        ? fc.record({
            cents: fc.oneof(
              fc.integer({ min: 0, max: 100_000 }),
              fc.integer({ min: 0, max: 10_000_000_000 }),
            ),
            as: fc.constantFrom('number', 'fixed', 'short', 'padded'),
          })
        : fc.constant(null),
      currency: MONEY.has(t) ? fc.constantFrom(null, 'USD', 'usd') : fc.constant(null),
      quantity: QUANTITY.has(t) ? fc.option(fc.integer({ min: 1, max: 10_000 })) : fc.constant(null),
      source: t === 'view_start' ? fc.option(fc.constantFrom(...SOURCES)) : fc.constant(null),
      junk: fc.array(junkMember, { maxLength: 3 }),
    }),
  )
}

/** One broken rule: a field dropped (rawValue null) or replaced by raw JSON text. */
export interface Mutation {
  field: string
  rawValue: string | null
}

/** Placeholders for times relative to the render time. */
const TS_TOO_OLD = '<ts-8-days-ago>'
const TS_TOO_NEW = '<ts-6-minutes-ahead>'

/** Mutations that make an event of `type` invalid, whatever else it holds. */
export function mutationsFor(type: EventType): Mutation[] {
  const m: Mutation[] = []
  const add = (field: string, ...raws: (string | null)[]) => {
    for (const rawValue of raws) m.push({ field, rawValue })
  }
  add('event_id', null, '""', '123', '[]', '{}', 'null', JSON.stringify('x'.repeat(65)), '"\\ud800"')
  add(
    'type',
    null,
    '"teleport"',
    '"view_start "',
    '"VIEW_START"',
    '"\'; DROP TABLE events; --"',
    '"<script>"',
    '"__proto__"',
    '"constructor"',
    '"toString"',
    '{"toString":1}',
    deep(3000),
    '7',
  )
  add(
    'stream_id',
    null,
    '""',
    '42',
    'true',
    '{}',
    JSON.stringify('s'.repeat(129)),
    '"\\udc00x"',
    '"."',
    '".."',
  )
  add(
    'ts',
    null,
    '1e309',
    '-1e309',
    '-1',
    '0',
    '9000000000000000',
    '-9000000000000000',
    '1.5',
    '"yesterday"',
    '"2026-13-45T99:99:99Z"',
    '"2026-02-29T10:00:00Z"',
    '"2026-04-31T10:00:00Z"',
    '"2026-01-01T24:00:00Z"',
    '"2026-01-01T00:00:00"',
    '"\\ud83d"',
    '[]',
    '{}',
    TS_TOO_OLD,
    TS_TOO_NEW,
  )
  if (VIEWER_REQUIRED.has(type)) add('viewer_id', null, '""', '1', JSON.stringify('v'.repeat(129)))
  if (PRODUCT_REQUIRED.has(type)) add('product_id', null, '""', '[]', '"\\ud800"')
  if (MONEY.has(type)) {
    add('order_id', null, '""', '{}')
    add(
      'amount',
      null,
      '-1',
      '-0.01',
      '1.234',
      '"1.234"',
      '"1e3"',
      '"-5"',
      '1e309',
      '1e21',
      '"12345678901234567"',
      '"abc"',
      '"<script>"',
      '{}',
      'true',
    )
    add('currency', '"EUR"', '1', '"US"', '"\'; --"')
  }
  if (QUANTITY.has(type)) add('quantity', '0', '10001', '1.5', '"3"', '1e309', '-1')
  if (type === 'view_start') add('source', '"tv"', '1', '"FOR_YOU"')
  if (type === 'stream_start') {
    add('creator_id', null, '""', JSON.stringify('c'.repeat(129)))
    add('title', JSON.stringify('t'.repeat(201)), '1')
    add('vertical', JSON.stringify('v'.repeat(65)))
  }
  if (type === 'marker') add('label', null, '""', JSON.stringify('l'.repeat(201)), '[]')
  return m
}

/** Whole lines that are rejected however they are read. `json` = the text parses as JSON. */
export interface JunkLine {
  bytes: number[]
  json: boolean
}

const enc = (text: string) => [...Buffer.from(text, 'utf8')]

const junkLine: fc.Arbitrary<JunkLine> = fc.oneof(
  // JSON that is not an event object
  fc
    .constantFrom(
      '1',
      '"just a string"',
      'null',
      'true',
      '[]',
      '[1,2,3]',
      '{}',
      '{"__proto__":{"event_id":"p","type":"view_start","stream_id":"s","ts":1,"viewer_id":"v"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      deep(10),
      deep(10_000),
      '"<script>alert(1)</script>"',
      '1e309',
    )
    .map((text) => ({ bytes: enc(text), json: true })),
  // not JSON
  fc
    .constantFrom(
      '{"a":',
      "{'event_id':'x'}",
      'NaN',
      'undefined',
      '{"event_id":"x"} trailing',
      '{"event_id":"x",}',
      '<event id="1"/>',
      "'; DROP TABLE events; --",
      `${'['.repeat(5000)}`,
    )
    .map((text) => ({ bytes: enc(text), json: false })),
  // raw control characters inside a JSON string (JSON forbids them)
  fc
    .constantFrom('\u0000', '\u0001', '\u001f')
    .map((c) => ({ bytes: enc(`{"event_id":"a${c}b","type":"view_start"}`), json: false })),
  // broken UTF-8: bare continuation bytes, overlong forms, truncated sequences, surrogates, 0xFF
  fc
    .constantFrom(
      [0x80],
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xf0, 0x9f, 0x98],
      [0xed, 0xa0, 0x80],
      [0xff, 0xfe],
    )
    .map((bad) => ({
      bytes: [...enc('{"event_id":"utf8-'), ...bad, ...enc('","type":"view_start"}')],
      json: false,
    })),
  // random bytes: never a valid event; keep them on one line and not blank
  fc
    .uint8Array({ minLength: 1, maxLength: 200 })
    .map((a) => [...a].map((b) => (b === 0x0a ? 0x21 : b)))
    .filter((b) => b.some((x) => x !== 0x20 && x !== 0x09 && x !== 0x0d))
    .map((bytes) => ({ bytes: bytes[0] === 0x0d ? [0x21, ...bytes] : bytes, json: false })),
)

export type LineSpec =
  | { kind: 'valid'; event: EventTemplate }
  | { kind: 'mutant'; event: EventTemplate; mutation: Mutation }
  | { kind: 'junk'; line: JunkLine }
  | { kind: 'blank'; text: '' | ' ' | '\t' | '  \t ' }
  /** the valid event `back` lines earlier (if there is one), sent again: a duplicate */
  | { kind: 'repeat'; back: number }

const mutant: fc.Arbitrary<LineSpec> = validTemplate().chain((event) =>
  fc
    .constantFrom(...mutationsFor(event.type))
    .map((mutation) => ({ kind: 'mutant' as const, event, mutation })),
)

export function lineSpec(mode: 'ndjson' | 'json'): fc.Arbitrary<LineSpec> {
  const junk = junkLine
    .filter((j) => mode === 'ndjson' || j.json)
    .map((line) => ({ kind: 'junk' as const, line }))
  return fc.oneof(
    { weight: 6, arbitrary: validTemplate().map((event) => ({ kind: 'valid' as const, event })) },
    { weight: 4, arbitrary: mutant },
    { weight: 2, arbitrary: junk },
    ...(mode === 'ndjson'
      ? [
          {
            weight: 1,
            arbitrary: fc
              .constantFrom('', ' ', '\t', '  \t ')
              .map((text) => ({ kind: 'blank' as const, text })),
          },
        ]
      : []),
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 5 }).map((back) => ({ kind: 'repeat' as const, back })),
    },
  )
}

export interface MixedBody {
  mode: 'ndjson' | 'json-array' | 'json-object'
  lines: LineSpec[]
  crlf: boolean
  contentType: string
}

export const mixedBody: fc.Arbitrary<MixedBody> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      mode: fc.constant('ndjson' as const),
      lines: fc.array(lineSpec('ndjson'), { minLength: 1, maxLength: 12 }),
      crlf: fc.boolean(),
      contentType: fc.constantFrom(
        'application/x-ndjson',
        'application/x-ndjson; charset=utf-8',
        'APPLICATION/X-NDJSON',
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      mode: fc.constant('json-array' as const),
      lines: fc.array(lineSpec('json'), { minLength: 0, maxLength: 12 }),
      crlf: fc.boolean(),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      mode: fc.constant('json-object' as const),
      lines: fc.oneof(
        validTemplate().map((event) => [{ kind: 'valid' as const, event }]),
        mutant.map((m) => [m]),
      ),
      crlf: fc.constant(false),
      contentType: fc.constant('application/json'),
    }),
  },
)

/** What the `events` table must hold for an accepted event. */
export interface ExpectedRow {
  event_id: string
  type: string
  stream_id: string
  ts: number
  viewer_id: string
  product_id: string
  order_id: string
  cents: number
  quantity: number
  source: string
  creator_id: string
  title: string
  vertical: string
  campaign_id: string
  label: string
}

function formatTs(ms: number, f: TsFormat): { raw: string; stored: number } {
  if (f.kind === 'ms') return { raw: String(ms), stored: ms }
  const local = new Date(ms + f.offsetMinutes * 60_000).toISOString() // YYYY-MM-DDTHH:mm:ss.sssZ
  const date = local.slice(0, 10)
  const time = local.slice(11, 19)
  const fraction = f.extraDigits === null ? '' : `${local.slice(19, 23)}${f.extraDigits}`
  const abs = Math.abs(f.offsetMinutes)
  const offset =
    f.offsetMinutes === 0
      ? f.lowercaseZ
        ? 'z'
        : 'Z'
      : `${f.offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
  const stored = f.extraDigits === null ? Math.floor(ms / 1000) * 1000 : ms
  return { raw: JSON.stringify(`${date}${f.separator}${time}${fraction}${offset}`), stored }
}

function formatAmount(cents: number, as: NonNullable<EventTemplate['amount']>['as']): string {
  const whole = Math.floor(cents / 100)
  const frac = String(cents % 100).padStart(2, '0')
  switch (as) {
    case 'number':
      return String(cents / 100)
    case 'fixed':
      return JSON.stringify(`${whole}.${frac}`)
    case 'short':
      return JSON.stringify(cents % 10 === 0 ? `${whole}.${frac[0]}` : `${whole}.${frac}`)
    case 'padded':
      return JSON.stringify(` ${whole}.${frac} `)
  }
}

/** One event's JSON text (members in order, raw values kept raw) and its stored row. */
export function renderEvent(
  t: EventTemplate,
  unique: string,
  now: number,
  mutation?: Mutation,
): { text: string; eventId: string; expected: ExpectedRow } {
  const eventId = `${t.idPrefix}#${unique}`
  const orderId = `${t.orderPrefix}#${unique}`
  const ts = formatTs(now + t.tsOffsetMs, t.tsFormat)
  const members: Member[] = [...t.junk]
  const put = (key: string, raw: string) => members.push([key, raw])
  put('event_id', JSON.stringify(eventId))
  put('type', JSON.stringify(t.type))
  put('stream_id', JSON.stringify(t.streamId))
  put('ts', ts.raw)
  for (const [key, value] of Object.entries(t.text)) {
    const relevant =
      key === 'viewer_id' ||
      key === 'product_id' ||
      (t.type === 'stream_start' && ['creator_id', 'title', 'vertical', 'campaign_id'].includes(key)) ||
      (t.type === 'marker' && key === 'label')
    if (relevant && value !== undefined) put(key, JSON.stringify(value))
  }
  if (MONEY.has(t.type)) put('order_id', JSON.stringify(orderId))
  if (t.amount) put('amount', formatAmount(t.amount.cents, t.amount.as))
  if (t.currency) put('currency', JSON.stringify(t.currency))
  if (t.quantity !== null) put('quantity', String(t.quantity))
  if (t.source !== null) put('source', JSON.stringify(t.source))
  let finalMembers = members
  if (mutation) {
    const raw =
      mutation.rawValue === TS_TOO_OLD
        ? String(now - 8 * 86_400_000)
        : mutation.rawValue === TS_TOO_NEW
          ? String(now + 6 * 60_000)
          : mutation.rawValue
    finalMembers = members.filter(([key]) => key !== mutation.field)
    if (raw !== null) finalMembers.push([mutation.field, raw])
  }
  const text = `{${finalMembers.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`
  const stringOf = (key: keyof EventTemplate['text']) => t.text[key] ?? ''
  const isStart = t.type === 'stream_start'
  return {
    text,
    eventId,
    expected: {
      event_id: eventId,
      type: t.type,
      stream_id: t.streamId,
      ts: ts.stored,
      viewer_id: stringOf('viewer_id'),
      product_id: stringOf('product_id'),
      order_id: MONEY.has(t.type) ? orderId : '',
      cents: t.amount?.cents ?? 0,
      quantity: t.quantity ?? 1,
      source: t.source ?? '',
      creator_id: isStart ? stringOf('creator_id') : '',
      title: isStart ? stringOf('title') : '',
      vertical: isStart ? stringOf('vertical') || 'Other' : '',
      campaign_id: isStart ? stringOf('campaign_id') : '',
      label: t.type === 'marker' ? stringOf('label') : '',
    },
  }
}

export const isKnownField = (key: string) => KNOWN_FIELDS.has(key)
