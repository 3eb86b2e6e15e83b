import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { CommitJournal, type SuspectCommit } from '../../server/ingest/repair.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'livewall-journal-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const suspect = (streams: string[]): SuspectCommit => ({
  streams,
  from: 1_700_000_000_000,
  to: 1_700_000_000_500,
})

test('a commit journal is rewritten in place: one file, the last content read back', () => {
  const file = path.join(dir, 'in-place.json')
  const journal = new CommitJournal(file)
  expect(journal.read()).toEqual({})

  journal.write(suspect(['s-1', 's-2', 's-3']))
  const inode = statSync(file).ino
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(['s-1', 's-2', 's-3']) })

  // Shorter, then cleared, then longer again: always the last one, in the same file.
  journal.write(suspect(['s-1']))
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(['s-1']) })
  journal.write(undefined)
  expect(new CommitJournal(file).read()).toEqual({})
  expect(readFileSync(file, 'utf8').trimEnd()).toBe('null')
  journal.write(suspect(['s-1', 's-2', 's-3', 's-4']))
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(['s-1', 's-2', 's-3', 's-4']) })
  expect(statSync(file).ino).toBe(inode)
  journal.close()
})

test('a suspect longer than a page goes through a new file, and the next short one is in place again', () => {
  const file = path.join(dir, 'long.json')
  const journal = new CommitJournal(file)
  journal.write(suspect(['a']))
  const many = Array.from({ length: 500 }, (_, i) => `stream-${i}`)
  journal.write(suspect(many))
  expect(statSync(file).size).toBeGreaterThan(4096)
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(many) })

  journal.write(suspect(['b']))
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(['b']) })
  const inode = statSync(file).ino
  journal.write(undefined)
  expect(new CommitJournal(file).read()).toEqual({})
  expect(statSync(file).ino).toBe(inode)
  journal.close()
})

test('a journal left by an older version (no file = nothing suspect) and a damaged one', () => {
  const file = path.join(dir, 'old.json')
  expect(new CommitJournal(file).read()).toEqual({})
  writeFileSync(file, JSON.stringify(suspect(['old'])))
  expect(new CommitJournal(file).read()).toEqual({ suspect: suspect(['old']) })
  writeFileSync(file, '{"streams": [')
  expect(new CommitJournal(file).read().problem).toMatch(/is not a commit journal/)
})
