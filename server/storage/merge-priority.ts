import { readdirSync, readFileSync } from 'node:fs'
import { setPriority } from 'node:os'

/**
 * The names the embedded engine gives the threads of its merge and mutation pool (those
 * that ClickHouse's own `os_threads_nice_value_merge_mutate` server setting lowers). Not that
 * setting: chDB's client connection passes no engine arguments, and given to a chDB
 * session at connect (`connectionArgs`) it is read (system.server_settings shows it) but
 * leaves the merge threads at nice 0 (measured, chDB 3.4). So Livewall does it from the
 * process.
 */
const MERGE_THREAD = /^MergeMutate/

/** The merge threads' nice value by default, where it can be given back (`canRestorePriority`). */
export const DEFAULT_MERGE_NICE = 10

/** How often new threads are looked for: the pool starts threads as merges need them. */
const SCAN_MS = 2000

/**
 * Merges fall behind when the most active parts in one partition of any table reach this:
 * lowered merges get their priority back until the count is down to half. Measured here
 * with merges lowered (BENCHMARKS.md, session 22): at most 39 in a bench:ingest run, and
 * at most 36 held at 130 000 events/s for three minutes. Four times that, and far below
 * where ClickHouse itself starts to delay INSERTs (`parts_to_delay_insert`, 1 000).
 */
export const MERGES_BEHIND_AT_PARTS = 150

/** The most active parts in one partition of any table of the current database. */
export const MAX_PARTS_PER_PARTITION_SQL = `SELECT max(parts) AS parts FROM (
  SELECT count() AS parts FROM system.parts
  WHERE active AND database = currentDatabase() GROUP BY table, partition_id)`

/**
 * Can this process give a thread back the priority it lowered? Lowering a nice value needs
 * CAP_SYS_NICE, or an RLIMIT_NICE soft limit of 20 or more (Linux, getpriority(2)).
 */
export function canRestorePriority(): boolean {
  try {
    const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    if (effective && (BigInt(`0x${effective}`) >> CAP_SYS_NICE) & 1n) return true
    const soft = /^Max nice priority\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
    return soft !== undefined && Number(soft) >= 20
  } catch {
    return false // (no /proc: not Linux)
  }
}
const CAP_SYS_NICE = 23n

export interface MergePriorityOptions {
  /** The nice value of merge threads while merges keep up. */
  nice: number
  /**
   * Given back the process's priority while merges fall behind (`partCount` at
   * MERGES_BEHIND_AT_PARTS). Needs `canRestorePriority()`; without, lowered for good.
   */
  adaptive: boolean
  /** The most active parts in one partition (MAX_PARTS_PER_PARTITION_SQL). */
  partCount: () => Promise<number>
  /** Merges went from lowered to their own priority or back, with the count that decided. */
  onChange: (change: { lowered: boolean; parts: number }) => void
  onError: (error: unknown) => void
  /** How often threads and the part count are looked at (ms). */
  everyMs?: number
}

/** What `lowerMergePriority` is doing, and its end. */
export interface MergePriority {
  /** Merge threads are at `nice` now (false while merges catch up). */
  readonly lowered: boolean
  /** The part count as last read (NaN before the first, or when not `adaptive`). */
  readonly parts: number
  /** Stops; `adaptive`, gives the threads back the process's priority. */
  stop(): void
}

/**
 * Runs the embedded engine's merge threads at `nice` (Linux; elsewhere nothing happens)
 * while merges keep up, until `stop` is called.
 *
 * Why: merges are background work that can wait a moment; acknowledgements cannot. On a
 * small machine a merge of a few large parts takes a whole core for seconds, and a commit
 * running beside it takes up to twice as long. At a lower priority the merges get the CPU
 * the commits leave, and still all of it when ingest is idle. Measured (BENCHMARKS.md,
 * sessions 17 and 22), half-rate ack p99 in alternated runs: 65.9–68.8 ms at nice 10
 * against 77.2–96.3 without. The other side: held near capacity for minutes, lowered
 * merges starved, parts piled up, and commits and dedup look-ups slowed with them (p50
 * 0.7–1.6 s by the third minute at 130 000 events/s, against 0.1–0.2 s). So, `adaptive`,
 * the merges get their priority back while the part count says they fall behind; a process
 * that could not give it back lowers them only when asked (`LIVEWALL_MERGE_NICE`).
 *
 * Threads are matched by name in /proc/self/task, again at every look (a thread that takes
 * another name, as a pool thread may take other work, gets its priority back, which needs
 * the same privilege: without it such a thread stays low, said once in the log).
 */
export function lowerMergePriority(options: MergePriorityOptions): MergePriority {
  const { nice, adaptive, partCount, onChange, onError } = options
  // Thread id -> the nice value set on it (absent: the process's own, 0).
  const set = new Map<string, number>()
  let lowered = true
  let parts = Number.NaN
  let stopped = false
  let failed = false
  const apply = (task: string, value: number) => {
    try {
      setPriority(Number(task), value)
    } catch (error) {
      // (ended meanwhile, or not allowed: said once, the others would fail the same way)
      if (!failed && (error as NodeJS.ErrnoException).code !== 'ESRCH') {
        failed = true
        onError(error)
      }
      // (a lowering is tried again at the next look; a thread that cannot be given its
      // priority back is let go, not tried every 2 s)
      if (value !== 0) return
    }
    if (value === 0) set.delete(task)
    else set.set(task, value)
  }
  const scan = () => {
    let tasks: string[]
    try {
      tasks = readdirSync('/proc/self/task')
    } catch {
      stop() // (no /proc: not Linux)
      return
    }
    const present = new Set(tasks)
    for (const task of set.keys()) if (!present.has(task)) set.delete(task)
    const wanted = lowered ? nice : 0
    for (const task of tasks) {
      let name: string
      try {
        name = readFileSync(`/proc/self/task/${task}/comm`, 'utf8')
      } catch {
        continue // (ended meanwhile)
      }
      const value = MERGE_THREAD.test(name) ? wanted : 0
      if ((set.get(task) ?? 0) !== value) apply(task, value)
    }
  }
  // Whether merges keep up, from the part count (hysteresis: back down to half to lower again).
  let unread = false
  let looking = false
  const look = async () => {
    // (one look at a time: a part count slower than the interval must not pile up)
    if (looking) return
    looking = true
    try {
      await lookOnce()
    } finally {
      looking = false
    }
  }
  const lookOnce = async () => {
    if (adaptive) {
      try {
        parts = await partCount()
        unread = false
        const next = lowered ? parts < MERGES_BEHIND_AT_PARTS : parts <= MERGES_BEHIND_AT_PARTS / 2
        if (next !== lowered && !stopped) {
          lowered = next
          onChange({ lowered, parts })
        }
      } catch (error) {
        // (storage unreachable: the threads keep what they have; the next look tries again)
        if (!unread) onError(error)
        unread = true
      }
    }
    if (!stopped) scan()
  }
  const timer = setInterval(() => void look(), options.everyMs ?? SCAN_MS)
  timer.unref()
  const stop = () => {
    if (stopped) return
    stopped = true
    clearInterval(timer)
    // (the engine may outlive the server in this process, as in tests: give back what was set)
    if (adaptive) for (const task of [...set.keys()]) apply(task, 0)
  }
  scan()
  return {
    get lowered() {
      return lowered
    },
    get parts() {
      return parts
    },
    stop,
  }
}
