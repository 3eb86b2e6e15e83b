import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/**
 * Every test process keeps its embedded ClickHouse data under one directory of this run
 * (see test/helpers/server.ts), removed here when the run ends. A worker's own exit
 * handler is not enough: vitest ends its forks without running them (measured: a
 * thousand ~200 MB data dirs left in /tmp by one day of runs).
 */
export function testRunRoot(vitestPid: number): string {
  return path.join(tmpdir(), `livewall-tests-${vitestPid}`)
}

/** Runs once per project of the run, in vitest's own process: the same root each time. */
export default function setup(): () => void {
  const root = testRunRoot(process.pid)
  mkdirSync(root, { recursive: true })
  return () => rmSync(root, { recursive: true, force: true })
}
