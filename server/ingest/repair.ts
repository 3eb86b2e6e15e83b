import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { EVENT_ID_WINDOW_MS } from './dedup.ts'

/**
 * A commit that may have stored its events without their rollups: its INSERT into `events`
 * failed or the process died during it, or it was answered and its rollups' write (which
 * follows the answer, migration 007) failed or never came. The streams it touched and when
 * its requests came in (epoch ms).
 *
 * Why it matters: ClickHouse does not take back the rows an INSERT stored when a later
 * step fails (measured: a view that throws leaves the source rows stored and the INSERT
 * reported failed), and `events` and the rollups are two writes. A retry finds the events
 * stored and counts them as duplicates, so without a repair the metrics would miss them
 * for good.
 */
export interface SuspectCommit {
  streams: string[]
  from: number
  to: number
}

/**
 * Two suspects as one (the streams of both, the span of both): however many commits fail
 * in a row (storage away for an hour), there is one suspect with a bounded stream list.
 */
export function joinSuspects(suspect: SuspectCommit | undefined, next: SuspectCommit): SuspectCommit {
  if (!suspect) return next
  return {
    streams: [...new Set([...suspect.streams, ...next.streams])],
    from: Math.min(suspect.from, next.from),
    to: Math.max(suspect.to, next.to),
  }
}

/**
 * The commits that may have half-landed, kept in a small file beside the data so that
 * they survive a crash: written before each INSERT, cleared once that commit's rollups
 * are written (or it failed with nothing stored) and after a repair. The file holds a suspect as JSON, or `null` for none, followed by spaces.
 *
 * Rewritten in place, in one write at offset 0: creating a file per commit (a temporary
 * one renamed over the journal) cost up to ~6 ms of the main thread under load, as ext4
 * without a journal skips every recently deleted inode when it allocates one (profiled:
 * `recently_deleted` in `ext4_create`). One write of at most a page is whole or absent
 * after a crash of the process, so in place is as safe as the rename was; a longer text
 * (a suspect of very many streams) still goes through a temporary file and a rename.
 */
export class CommitJournal {
  /** The file, open for rewriting in place, and how long its content is. */
  private open: { fd: number; size: number } | undefined

  constructor(private readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true })
  }

  /** What the file holds; an unreadable file is reported, and read as empty. */
  read(): { suspect?: SuspectCommit; problem?: string } {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
      return { problem: `cannot read ${this.file}: ${(error as Error).message}` }
    }
    try {
      const parsed = JSON.parse(text) as SuspectCommit | null
      if (parsed === null) return {}
      if (!Array.isArray(parsed?.streams)) throw new Error('no stream list')
      return { suspect: parsed }
    } catch (error) {
      return { problem: `${this.file} is not a commit journal (${(error as Error).message})` }
    }
  }

  /** Replaces the file's content (atomically: a crash leaves the old or the new). */
  write(suspect: SuspectCommit | undefined): void {
    const text = Buffer.from(suspect ? JSON.stringify(suspect) : 'null')
    const open = this.open
    if (open && Math.max(text.length, open.size) <= IN_PLACE_BYTES) {
      // Spaces over the rest of a longer old text: JSON.parse reads past them.
      const padded =
        text.length >= open.size ? text : Buffer.concat([text, Buffer.alloc(open.size - text.length, 0x20)])
      writeSync(open.fd, padded, 0, padded.length, 0)
      open.size = padded.length
      return
    }
    const temporary = `${this.file}.tmp`
    writeFileSync(temporary, text)
    renameSync(temporary, this.file)
    this.close()
    try {
      this.open = { fd: openSync(this.file, 'r+'), size: text.length }
    } catch {
      // (written all the same: the next write renames again)
    }
  }

  /** Closes the file (it stays, with its last content). */
  close(): void {
    if (this.open) closeSync(this.open.fd)
    this.open = undefined
  }
}

/**
 * The most the journal rewrites in place: one page, which a single write at offset 0 puts
 * in the file whole or not at all when the process dies (a longer write may stop between
 * pages). A suspect of ~100 streams fits.
 */
const IN_PLACE_BYTES = 4096

/**
 * Per stream, what the §3 totals are made of; equal strings = the rollups hold every event
 * that changes a read. (Whether the stream has a stream_start, not which one: with two at
 * the same ts, the view's merged state and a fresh argMin may pick different ones.)
 */
const FACTS_FROM_EVENTS = `
  SELECT stream_id,
    toString((countIf(type = 'view_start'), countIf(type = 'view_end'),
      countIf(type = 'product_impression'), countIf(type = 'product_click'),
      countIf(type = 'add_to_cart'), countIf(type = 'order_paid'),
      sumIf(toUInt64(quantity), type = 'order_paid'), sumIf(amount, type = 'order_paid'),
      sumIf(amount, type = 'order_refunded'), countIf(type = 'comment'),
      sumIf(toUInt64(quantity), type = 'like'), countIf(type = 'share'), countIf(type = 'follow'),
      min(ts), max(ts), maxIf(ts, type = 'stream_end'),
      countIf(type = 'stream_start') > 0)) AS facts,
    toUnixTimestamp64Milli(min(ts)) AS from_ms,
    toUnixTimestamp64Milli(max(ts)) AS to_ms
  FROM events
  WHERE stream_id IN {streams:Array(String)}
  GROUP BY stream_id`

const FACTS_FROM_ROLLUPS = `
  SELECT stream_id,
    toString((sum(views), sum(view_ends), sum(impressions), sum(clicks), sum(carts), sum(orders),
      sum(items), sum(gmv), sum(refunds), sum(comments), sum(likes), sum(shares), sum(follows),
      min(first_ts), max(last_ts), max(ended_at),
      argMinMerge(meta) != ('', '', '', ''))) AS facts
  FROM rollups
  WHERE grain = 3 AND stream_id IN {streams:Array(String)}
  GROUP BY stream_id`

/**
 * Grains of some streams rebuilt from their raw events: the SELECT of the rollup view
 * (migrations 006 and 007), less grain 6, over those streams' events, for the grains asked. A
 * test holds the two to the same answers (test/server/repair.test.ts).
 */
const REBUILD_STREAMS = `
  INSERT INTO rollups
  SELECT
    g.1 AS grain,
    g.2 AS stream_id,
    g.3 AS key,
    g.4 AS bucket,
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    maxIf(ts, type = 'stream_end') AS ended_at,
    argMinStateIf((creator_id, title, vertical, campaign_id), ts, type = 'stream_start') AS meta,
    countIf(type = 'view_start') AS views,
    countIf(type = 'view_end') AS view_ends,
    uniqExactStateIf(viewer_id, type = 'view_start') AS viewers,
    countIf(type = 'product_impression') AS impressions,
    countIf(type = 'product_click') AS clicks,
    countIf(type = 'add_to_cart') AS carts,
    countIf(type = 'order_paid') AS orders,
    sumIf(toUInt64(quantity), type = 'order_paid') AS items,
    uniqExactStateIf(viewer_id, type = 'order_paid') AS buyers,
    sumIf(amount, type = 'order_paid') AS gmv,
    sumIf(amount, type = 'order_refunded') AS refunds,
    countIf(type = 'comment') AS comments,
    sumIf(toUInt64(quantity), type = 'like') AS likes,
    countIf(type = 'share') AS shares,
    countIf(type = 'follow') AS follows
  FROM (SELECT * FROM events WHERE stream_id IN {streams:Array(String)}) AS events
  ARRAY JOIN arrayConcat(
    [
      (toUInt8(1), events.stream_id, '', toDateTime(ts, 'UTC')),
      (toUInt8(2), events.stream_id, '', toDateTime(toStartOfMinute(ts), 'UTC')),
      (toUInt8(3), events.stream_id, '', toDateTime(0, 'UTC'))
    ],
    if(product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid'),
       [(toUInt8(4), events.stream_id, product_id, toDateTime(0, 'UTC'))], []),
    if(type = 'view_start', [(toUInt8(5), events.stream_id, toString(source), toDateTime(0, 'UTC'))], [])
  ) AS g
  WHERE g.1 IN {grains:Array(UInt8)}
  GROUP BY g`

/** The accepted orders (grain 6, the order_id dedup look-up) of a commit's time span. */
const RESTORE_ORDERS = `
  INSERT INTO rollups (grain, stream_id, key, bucket, orders)
  SELECT toUInt8(6), '', order_id, toDateTime(received_at, 'UTC') AS second, count()
  FROM events
  WHERE stream_id IN {streams:Array(String)} AND type = 'order_paid'
    AND received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
    AND received_at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')
  GROUP BY order_id, second`

/** The accepted event_ids (`event_ids`, the event_id dedup look-up) of a commit's time span. */
const RESTORE_IDS = `
  INSERT INTO event_ids (event_id, received_at)
  SELECT event_id, received_at
  FROM events
  WHERE stream_id IN {streams:Array(String)}
    AND received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
    AND received_at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')`

/**
 * Restores what the dedup look-ups read of the suspect commits' span: their accepted orders
 * (grain 6, the order_id look-up) and their event_ids (`event_ids`, the event_id look-up).
 * Both are written with the rollups (migrations 007, 008), so a commit whose rollups are
 * missing lacks them too; restoring them whatever the rollups say keeps a repair cut short
 * from leaving them out. A second copy of an id is harmless (the look-ups are DISTINCT).
 * Cheap: the noted streams' rows of the span.
 */
export async function restoreLookups(client: ClickHouseClient, suspect: SuspectCommit): Promise<void> {
  const query_params = { streams: suspect.streams, from: suspect.from, to: suspect.to }
  await client.command({ query: RESTORE_ORDERS, query_params })
  await client.command({ query: RESTORE_IDS, query_params })
}

/**
 * How far before the newest id in `event_ids` an unreadable journal's suspect reaches
 * (`suspectOfLostJournal`).
 */
const LOST_JOURNAL_MARGIN_MS = 10 * 60 * 1000

/**
 * What an unreadable journal may have held, found from storage: every stream with events
 * received from LOST_JOURNAL_MARGIN_MS before the newest event_id in `event_ids` until
 * `now`. Why that suffices: the commits that can lack their event_ids and orders are those
 * whose rollups were not written, and a failed rollups write stops every later commit until
 * its event_ids are restored, so they all came after the last rollups write that succeeded
 * (seconds before it at most: two lanes, a gathered write). Costs one pass over the
 * span's events; a rebuild then compares those streams as after any suspect.
 */
export async function suspectOfLostJournal(client: ClickHouseClient, now: number): Promise<SuspectCommit> {
  const [newest] = await (
    await client.query({
      query: `SELECT toUnixTimestamp64Milli(max(received_at)) AS newest, count() AS n FROM event_ids
              WHERE received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`,
      query_params: { since: now - EVENT_ID_WINDOW_MS },
      format: 'JSONEachRow',
    })
  ).json<{ newest: number | string; n: number | string }>()
  const from =
    Number(newest?.n ?? 0) === 0 ? now - EVENT_ID_WINDOW_MS : Number(newest!.newest) - LOST_JOURNAL_MARGIN_MS
  const streams = await (
    await client.query({
      query: `SELECT DISTINCT stream_id FROM events
              WHERE received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`,
      query_params: { from },
      format: 'JSONCompactEachRow',
    })
  ).json<[string]>()
  return { streams: streams.map(([stream]) => stream), from, to: now }
}

/**
 * Makes the rollups of suspect commits' streams agree with their raw events again:
 * compares each stream's totals as the rollups hold them with the same totals computed
 * from `events`; only streams that differ are rebuilt (their grains 1–5 deleted and
 * written again from every event of the stream). Must not run beside an INSERT, nor while
 * acknowledged commits owe their rollups (the writer runs it in place of a commit, once
 * those are written): then every stored event is on both sides of the comparison or on
 * neither. Returns the rebuilt streams with the ts range (epoch
 * ms) of their events.
 */
export async function rebuildRollups(
  client: ClickHouseClient,
  suspect: SuspectCommit,
): Promise<Map<string, { from: number; to: number }>> {
  const { streams } = suspect
  const repaired = new Map<string, { from: number; to: number }>()
  if (streams.length === 0) return repaired
  const read = async <T>(query: string) =>
    (await client.query({ query, query_params: { streams }, format: 'JSONEachRow' })).json<T>()
  const fromEvents = await read<{
    stream_id: string
    facts: string
    from_ms: number | string
    to_ms: number | string
  }>(FACTS_FROM_EVENTS)
  const rolled = new Map(
    (await read<{ stream_id: string; facts: string }>(FACTS_FROM_ROLLUPS)).map((r) => [r.stream_id, r.facts]),
  )
  for (const row of fromEvents) {
    if (rolled.get(row.stream_id) !== row.facts) {
      repaired.set(row.stream_id, { from: Number(row.from_ms), to: Number(row.to_ms) })
    }
  }
  if (repaired.size === 0) return repaired
  const broken = [...repaired.keys()]
  await client.command({
    query: 'DELETE FROM rollups WHERE grain IN (1, 2, 3, 4, 5) AND stream_id IN {streams:Array(String)}',
    query_params: { streams: broken },
  })
  // The totals (grain 3) last and on their own: until they are written the streams compare
  // different, so a rebuild cut short (a kill, a large rebuild landing in several parts) is
  // done again from the start.
  await client.command({ query: REBUILD_STREAMS, query_params: { streams: broken, grains: [1, 2, 4, 5] } })
  await client.command({ query: REBUILD_STREAMS, query_params: { streams: broken, grains: [3] } })
  return repaired
}
