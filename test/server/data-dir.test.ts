import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { dataDirOwner, demoTakeOverRefusal, foreignEntries } from '../../server/storage/data-dir.ts'
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

test("the demo takes a missing, empty or demo's data dir, and refuses a serve database or foreign files", async () => {
  const root = runTempDir('take-over-')
  const dir = (name: string, entries: string[] = []) => {
    const at = path.join(root, name)
    mkdirSync(at)
    for (const entry of entries) writeFileSync(path.join(at, entry), '')
    return at
  }
  expect(demoTakeOverRefusal(path.join(root, 'missing'))).toBeUndefined()
  expect(demoTakeOverRefusal(dir('empty'))).toBeUndefined()
  // a first start stopped between the write probe and its removal, or right after the secrets
  expect(demoTakeOverRefusal(dir('probe-left', ['.livewall-write-test-4242']))).toBeUndefined()
  expect(demoTakeOverRefusal(dir('secrets-only', ['demo-secrets.json']))).toBeUndefined()

  // A database the engine made, as npm run serve leaves it; a demo's has its secrets beside it.
  const served = dir('served')
  const engine = await openEngineElsewhere(served)
  engine.kill('SIGKILL')
  await new Promise((resolve) => engine.once('exit', resolve))
  expect(demoTakeOverRefusal(served)).toBe(
    `DATA_DIR ${served} holds a Livewall database that is not a demo's (it has no demo-secrets.json: ` +
      "npm run serve's?); the demo would write simulated streams into it. Give the demo its own " +
      'DATA_DIR (e.g. DATA_DIR=./demo-data npm start), or run npm run serve on this one',
  )
  writeFileSync(path.join(served, 'demo-secrets.json'), '')
  expect(demoTakeOverRefusal(served)).toBeUndefined()

  expect(demoTakeOverRefusal(dir('foreign', ['notes.txt']))).toMatch(
    /holds files Livewall did not make \(notes\.txt\); the demo keeps its database in a directory of its own/,
  )
})
