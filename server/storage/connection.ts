import type { Readable } from 'node:stream'
import type { Connection } from 'chdb/connection'

/**
 * A fault switch for tests: when `failNext` returns an Error for an operation, that
 * operation fails before reaching the engine. Production never sets one.
 */
export interface FaultInjector {
  failNext(operation: 'query' | 'exec' | 'command' | 'insert', sql: string): Error | undefined
}

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
  const guard = (op: 'query' | 'exec' | 'command' | 'insert', sql: string) => {
    const error = faults?.failNext(op, sql)
    if (error) throw error
  }
  return {
    query: async (params) => {
      guard('query', params.query)
      return inner.query({ ...params, query: use + params.query })
    },
    exec: async (params) => {
      guard('exec', params.query)
      return inner.exec({ ...params, query: use + params.query })
    },
    command: async (params) => {
      guard('command', params.query)
      return inner.command({ ...params, query: use + params.query })
    },
    insert: async (params) => {
      guard('insert', params.query)
      return inner.insert({ ...params, query: use + params.query })
    },
    ping: (params) => inner.ping(params),
    close: () => inner.close(),
  }
}
