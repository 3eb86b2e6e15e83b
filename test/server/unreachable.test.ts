import { expect, test } from 'vitest'
import { isStorageUnreachable, serializeError } from '../../server/storage/unreachable.ts'

test('a storage that does not answer is logged as one line; anything else keeps its stack', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })
  expect(isStorageUnreachable(refused)).toBe(true)
  expect(serializeError(refused)).toMatchObject({ message: 'connect ECONNREFUSED 127.0.0.1:8123' })
  expect(serializeError(refused).stack).not.toContain('\n')
  const unknownHost = Object.assign(new Error('getaddrinfo ENOTFOUND clickhouse'), { code: 'ENOTFOUND' })
  expect(serializeError(unknownHost)).toMatchObject({ message: 'getaddrinfo ENOTFOUND clickhouse' })
  expect(serializeError(unknownHost).stack).not.toContain('\n')
  const bug = new TypeError('x is undefined')
  expect(isStorageUnreachable(bug)).toBe(false)
  expect(serializeError(bug)).toMatchObject({
    type: 'TypeError',
    message: 'x is undefined',
    stack: bug.stack,
  })
})
