import { chmodSync, readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import { demoSecrets } from '../../server/demo.ts'
import { runTempDir } from '../helpers/server.ts'

/** Runs `read` as a user who cannot read `file`: nobody when this is root, else with the file made unreadable. */
function asAnotherUser<T>(file: string, read: () => T): T {
  if (process.getuid?.() === 0 && process.seteuid) {
    process.seteuid(65534)
    try {
      return read()
    } finally {
      process.seteuid(0)
    }
  }
  chmodSync(file, 0o000)
  try {
    return read()
  } finally {
    chmodSync(file, 0o600)
  }
}

test('a demo-secrets.json this user cannot read is said to be so, with no advice to delete it', () => {
  const dir = runTempDir('demo-secrets-unreadable-')
  chmodSync(dir, 0o755)
  const { file } = demoSecrets(dir)
  const before = readFileSync(file, 'utf8')
  const error = asAnotherUser(file, () => {
    try {
      demoSecrets(dir)
      return undefined
    } catch (error) {
      return error as Error
    }
  })
  expect(error?.message).toMatch(/cannot be read by this user \(uid \d+\); run as the user/)
  expect(error?.message.startsWith(file)).toBe(true)
  expect(error?.message).not.toMatch(/delete|not a valid/)
  expect(readFileSync(file, 'utf8')).toBe(before)
})
