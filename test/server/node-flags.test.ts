import { readFileSync } from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { missingNodeFlags, SERVER_NODE_FLAGS } from '../../server/node-flags.ts'

const ROOT = path.join(import.meta.dirname, '..', '..')

test('npm run serve and npm start run with the server node flags', () => {
  const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  for (const name of ['serve', 'start']) {
    const words = scripts[name]!.split(/\s+/)
    for (const flag of SERVER_NODE_FLAGS) expect(words, `npm run ${name}`).toContain(flag)
  }
})

test('a process started without them is told which are missing', () => {
  expect(missingNodeFlags([], undefined)).toEqual([...SERVER_NODE_FLAGS])
  expect(missingNodeFlags(['--max-semi-space-size=64'], undefined)).toEqual([])
  expect(missingNodeFlags([], '--max-semi-space-size=64 --enable-source-maps')).toEqual([])
  // Another value is the operator's choice, not a missing flag.
  expect(missingNodeFlags(['--max-semi-space-size=128'], undefined)).toEqual([])
})
