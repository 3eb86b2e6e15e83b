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

/** How often new threads are looked for: the pool starts threads as merges need them. */
const SCAN_MS = 2000

/**
 * Runs the embedded engine's merge threads at `nice` (Linux; elsewhere nothing happens)
 * until the returned function is called.
 *
 * Why: merges are background work that can wait a moment; acknowledgements cannot. On a
 * small machine a merge of a few large parts takes a whole core for seconds, and a commit
 * running beside it takes up to twice as long. At a lower priority the merges get the CPU
 * the commits leave, and still all of it when ingest is idle. Measured (BENCHMARKS.md,
 * session 17), ack p99 at 80 000 events/s in alternated runs: 101.7 and 116.0 ms at nice
 * 10, 126.0 and 147.4 ms without (and 73–119 ms at nice 19 against 98–171 ms without in
 * five pairs). The other side: held near capacity for minutes, merges starved, parts piled
 * up, and commits and dedup look-ups slowed with them (p50 0.7–1.6 s by the third minute at
 * 130 000 events/s, against 0.1–0.2 s). So it is asked for (LIVEWALL_MERGE_NICE), not done
 * by default.
 *
 * Threads are matched by name in /proc/self/task, again at every look (a thread that takes
 * another name, as a pool thread may take other work, gets its priority back). Raising a
 * thread's nice value needs no privilege; giving it back does (CAP_SYS_NICE), and without
 * it such a thread stays low: said once in the log.
 */
export function lowerMergePriority(nice: number, onError: (error: unknown) => void): () => void {
  // Thread ids set to `nice`.
  const lowered = new Set<string>()
  let failed = false
  const set = (task: string, value: number) => {
    try {
      setPriority(Number(task), value)
      return true
    } catch (error) {
      // (ended meanwhile, or not allowed: said once, the others would fail the same way)
      if (!failed && (error as NodeJS.ErrnoException).code !== 'ESRCH') {
        failed = true
        onError(error)
      }
      return false
    }
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
    for (const task of lowered) if (!present.has(task)) lowered.delete(task)
    for (const task of tasks) {
      let name: string
      try {
        name = readFileSync(`/proc/self/task/${task}/comm`, 'utf8')
      } catch {
        continue // (ended meanwhile)
      }
      const merging = MERGE_THREAD.test(name)
      if (merging && !lowered.has(task)) {
        if (set(task, nice)) lowered.add(task)
      } else if (!merging && lowered.has(task)) {
        lowered.delete(task)
        set(task, 0)
      }
    }
  }
  const timer = setInterval(scan, SCAN_MS)
  timer.unref()
  const stop = () => clearInterval(timer)
  scan()
  return stop
}
