import type { Readable } from 'node:stream'
import type { Connection } from 'chdb/connection'

/**
 * A fault switch for tests: when `failNext` returns an Error for an operation, that
 * operation fails before reaching the engine. Production never sets one.
 */
export interface FaultInjector {
  failNext(operation: 'query' | 'exec' | 'command' | 'insert', sql: string): Error | undefined
}

// A chDB connection is a session, and two things the HTTP interface scopes to a query
// stay in it: the current database (chDB ignores the client's `database` option:
// there is no URL to carry it) and the statement's clickhouse_settings, which chDB applies
// as `SET`s that stay in force for every later statement. So this module tracks what the
// session holds and, before each statement, puts right what differs: `USE` when the
// database differs, `SET k = DEFAULT` for a setting the statement does not ask for,
// `SET k = v` for one it asks for differently. Statements through one connection run one
// at a time (as in a chDB session; other sessions on the same path run beside it), so
// preamble and statement are atomic. (Measured: a session's database and settings are its own; another connection
// on the same path, or a new one after a restart, starts from the defaults.)
//
// For a statement with a body (an INSERT's rows) the preamble is a statement of its own:
// chDB lexes a multi-statement text whole before running it, so `USE db; INSERT ...` cost
// the engine ~1.5 µs per event of a 2 MB body (measured: 31 of 90 ms per 20 000-event
// INSERT), where a separate preamble costs ~1 ms, and only when the session changed.
interface Session {
  database: string | undefined
  /** setting -> its SQL literal as last SET; UNKNOWN after a failed statement. */
  settings: Map<string, string>
}
const UNKNOWN = '\u0000unknown'

// As chDB's own adapter: settings that only mean something over HTTP, or that it maps to
// a call option, are handed to it rather than SET.
const NOT_SET = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'default_format',
])

function settingLiteral(value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'boolean') return value ? '1' : '0'
  return `'${String(value).replace(/'/g, "''")}'`
}

/** A statement of the plain view waits at most this long behind `first` ones (ms). */
const OTHER_MAX_WAIT_MS = 100

interface Preamble {
  sql: string
  /** The settings the session holds once the preamble ran. */
  settings: Map<string, string>
  /** Settings handed to chDB's adapter as they are (not SET). */
  passed: Record<string, unknown> | undefined
}

function preambleFor(
  session: Session,
  database: string,
  wanted: Record<string, unknown> | undefined,
): Preamble {
  const settings = new Map<string, string>()
  let passed: Record<string, unknown> | undefined
  for (const [key, value] of Object.entries(wanted ?? {})) {
    if (value === undefined) continue
    if (NOT_SET.has(key)) {
      passed = { ...passed, [key]: value }
      continue
    }
    if (!/^[A-Za-z_]\w*$/.test(key)) throw new Error(`invalid setting name ${JSON.stringify(key)}`)
    settings.set(key, settingLiteral(value))
  }
  const statements: string[] = []
  if (session.database !== database) statements.push(`USE ${database}`)
  for (const key of session.settings.keys()) if (!settings.has(key)) statements.push(`SET ${key} = DEFAULT`)
  for (const [key, literal] of settings) {
    if (session.settings.get(key) !== literal) statements.push(`SET ${key} = ${literal}`)
  }
  return { sql: statements.join('; '), settings, passed }
}

/** An embedded connection, and a view of it whose statements go before the others waiting. */
export interface ScopedConnection extends Connection<Readable> {
  /**
   * The same engine and session, for the statements an acknowledgement or the live push
   * waits on (group commits, their dedup look-ups, tick rounds, the wall's read each
   * second): each runs as soon as the engine is free,
   * ahead of any waiting statement of the plain connection. A session runs one statement
   * at a time, so without it a flood of reads (16 concurrent `/series`) queued every
   * commit behind all of them: ingest acks went from 41 ms to 850 ms.
   */
  first: Connection<Readable>
}

/**
 * Wraps the embedded (chDB) connection so that every statement runs in `database` with
 * exactly its own settings, as over HTTP. The HTTP connection to a server needs none of this.
 */
export function scopedConnection(
  inner: Connection<Readable>,
  database: string,
  faults?: FaultInjector,
): ScopedConnection {
  // Closing the engine while a statement runs inside it crashes the process (SIGSEGV seen
  // on SIGTERM during the dedup warm-up), so close waits for the statements in flight.
  const inFlight = new Set<Promise<unknown>>()
  const session: Session = { database: undefined, settings: new Map() }
  // One statement in the engine at a time; when it frees, the oldest waiting `first` one
  // goes, else the oldest other one, unless that one has waited OTHER_MAX_WAIT_MS: then it
  // goes first (back-to-back commits and tick rounds would otherwise hold a read, /readyz's
  // ping among them, for as long as ingest runs at full rate).
  // An overdue one goes alone: the next turn is a `first` one's again, so a flood of reads
  // that all waited that long still lets a commit through every other statement.
  type Task = { run: () => Promise<void>; since: number }
  const waiting: { first: Task[]; other: Task[] } = { first: [], other: [] }
  let busy = false
  let lastWasOverdue = false
  const next = (): void => {
    if (busy) return
    const overdue =
      !lastWasOverdue &&
      waiting.first.length > 0 &&
      (waiting.other[0]?.since ?? Number.POSITIVE_INFINITY) + OTHER_MAX_WAIT_MS <= performance.now()
    lastWasOverdue = overdue
    const task =
      (overdue ? waiting.other.shift() : undefined) ?? waiting.first.shift() ?? waiting.other.shift()
    if (!task) return
    busy = true
    void task.run().finally(() => {
      busy = false
      next()
    })
  }
  const inTurn = <R>(first: boolean, work: () => Promise<R>): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      waiting[first ? 'first' : 'other'].push({
        run: () => work().then(resolve, reject),
        since: performance.now(),
      })
      next()
    })
  /**
   * `preamble`: 'inline' before the text, 'apart' as its own statement first (a body
   * follows the text), or 'none' (the statement needs neither database nor settings).
   */
  const run = <T extends { query: string; clickhouse_settings?: Record<string, unknown> }, R>(
    first: boolean,
    op: 'query' | 'exec' | 'command' | 'insert',
    params: T,
    mode: 'inline' | 'apart' | 'none',
    start: (params: T) => Promise<R>,
  ): Promise<R> => {
    const error = faults?.failNext(op, params.query)
    if (error) return Promise.reject(error)
    const statement = inTurn(first, async () => {
      if (mode === 'none') return start(params)
      const before = [...session.settings.keys()]
      const preamble = preambleFor(session, database, params.clickhouse_settings)
      try {
        let query = params.query
        if (preamble.sql !== '' && mode === 'apart') await inner.command({ query: preamble.sql })
        else if (preamble.sql !== '') query = `${preamble.sql}; ${query}`
        session.database = database
        session.settings = preamble.settings
        return await start({ ...params, query, clickhouse_settings: preamble.passed })
      } catch (error) {
        // How far the preamble got is unknown (it may not have run at all, e.g. when a
        // parameter could not be bound): set every setting it touched again next time.
        session.database = undefined
        session.settings = new Map()
        for (const key of [...before, ...preamble.settings.keys()]) session.settings.set(key, UNKNOWN)
        throw error
      }
    })
    inFlight.add(statement)
    const forget = () => inFlight.delete(statement)
    statement.then(forget, forget)
    return statement
  }
  // (both views close the one engine, once)
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
      await inner.close()
    })()
    return closing
  }
  const view = (first: boolean): Connection<Readable> => ({
    query: (params) => run(first, 'query', params, 'inline', (p) => inner.query(p)),
    exec: (params) =>
      run(first, 'exec', params, params.values !== undefined ? 'apart' : 'inline', (p) => inner.exec(p)),
    command: (params) => run(first, 'command', params, 'inline', (p) => inner.command(p)),
    insert: (params) => run(first, 'insert', params, 'apart', (p) => inner.insert(p)),
    // chDB's ping runs SELECT 1, which needs no database or settings: in turn with the
    // other statements, but without correcting the session (so a health check neither
    // churns SETs nor fails on them; chDB's ping answers { success: false } itself).
    ping: (params) => run(first, 'query', { query: 'SELECT 1' }, 'none', () => inner.ping(params)),
    close,
  })
  return { ...view(false), first: view(true) }
}
