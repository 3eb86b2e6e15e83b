import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { dataDirOwner, foreignEntries } from '../../server/storage/data-dir.ts'
import { openEngineElsewhere } from '../helpers/engine.ts'
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

test('a data dir is in use while an engine in another process has it open, and not after', async () => {
  const dir = runTempDir('data-dir-owner-')
  expect(dataDirOwner(dir)).toBeUndefined()
  const engine = await openEngineElsewhere(dir)
  try {
    expect(dataDirOwner(dir)).toBe(engine.pid)
  } finally {
    engine.kill('SIGKILL')
    await new Promise((resolve) => engine.once('exit', resolve))
  }
  // The crash left its status file, naming a PID that may come to belong to anything: here
  // a live process that holds no lock on it (the test runner's parent).
  writeFileSync(path.join(dir, 'status'), `PID: ${process.ppid}\nStarted at: 2026-11-24 22:00:00\n`)
  expect(dataDirOwner(dir)).toBeUndefined()
})
