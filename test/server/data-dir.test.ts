import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { dataDirOwner, foreignEntries } from '../../server/storage/data-dir.ts'
import { runTempDir } from '../helpers/server.ts'

test("a data dir's own entries are told from anything else put there", () => {
  const dir = runTempDir('data-dir-')
  for (const entry of ['metadata', 'store', 'tmp']) mkdirSync(path.join(dir, entry))
  for (const file of [
    'status',
    'demo-secrets.json',
    'commit-journal-livewall.json',
    'commit-journal-x.json.tmp',
  ])
    writeFileSync(path.join(dir, file), '')
  expect(foreignEntries(dir)).toEqual([])
  writeFileSync(path.join(dir, 'thesis.txt'), 'precious')
  mkdirSync(path.join(dir, '.git'))
  expect(foreignEntries(dir).sort()).toEqual(['.git', 'thesis.txt'])
})

test("the engine's status file names who has the dir open; a stale one names nobody", () => {
  const dir = runTempDir('data-dir-owner-')
  expect(dataDirOwner(dir)).toBeUndefined()
  // A live process that is not this one: the test runner's parent.
  writeFileSync(path.join(dir, 'status'), `PID: ${process.ppid}\nStarted at: 2026-11-24 22:00:00\n`)
  expect(dataDirOwner(dir)).toBe(process.ppid)
  writeFileSync(path.join(dir, 'status'), `PID: ${process.pid}\n`)
  expect(dataDirOwner(dir)).toBeUndefined()
  writeFileSync(path.join(dir, 'status'), 'PID: 4194000\n')
  expect(dataDirOwner(dir)).toBeUndefined()
})
