/**
 * "Have I seen this id?" for a sliding time window, in bounded memory: a ring of Bloom
 * filters, each covering one slice of the window. `mightContain` never says no for an
 * id added within the window; it may say yes for an id never added (a false positive),
 * and the caller then asks ClickHouse. The memory is fixed at construction whatever the
 * traffic: more ids than the filter was sized for only raise the false-positive rate,
 * that is the share of ids that cost a ClickHouse look-up, never the answer.
 */
export interface SeenFilterOptions {
  windowMs: number
  /** Bloom filters in the ring; the window is covered by generations − 1 full slices. */
  generations: number
  memoryBytes: number
  hashes?: number
  now: () => number
}

interface Generation {
  startMs: number
  bits: Uint32Array
}

export class SeenFilter {
  readonly bitsPerGeneration: number
  private readonly sliceMs: number
  private readonly hashes: number
  private readonly ring: Generation[] = []

  constructor(private readonly options: SeenFilterOptions) {
    const words = Math.max(1024, Math.floor(options.memoryBytes / options.generations / 4))
    this.bitsPerGeneration = words * 32
    this.sliceMs = options.windowMs / Math.max(1, options.generations - 1)
    this.hashes = options.hashes ?? 7
    this.ring.push({ startMs: options.now(), bits: new Uint32Array(words) })
  }

  get memoryBytes(): number {
    return (this.options.generations * this.bitsPerGeneration) / 8
  }

  add(id: string): void {
    this.rotate()
    const bits = this.ring[this.ring.length - 1]!.bits
    const [h1, h2] = hashPair(id)
    for (let i = 0; i < this.hashes; i++) {
      const bit = this.position(h1, h2, i)
      bits[bit >>> 5]! |= 1 << (bit & 31)
    }
  }

  mightContain(id: string): boolean {
    this.rotate()
    const [h1, h2] = hashPair(id)
    for (const { bits } of this.ring) {
      let all = true
      for (let i = 0; i < this.hashes && all; i++) {
        const bit = this.position(h1, h2, i)
        all = (bits[bit >>> 5]! & (1 << (bit & 31))) !== 0
      }
      if (all) return true
    }
    return false
  }

  private position(h1: number, h2: number, i: number): number {
    const h = (h1 + Math.imul(i, h2)) >>> 0
    // Scale the 32-bit hash onto [0, bits) without the bias of a modulo.
    return Math.floor((h / 4294967296) * this.bitsPerGeneration)
  }

  private rotate(): void {
    const now = this.options.now()
    const newest = this.ring[this.ring.length - 1]!
    if (now - newest.startMs < this.sliceMs) return
    const reused = this.ring.length >= this.options.generations ? this.ring.shift()! : undefined
    const bits = reused ? reused.bits.fill(0) : new Uint32Array(newest.bits.length)
    this.ring.push({ startMs: now, bits })
  }
}

/** Two independent 32-bit hashes (FNV-1a and a murmur3-style mix) for double hashing. */
function hashPair(s: string): [number, number] {
  let a = 0x811c9dc5
  let b = 0x9747b28c
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
    b ^= b >>> 15
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35)
  b ^= b >>> 16
  return [a >>> 0, (b | 1) >>> 0]
}
