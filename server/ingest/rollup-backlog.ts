import type { EventRow } from '../schemas/event.ts'
import type { SuspectCommit } from './repair.ts'

/**
 * The rollups of acknowledged commits are written at once while no commit runs or waits;
 * under load, those of several commits are gathered for up to this long (ms) after the
 * oldest was acknowledged, so that the rollup view's fixed cost per INSERT (~9 ms here,
 * whatever its rows) is paid once for them. Reads wait for them (`caughtUp`); the live
 * push hears of a commit once they are written: this bounds that delay under load.
 */
export const ROLLUPS_GATHER_MS = 150

/** An acknowledged commit whose rollups are not written yet. */
export interface RollupDebt {
  /** Its stored rows, as sent to `events`. */
  rows: string
  events: number
  /** Per stream, the ts range of its events (for the live push's notice). */
  streams: Map<string, { from: number; to: number }>
  /**
   * The event_ids it stored: the event_id look-up reads them once its rollups are written
   * (migration 008); until then a request repeating one is told so from here (`owedIds`).
   */
  ids: Set<string>
  /** The order_ids it stored (not those of its duplicates): a request repeating one waits. */
  orders: Set<string>
  /** Kept in the journal until its rollups are written. */
  suspect: SuspectCommit
  /** When it became owed (performance.now()). */
  at: number
}

/** What the backlog needs of the writer it serves. */
export interface BacklogHost {
  /** A commit runs or requests wait for one: gather rather than write at once. */
  busy(): boolean
  /** Closing: write what is owed without gathering. */
  closing(): boolean
  /** Writes these debts' rollups, in one INSERT. */
  write(debts: RollupDebt[]): Promise<void>
  /**
   * A write ended (`failure` when it failed). The debts no longer count as owed when this
   * is called: reads, the journal and the order check stop seeing them in the same turn.
   */
  written(debts: RollupDebt[], failure?: { error: unknown }): void
  /** Requests held for an order of these debts (see `holdsOrderOf`) may go now. */
  released(): void
  onError(error: unknown): void
}

/**
 * The rollups owed by acknowledged commits (migration 007): a commit stores its events,
 * is answered, and adds a debt here; the debts are written in order, one write at a time,
 * gathered under load (ROLLUPS_GATHER_MS) and at once when something waits for them.
 */
export class RollupBacklog {
  /** Owed and not being written, oldest first. */
  private owed: (RollupDebt & Settled)[] = []
  /** Being written now, and the write. */
  private rolling: { debts: (RollupDebt & Settled)[]; done: Promise<void> } | undefined
  private timer: NodeJS.Timeout | undefined
  /** Someone waits for the debts (a read, a repair, a held order): write without gathering. */
  private hurry = false
  /** A request is held for an order of a debt: tell the host when a write ends. */
  private ordersHeld = false

  constructor(private readonly host: BacklogHost) {}

  /** Every debt not yet written: being written, then owed. */
  debts(): readonly (RollupDebt & Settled)[] {
    return this.rolling ? [...this.rolling.debts, ...this.owed] : this.owed
  }

  /** Events of those debts. */
  get events(): number {
    return this.debts().reduce((sum, debt) => sum + debt.events, 0)
  }

  /** Something is owed or being written. */
  get pending(): boolean {
    return this.rolling !== undefined || this.owed.length > 0
  }

  /** The write in flight, if any. */
  get writing(): Promise<void> | undefined {
    return this.rolling?.done
  }

  add(debt: RollupDebt): void {
    let settle!: () => void
    const written = new Promise<void>((resolve) => {
      settle = resolve
    })
    this.owed.push({ ...debt, written, settle })
  }

  /**
   * Resolves once every debt owed at the call is written, or its write failed (then the
   * writer's repair owes it), and has them written now. At once when nothing is owed.
   */
  async caughtUp(): Promise<void> {
    // (the debts owed now: what is added later is not waited for)
    const debts = [...this.debts()]
    if (debts.length === 0) return
    this.hurry = true
    this.kick()
    await Promise.all(debts.map((debt) => debt.written))
  }

  /**
   * Is this event_id stored by a debt owed now (being written or not)? What the event_id
   * look-up cannot see yet. Asked before that look-up: a debt whose write ends meanwhile
   * has put its ids where the look-up reads (a failed write is the writer's to catch).
   */
  owedIds(): (eventId: string) => boolean {
    const debts = this.debts()
    if (debts.length === 0) return () => false
    return (eventId) => debts.some((debt) => debt.ids.has(eventId))
  }

  /**
   * Does a request repeat an order of a debt? The order look-up reads accepted orders from
   * the rollups, so such a request waits for them: this has them written now, and tells the
   * host (`released`) when a write has ended.
   */
  holdsOrderOf(events: readonly EventRow[]): boolean {
    const debts = this.debts()
    if (debts.length === 0) return false
    const owed = this.owedIds()
    for (const event of events) {
      if (event.type !== 'order_paid') continue
      if (!debts.some((debt) => debt.orders.has(event.order_id))) continue
      // (a retry of a debt's own order_paid is a duplicate by its event_id, known from here)
      if (owed(event.event_id)) continue
      this.ordersHeld = true
      this.hurry = true
      this.kick()
      return true
    }
    return false
  }

  /** Starts writing the owed debts, unless a write runs or they are being gathered. */
  kick(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.rolling || this.owed.length === 0) return
    // (a commit's end calls this again)
    const wait = this.owed[0]!.at + ROLLUPS_GATHER_MS - performance.now()
    if (this.host.busy() && wait > 0 && !this.hurry && !this.host.closing()) {
      this.timer = setTimeout(() => this.kick(), wait)
      return
    }
    this.hurry = false
    const debts = this.owed
    this.owed = []
    const rolling = { debts, done: Promise.resolve() }
    this.rolling = rolling
    rolling.done = (async () => {
      let failure: { error: unknown } | undefined
      try {
        await this.host.write(debts)
      } catch (error) {
        failure = { error }
      }
      rolling.debts = []
      try {
        this.host.written(debts, failure)
      } catch (error) {
        this.host.onError(error)
      }
      this.rolling = undefined
      for (const debt of debts) debt.settle()
      if (this.ordersHeld) {
        this.ordersHeld = false
        this.host.released()
      }
      this.kick()
    })()
  }
}

interface Settled {
  /** Settles when its rollups are written, or their write failed and the repair owes them. */
  written: Promise<void>
  settle: () => void
}
