/**
 * "Have I seen this id?" for a sliding time window, in bounded memory: a ring of Bloom
 * filters, each covering one slice of the window, or less when it filled early (`rotate`). `mightContain` never says no for an
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
  /**
   * The newest generation's false-positive rate at which the ids go on in a new one when
   * the ring has room (see `rotate`): ROTATE_AT_FALSE_POSITIVES unless given (1: never
   * before its slice has passed).
   */
  rotateAt?: number
  now: () => number
}

/**
 * A generation this full goes on in a new one when the ring has room, before its slice has
 * passed: a thousand-id commit then finds a maybe-seen id in ~1 case of 10 per full
 * generation. Why: time slices alone put a burst (a flash sale, a day's first hours, a
 * benchmark) into one generation while the others stand empty, and a false-positive rate
 * falls steeply with the memory per id: at ~12 bits of a generation per id (about what
 * 12 M ids make of the default memory's) one generation answered "maybe" for ~1 new id in
 * 240, so nearly every commit made a ClickHouse look-up; filled in turn, the same ids in
 * three generations, ~1 in 5 000 (seen-filter.test.ts).
 */
export const ROTATE_AT_FALSE_POSITIVES = 1e-4

/** 512 bits: a 64-byte cache line. */
const BLOCK_WORDS = 16
const BLOCK_MASK = BLOCK_WORDS * 32 - 1
/**
 * The next of an id's bit positions in its block: a 32-bit mix (lowbias32) of the previous
 * one, seeded with the id's second hash. Each position takes fresh bits: with positions
 * `h2 + i * stride` an id had only ~2^17 possible patterns in a block, and a different id
 * with the same pattern was a false positive (measured: 50 per million where theory
 * says none).
 */
function nextBit(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

/** Ids probed together by `mightContainMany`: their blocks (32 KiB) stay in the L2 cache. */
const PROBE_GROUP = 512

interface Generation {
  startMs: number
  bits: Uint32Array
  /** Ids added to it (an id added twice counts twice). */
  added: number
}

export class SeenFilter {
  readonly bitsPerGeneration: number
  private readonly blocks: number
  private readonly sliceMs: number
  private readonly hashes: number
  /** Ids after which the newest generation is full (`rotateAt`). */
  private readonly capacity: number
  private readonly ring: Generation[] = []
  /** Bits of dropped generations, for the next ones (the ring and these: at most `generations`). */
  private readonly spare: Uint32Array[] = []
  /** Scratch of `mightContainMany` (synchronous: one call at a time). */
  private readonly group = { base: new Uint32Array(PROBE_GROUP), seed: new Uint32Array(PROBE_GROUP) }
  /** What `mightContainMany` read ahead, kept so the reads are not optimized away. */
  private sink = 0

  constructor(private readonly options: SeenFilterOptions) {
    // (the ring drops or merges a generation to start the next: one alone would forget its ids)
    if (options.generations < 2) throw new Error('a SeenFilter needs at least 2 generations')
    const words =
      Math.max(1024, Math.floor(options.memoryBytes / options.generations / 4 / BLOCK_WORDS)) * BLOCK_WORDS
    this.blocks = words / BLOCK_WORDS
    this.bitsPerGeneration = words * 32
    this.sliceMs = options.windowMs / Math.max(1, options.generations - 1)
    this.hashes = options.hashes ?? 7
    this.capacity = this.idsAt(options.rotateAt ?? ROTATE_AT_FALSE_POSITIVES)
    this.ring.push({ startMs: options.now(), bits: new Uint32Array(words), added: 0 })
  }

  /** The ids one generation holds when its false-positive rate reaches `rate` (≥ 1: never full). */
  private idsAt(rate: number): number {
    if (rate >= 1) return Number.POSITIVE_INFINITY
    let low = 0
    let high = 1
    while (falsePositiveOf(high, this.hashes) < rate) high *= 2
    for (let i = 0; i < 30; i++) {
      const middle = (low + high) / 2
      if (falsePositiveOf(middle, this.hashes) < rate) low = middle
      else high = middle
    }
    return Math.floor(low * this.blocks)
  }

  /** Generations in the ring now (at most `generations`). */
  get generationsInUse(): number {
    this.rotate()
    return this.ring.length
  }

  get memoryBytes(): number {
    return (this.options.generations * this.bitsPerGeneration) / 8
  }

  /**
   * The expected share of ids never added that `mightContain` answers yes for, from the ids
   * each generation holds now (a model, not a count: see `falsePositiveOf`). It grows as the
   * filters fill; it is the share of new ids that cost the caller a look-up.
   */
  get falsePositiveRate(): number {
    this.rotate()
    return this.falsePositiveAt(1)
  }

  /**
   * How many times its memory this filter would need for `falsePositiveRate` to be `target`
   * with the ids it holds now (1 when it is already at or below it).
   */
  memoryFactorFor(target: number): number {
    this.rotate()
    if (this.falsePositiveAt(1) <= target) return 1
    let low = 1
    let high = 2
    while (this.falsePositiveAt(high) > target && high < 2 ** 20) {
      low = high
      high *= 2
    }
    for (let i = 0; i < 20; i++) {
      const middle = (low + high) / 2
      if (this.falsePositiveAt(middle) > target) low = middle
      else high = middle
    }
    return high
  }

  /** `falsePositiveRate` with `factor` times as many blocks for the same ids. */
  private falsePositiveAt(factor: number): number {
    let none = 1
    for (const { added } of this.ring) {
      none *= 1 - falsePositiveOf(added / (this.blocks * factor), this.hashes)
    }
    return 1 - none
  }

  add(id: string): void {
    this.addMany([id])
  }

  /** Adds every id of `ids`, in groups as `mightContainMany` probes them. */
  addMany(ids: readonly string[]): void {
    this.rotate()
    this.addTo(this.ring[this.ring.length - 1]!, ids)
  }

  /**
   * Adds ids first seen at or before `atMs` (stored ids, as a warm-up loads them) to the
   * generation they would be in had they been added then. Added now, a day of ids would all
   * land in the newest generation, which would then answer yes for most new ids until it
   * aged out (at the README's sizing: ~70 %, for a day). Older generations are made as
   * needed, a slice apart, up to the ring's size. An id goes to the generation covering
   * `atMs` or a newer one, never an older: it is kept for at least its window.
   */
  addManyAt(ids: readonly string[], atMs: number): void {
    this.rotate()
    const ring = this.ring
    while (ring[0]!.startMs > atMs && ring.length < this.options.generations) {
      ring.unshift({
        startMs: ring[0]!.startMs - this.sliceMs,
        bits: this.spare.pop()?.fill(0) ?? new Uint32Array(ring[0]!.bits.length),
        added: 0,
      })
    }
    let index = ring.length - 1
    while (index > 0 && ring[index]!.startMs > atMs) index--
    this.addTo(ring[index]!, ids)
  }

  private addTo(generation: Generation, ids: readonly string[]): void {
    generation.added += ids.length
    const { bits } = generation
    const { base, seed } = this.group
    for (let from = 0; from < ids.length; from += PROBE_GROUP) {
      const size = this.hashGroup(ids, from, [bits])
      for (let k = 0; k < size; k++) {
        for (let i = 0, x = seed[k]!; i < this.hashes; i++) {
          x = nextBit(x)
          const bit = x & BLOCK_MASK
          bits[base[k]! + (bit >>> 5)]! |= 1 << (bit & 31)
        }
      }
    }
  }

  mightContain(id: string): boolean {
    this.rotate()
    const [h1, h2] = hashPair(id)
    const base = this.block(h1)
    for (const { bits } of this.ring) {
      let all = true
      for (let i = 0, x = h2; i < this.hashes && all; i++) {
        x = nextBit(x)
        const bit = x & BLOCK_MASK
        all = (bits[base + (bit >>> 5)]! & (1 << (bit & 31))) !== 0
      }
      if (all) return true
    }
    return false
  }

  /**
   * `out[i] = 1` where `ids[i]` may have been added within the window, else 0. The ids go
   * in groups (see `hashGroup`) and the clock and the ring are looked at once per call.
   * Probed one id after another, each block was a cache miss the CPU waited for in turn
   * (the filters are far larger than the caches). Measured: the precheck of 8 000 events
   * 2.5 → 1.1–1.4 ms; at full ingest rate the probes' share of the server's main thread
   * 4.7 → 2.2 %.
   */
  mightContainMany(ids: readonly string[], out: Uint8Array): void {
    this.rotate()
    const generations = this.ring.map((g) => g.bits)
    const { base, seed } = this.group
    for (let from = 0; from < ids.length; from += PROBE_GROUP) {
      const size = this.hashGroup(ids, from, generations)
      for (let k = 0; k < size; k++) {
        let found = false
        for (let g = 0; g < generations.length && !found; g++) {
          const bits = generations[g]!
          let all = true
          for (let i = 0, x = seed[k]!; i < this.hashes && all; i++) {
            x = nextBit(x)
            const bit = x & BLOCK_MASK
            all = (bits[base[k]! + (bit >>> 5)]! & (1 << (bit & 31))) !== 0
          }
          found = all
        }
        out[from + k] = found ? 1 : 0
      }
    }
  }

  /**
   * Hashes the ids of one group (from `from`) into `group`, then reads one word of each of
   * their blocks in each generation: loads that do not depend on each other, so the CPU
   * fetches the cache lines in parallel. Returns the group's size.
   */
  private hashGroup(ids: readonly string[], from: number, generations: Uint32Array[]): number {
    const { base, seed } = this.group
    const size = Math.min(PROBE_GROUP, ids.length - from)
    for (let k = 0; k < size; k++) {
      const [h1, h2] = hashPair(ids[from + k]!)
      base[k] = this.block(h1)
      seed[k] = h2
    }
    let sink = 0
    for (const bits of generations) for (let k = 0; k < size; k++) sink |= bits[base[k]!]!
    this.sink ^= sink
    return size
  }

  /**
   * First word of the id's block. A blocked Bloom filter: all of an id's bits lie in one
   * 64-byte block, so a probe costs one memory access rather than one per hash — the
   * filters are far larger than the CPU caches, and the seven scattered accesses per id
   * per generation were most of a group commit's dedup time (measured: ~6.5 ms of ~8 per
   * 10 000 events). The price is a slightly higher false-positive rate at equal memory.
   */
  private block(h1: number): number {
    // Scale the 32-bit hash onto the blocks without the bias of a modulo.
    return Math.floor((h1 / 4294967296) * this.blocks) * BLOCK_WORDS
  }

  /**
   * Drops the generations whose ids are all older than the window (a generation ends where
   * the next one starts), and starts a new generation when the newest one's slice has
   * passed, or when it is full and there is room: a generation dropped or never used. A
   * generation is never dropped earlier, so no id is forgotten within its window. When a
   * slice has passed and there is no room (full generations started early fill the ring
   * sooner than slices would), the two neighbours holding the fewest ids become one (their
   * bits OR'ed: the ids of both, kept until the later one's window ends); a full generation
   * with no room goes on filling. The memory stays `generations` generations either way.
   */
  private rotate(): void {
    const now = this.options.now()
    const ring = this.ring
    while (ring.length > 1 && ring[1]!.startMs < now - this.options.windowMs)
      this.spare.push(ring.shift()!.bits)
    const newest = ring[ring.length - 1]!
    const due = now - newest.startMs >= this.sliceMs
    if (!due && newest.added < this.capacity) return
    let bits = this.spare.pop()
    if (!bits && ring.length >= this.options.generations) {
      if (!due) return
      bits = this.mergeSmallestNeighbours()
    }
    ring.push({ startMs: now, bits: bits ? bits.fill(0) : new Uint32Array(newest.bits.length), added: 0 })
  }

  /** Makes the two neighbours holding the fewest ids one generation; returns the bits freed. */
  private mergeSmallestNeighbours(): Uint32Array {
    const ring = this.ring
    let at = 0
    for (let i = 1; i < ring.length - 1; i++) {
      if (ring[i]!.added + ring[i + 1]!.added < ring[at]!.added + ring[at + 1]!.added) at = i
    }
    const [older, newer] = [ring[at]!, ring[at + 1]!]
    for (let w = 0; w < older.bits.length; w++) older.bits[w]! |= newer.bits[w]!
    older.added += newer.added
    ring.splice(at + 1, 1)
    return newer.bits
  }
}

/**
 * The false-positive rate of one blocked generation holding `perBlock` ids per block on
 * average, with `hashes` bit positions per id: ids land in blocks as a Poisson draw, and a
 * probe of a block holding j ids finds its bits set with probability (1 − (1 − 1/512)^(hashes·j))^hashes.
 * (Positions drawn with repeats, as `nextBit`'s are.) Past ~2 000 ids per block every
 * probe is a yes.
 */
export function falsePositiveOf(perBlock: number, hashes: number): number {
  if (perBlock <= 0) return 0
  if (perBlock > 2000) return 1
  const unset = 1 - 1 / (BLOCK_WORDS * 32)
  const spread = 12 * Math.sqrt(perBlock) + 12
  const last = Math.ceil(perBlock + spread)
  let logP = -perBlock // log of the Poisson probability of j ids, from j = 0
  let rate = 0
  for (let j = 0; j <= last; j++) {
    if (j > 0) logP += Math.log(perBlock / j)
    if (j >= perBlock - spread) rate += Math.exp(logP) * (1 - unset ** (hashes * j)) ** hashes
  }
  return Math.min(1, rate)
}

/**
 * Two independent 32-bit hashes (FNV-1a, finalized, and a murmur3-style mix): the first
 * picks the block, the second seeds the walk of bit positions (`nextBit`). The seed is
 * odd, never 0: 0 is the mix's fixed point, which would put every bit on position 0.
 */
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
  // FNV-1a's high bits barely change between ids that differ in their last characters
  // (run-1, run-2, ...), and they pick the block: mix them (murmur3's finalizer).
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b)
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35)
  a ^= a >>> 16
  return [a >>> 0, (b | 1) >>> 0]
}
