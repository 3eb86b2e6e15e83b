import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  arrayElementTexts,
  BodyError,
  firstInvalidUtf8,
  MAX_NESTING,
  nestsDeeperThan,
  parseJsonBody,
  parseNdjson,
} from '../../server/ingest/parse.ts'

const lines = [
  '{"a":1}',
  '',
  '  \t ',
  '\uFEFF{"bom":true}',
  '{"crlf":1}\r',
  'not json',
  '  {"indented":2}',
  '{"last":3}',
]

test('NDJSON: line numbers, blank lines, CRLF, a byte order mark and a bad line, read from the text', () => {
  const items = parseNdjson(Buffer.from(lines.join('\n')), 100)
  expect(items.map(({ index, value, error }) => ({ index, value, bad: error !== undefined }))).toEqual([
    { index: 0, value: { a: 1 }, bad: false },
    { index: 3, value: { bom: true }, bad: false },
    { index: 4, value: { crlf: 1 }, bad: false },
    { index: 5, value: undefined, bad: true },
    { index: 6, value: { indented: 2 }, bad: false },
    { index: 7, value: { last: 3 }, bad: false },
  ])
  expect(items[3]!.raw).toBe('not json')
  expect(items[3]!.error).toMatch(/^line is not valid JSON: /)
})

test('NDJSON: a body with invalid UTF-8 on one line is cut by bytes and gives the same answer for the others', () => {
  const bad = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]) // {"\xff"}
  const body = Buffer.concat([Buffer.from(`${lines.join('\n')}\n`), bad, Buffer.from('\n{"after":4}')])
  const items = parseNdjson(body, 100)
  const text = parseNdjson(Buffer.from(lines.join('\n')), 100)
  expect(items.slice(0, text.length)).toEqual(text)
  expect(items.slice(text.length).map(({ index, value, error }) => ({ index, value, error }))).toEqual([
    { index: 8, value: undefined, error: 'line is not valid UTF-8' },
    { index: 9, value: { after: 4 }, error: undefined },
  ])
})

test('NDJSON: more events than allowed is a 413 whichever way the body is cut', () => {
  const many = Array.from({ length: 4 }, () => '{}').join('\n')
  expect(() => parseNdjson(Buffer.from(many), 3)).toThrow(BodyError)
  expect(() => parseNdjson(Buffer.concat([Buffer.from(`${many}\n`), Buffer.from([0xff])]), 3)).toThrow(
    /at most 3 events/,
  )
})

test('a JSON array keeps the text of each element as written', () => {
  const elements = [
    '{"a":"x,]\\"}","n":1.0000000000000001}',
    '[1,[2,{"b":"]"}]]',
    '"s\\\\"',
    'null',
    '1.50',
    '{ "spaced" : [ ] }',
  ]
  const body = ` [ ${elements.join(' ,\r\n\t')} ] `
  expect(arrayElementTexts(body)).toEqual(elements)
  expect(arrayElementTexts('[]')).toEqual([])
  expect(arrayElementTexts(' [ ] ')).toEqual([])
  const items = parseJsonBody(Buffer.from(body), 100)
  expect(items.map((item) => item.rawLater?.())).toEqual(elements)
  expect(items[0]!.value).toEqual({ a: 'x,]"}', n: 1 })
})

test('nesting is counted outside strings only, and only text longer than the limit is scanned', () => {
  expect(nestsDeeperThan('[[[]]]', 2)).toBe(true)
  expect(nestsDeeperThan('[[]]', 2)).toBe(false)
  expect(nestsDeeperThan('{"a":{"b":[1]}}', 3)).toBe(false)
  // brackets inside a string, escaped quotes included, are text
  expect(nestsDeeperThan(`{"title":"${'[{'.repeat(50)} \\" ${'['.repeat(50)}"}`, 2)).toBe(false)
  // unclosed: scanned as far as it goes
  expect(nestsDeeperThan('['.repeat(11), 10)).toBe(true)
  const lines = parseNdjson(Buffer.from(`{"a":1}\n${'['.repeat(MAX_NESTING + 1)}\n`), 10)
  expect(lines[0]?.value).toEqual({ a: 1 })
  expect(lines[1]?.error).toBe(`line nests deeper than ${MAX_NESTING} levels of arrays and objects`)
})

test('firstInvalidUtf8 finds where a strict UTF-8 decoder first fails, and -1 where it does not', () => {
  const strict = new TextDecoder('utf-8', { fatal: true })
  const decodes = (bytes: Uint8Array) => {
    try {
      strict.decode(bytes)
      return true
    } catch {
      return false
    }
  }
  // overlong, surrogate, past U+10FFFF, stray continuation, truncated, bad continuation
  const edges = [
    [0xc0, 0x80],
    [0xe0, 0x9f, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0x80],
    [0xe2, 0x82],
    [0xe2, 0x28, 0xa1],
    [0xf5],
  ]
  for (const edge of edges) expect(firstInvalidUtf8(Uint8Array.from([0x61, ...edge])), `${edge}`).toBe(1)
  // bytes near the boundaries, and valid text with one byte broken
  const nearBoundaries = fc
    .uint8Array({ maxLength: 12 })
    .map((b) =>
      b.map(
        (x) => [0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0x41][x % 14]!,
      ),
    )
  const brokenText = fc
    .tuple(fc.string({ unit: 'grapheme' }), fc.nat(), fc.integer({ min: 0, max: 255 }))
    .map(([text, at, byte]) => {
      const bytes = Buffer.from(text)
      if (bytes.length > 0) bytes[at % bytes.length] = byte
      return new Uint8Array(bytes)
    })
  fc.assert(
    fc.property(fc.oneof(nearBoundaries, brokenText), (bytes) => {
      const at = firstInvalidUtf8(bytes)
      if (at < 0) expect(decodes(bytes)).toBe(true)
      else {
        expect(decodes(bytes)).toBe(false)
        expect(decodes(bytes.subarray(0, at))).toBe(true)
        // and no character starts there
        for (let n = 1; n <= 4; n++) expect(decodes(bytes.subarray(at, at + n))).toBe(false)
      }
    }),
    { numRuns: 5000 },
  )
})
