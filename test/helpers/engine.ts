import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'

/** Embedded ClickHouse opened on `dir` by another process, which keeps it open until killed. */
export async function openEngineElsewhere(dir: string): Promise<ChildProcess> {
  const script = `
    const { createClient } = require('@clickhouse/client')
    const { createChdbConnection } = require('chdb/connection')
    const client = createClient({ connection: createChdbConnection({ path: ${JSON.stringify(dir)} }) })
    client.query({ query: 'SELECT 1' }).then(() => { console.log('open'); setInterval(() => {}, 1000) })`
  const child = spawn(process.execPath, ['-e', script], {
    cwd: path.resolve(import.meta.dirname, '..', '..'),
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => String(chunk).includes('open') && resolve())
    child.once('exit', (code) => reject(new Error(`the engine process exited (${code})`)))
  })
  return child
}
