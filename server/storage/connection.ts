import type { Readable } from 'node:stream'
import type { Connection } from 'chdb/connection'

/**
 * A fault switch for tests: when `failNext` returns an Error for an operation, that
 * operation fails before reaching the engine. Production never sets one.
 */
export interface FaultInjector {
  failNext(operation: 'query' | 'exec' | 'command' | 'insert', sql: string): Error | undefined
}

// chDB applies a statement's clickhouse_settings as SET statements on its one session,
// so they would stay in force for every later statement (a server applies them to
// that query only). Every setting a statement once asked for is put back to its
// default before each statement that does not ask for it.
// One set per process: chDB is one engine and one session per process.
const setKeys = new Set<string>()

/**
 * Wraps the embedded (chDB) connection so that every statement runs in `database`.
 * chDB ignores the client's `database` option (there is no HTTP URL to carry it), but
 * it runs one statement at a time per process, so a `USE` prefix is atomic with the
 * statement. The HTTP connection to a server needs none of this.
 */
export function scopedConnection(
  inner: Connection<Readable>,
  database: string,
  faults?: FaultInjector,
): Connection<Readable> {
  const use = `USE ${database}; `
  const prefix = (settings: Record<string, unknown> | undefined): string => {
    let resets = ''
    for (const key of setKeys) if (settings?.[key] === undefined) resets += `SET ${key} = DEFAULT; `
    for (const key of Object.keys(settings ?? {})) if (/^[A-Za-z_]\w*$/.test(key)) setKeys.add(key)
    return use + resets
  }
  // Closing the engine while a statement runs inside it crashes the process (SIGSEGV seen
  // on SIGTERM during the dedup warm-up), so close waits for the statements in flight.
  const inFlight = new Set<Promise<unknown>>()
  const run = <T>(
    op: 'query' | 'exec' | 'command' | 'insert',
    sql: string,
    start: () => Promise<T>,
  ): Promise<T> => {
    const error = faults?.failNext(op, sql)
    if (error) return Promise.reject(error)
    const statement = start()
    inFlight.add(statement)
    const forget = () => inFlight.delete(statement)
    statement.then(forget, forget)
    return statement
  }
  return {
    query: (params) =>
      run('query', params.query, () =>
        inner.query({ ...params, query: prefix(params.clickhouse_settings) + params.query }),
      ),
    exec: (params) =>
      run('exec', params.query, () =>
        inner.exec({ ...params, query: prefix(params.clickhouse_settings) + params.query }),
      ),
    command: (params) =>
      run('command', params.query, () =>
        inner.command({ ...params, query: prefix(params.clickhouse_settings) + params.query }),
      ),
    insert: (params) =>
      run('insert', params.query, () =>
        inner.insert({ ...params, query: prefix(params.clickhouse_settings) + params.query }),
      ),
    // chDB's ping runs SELECT 1: it is a statement like the others.
    ping: (params) => run('query', 'SELECT 1', () => inner.ping(params)),
    close: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
      await inner.close()
    },
  }
}
