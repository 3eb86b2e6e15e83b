/**
 * Request bodies are held in memory until their request is answered. They are bounded all
 * together (INGEST_MAX_INFLIGHT_MB) and per ingest key, so that one key whose uploads hang
 * (a buggy producer, or a hostile one trickling bytes) cannot lock every other key out.
 *
 * A key's share is the budget divided among the configured keys: the shares add up to the
 * budget, so a key within its share is never refused for another key's bodies. Its floor is
 * one body of the largest size (and at most the budget), so with many keys each can still
 * send one; then the shares overlap and only the whole budget bounds them. With one key the
 * share is the whole budget.
 */
/** The bound a body would pass: its key's share, or the whole server's budget. */
export type InflightRefusal = 'key' | 'server'

export class InflightBudget {
  /** Bytes charged now, all keys together. */
  bytes = 0
  readonly perKeyBytes: number
  private readonly byKey = new Map<string, number>()

  constructor(
    readonly maxBytes: number,
    keys: number,
    maxBodyBytes: number,
  ) {
    this.perKeyBytes = Math.max(Math.floor(maxBytes / Math.max(1, keys)), Math.min(maxBodyBytes, maxBytes))
  }

  /** A charge, of nothing yet, for a body of `keyId`. */
  open(keyId: string): InflightCharge {
    return new InflightCharge(this, keyId)
  }

  /** Bytes charged now to `keyId`. */
  keyBytes(keyId: string): number {
    return this.byKey.get(keyId) ?? 0
  }

  /**
   * Which bound `bytes` more would pass for a body of `keyId` that holds `own` already, if
   * any. A body alone (in the budget, or in its key's share) always fits, as one body over a
   * small budget must still go through.
   */
  refusal(keyId: string, own: number, bytes: number): InflightRefusal | undefined {
    const key = this.keyBytes(keyId)
    if (key > own && key + bytes > this.perKeyBytes) return 'key'
    if (this.bytes > own && this.bytes + bytes > this.maxBytes) return 'server'
    return undefined
  }

  add(keyId: string, bytes: number): void {
    this.bytes += bytes
    const key = this.keyBytes(keyId) + bytes
    if (key === 0) this.byKey.delete(keyId)
    else this.byKey.set(keyId, key)
  }
}

/** The bytes one request body holds in the budget, until released. */
export class InflightCharge {
  bytes = 0
  private released = false

  constructor(
    private readonly budget: InflightBudget,
    private readonly keyId: string,
  ) {}

  /** Charges `bytes` more; or, when they do not fit, charges nothing and says which bound refused. */
  grow(bytes: number): InflightRefusal | undefined {
    // (a request already answered keeps nothing more)
    if (this.released) return 'server'
    const refusal = this.budget.refusal(this.keyId, this.bytes, bytes)
    if (refusal) return refusal
    this.budget.add(this.keyId, bytes)
    this.bytes += bytes
    return undefined
  }

  /** Gives every byte back; once. */
  release(): void {
    if (this.released) return
    this.released = true
    this.budget.add(this.keyId, -this.bytes)
  }
}
