import { expect, test } from 'vitest'
import {
  arrayElementTexts,
  BodyError,
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
