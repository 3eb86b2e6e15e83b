/**
 * One read token's share of the engine over HTTP. The embedded engine runs one statement at a
 * time, in turn: a token sending 16 heavy /series reads at once put all of them ahead of every
 * other reader. Each token may have `inFlight` reads running, so another reader's statement
 * waits behind at most that many of its; the next `waiting` wait for a slot in order; beyond
 * that a read is refused (429), not queued. (Socket commands are not
 * counted: a wall of screens sharing one token reconnects all at once, a socket runs its own
 * commands one at a time, and their reads are shared: SnapshotBatcher, the wall's last read.)
 */
export class ReadGate {
  private readonly tokens = new Map<string, { running: number; queue: (() => void)[] }>()

  /** The most reads one token had running at once (a bound the tests check). */
  peak = 0

  /**
   * `waiting` is large: a script that asks for 500 streams' series at once is served in turn,
   * not refused; what it holds meanwhile is a parked request, not engine work.
   */
  constructor(
    readonly inFlight = 8,
    readonly waiting = 1000,
  ) {}

  /**
   * Resolves with the release of a slot for `key` (call it once, when the read is done), or
   * with undefined at once when `waiting` reads of that key already wait.
   */
  acquire(key: string): Promise<(() => void) | undefined> {
    let token = this.tokens.get(key)
    if (!token) {
      token = { running: 0, queue: [] }
      this.tokens.set(key, token)
    }
    const entry = token
    let released = false
    const release = () => {
      if (released) return
      released = true
      const next = entry.queue.shift()
      if (next) next()
      else if (--entry.running === 0) this.tokens.delete(key)
    }
    if (entry.running < this.inFlight) {
      entry.running++
      this.peak = Math.max(this.peak, entry.running)
      return Promise.resolve(release)
    }
    if (entry.queue.length >= this.waiting) return Promise.resolve(undefined)
    // (a slot handed over keeps `running` as it is: the releaser's becomes this one's)
    return new Promise((resolve) => entry.queue.push(() => resolve(release)))
  }

  /** Reads of `key` waiting for a slot. */
  waitingFor(key: string): number {
    return this.tokens.get(key)?.queue.length ?? 0
  }

  /** Tokens with reads running (for tests and /metrics). */
  get size(): number {
    return this.tokens.size
  }
}
