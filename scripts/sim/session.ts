// One live-shopping session: its plan (who, what, when, how big) and its running state
// (who is watching, which product is pinned, whether a flash sale is on).

import { FLASH, SESSION, VERTICALS, type Vertical, type VerticalModel, VIEWER } from './catalog.ts'
import type { Rng } from './rng.ts'

export interface Product {
  productId: string
  priceCents: number
  /** relative popularity within the session */
  weight: number
}

export interface SessionPlan {
  streamId: string
  creatorId: string
  vertical: Vertical
  title: string
  campaignId: string | null
  startAt: number
  endAt: number
  /** audience at the plateau, before viral and flash-sale multipliers */
  peakAudience: number
  viral: { at: number; multiplier: number } | null
  products: readonly Product[]
  /** live slot this session fills (a new session follows it), null for backfill */
  slot: number | null
  /** phase of the slow audience wobble, radians */
  wobblePhase: number
}

/** Sampled actions of a session, in the order of `Session.weights`. */
export const ACTIONS = [
  'view_start',
  'view_end',
  'product_impression',
  'product_click',
  'comment',
  'like',
  'share',
  'follow',
] as const
export type Action = (typeof ACTIONS)[number]

const LEAVERS_KEPT = 512

function smoothstep(x: number): number {
  const c = Math.min(1, Math.max(0, x))
  return c * c * (3 - 2 * c)
}

export class Session {
  readonly plan: SessionPlan
  readonly model: VerticalModel
  started = false
  ended = false
  pinned = 0
  /** rate of each of `ACTIONS`, filled by `weights` */
  readonly rates = new Float64Array(ACTIONS.length)
  /** the product on flash sale and until when, or null */
  flashSale: { productIndex: number; until: number } | null = null
  private readonly online: string[] = []
  private readonly onlineIndex = new Map<string, number>()
  /** Online viewers whose intent to buy is not 1. */
  private readonly intents = new Map<string, number>()
  /** recent viewers who left, for rejoins (bounded ring) */
  private readonly leavers: string[] = []
  private leaverPos = 0
  private readonly productWeights: (readonly [number, number])[]

  constructor(plan: SessionPlan) {
    this.plan = plan
    this.model = VERTICALS[plan.vertical]
    this.productWeights = plan.products.map((p, i) => [i, p.weight] as const)
  }

  get streamId(): string {
    return this.plan.streamId
  }

  get onlineCount(): number {
    return this.online.length
  }

  isFlashSale(t: number): boolean {
    return this.flashSale !== null && t < this.flashSale.until
  }

  /** Audience the session is heading for at time t: ramp up, plateau, decay, viral surge, sale bump. */
  targetAudience(t: number): number {
    const { startAt, endAt, peakAudience, viral, wobblePhase } = this.plan
    const u = t - startAt
    const d = endAt - startAt
    if (u < 0 || u >= d) return 0
    const ramp = Math.min(300_000, Math.max(60_000, 0.08 * d))
    const decay = Math.min(720_000, Math.max(120_000, 0.2 * d))
    let shape = 1
    if (u < ramp) shape = 0.08 + 0.92 * smoothstep(u / ramp)
    else if (u > d - decay) shape = 0.12 + 0.88 * (1 - smoothstep((u - (d - decay)) / decay))
    const wobble = 1 + 0.08 * Math.sin((2 * Math.PI * u) / 420_000 + wobblePhase)
    const surge = viral ? 1 + (viral.multiplier - 1) * smoothstep((t - viral.at) / 120_000) : 1
    const sale = this.isFlashSale(t) ? FLASH.audience : 1
    return peakAudience * shape * wobble * surge * sale
  }

  /** Fills `rates` with the rate of each of `ACTIONS` at time t (events per model second); returns their sum. */
  weights(t: number): number {
    const out = this.rates
    const n = this.online.length
    const gap = this.targetAudience(t) - n
    const churn = n / VIEWER.meanWatchSeconds
    const sale = this.isFlashSale(t)
    const impressions = n * VIEWER.impressionsPerSecond * (sale ? FLASH.impressions : 1)
    out[0] = churn + Math.max(0, gap) * VIEWER.audienceGain
    out[1] = churn + Math.max(0, -gap) * VIEWER.audienceGain
    out[2] = impressions
    out[3] = impressions * this.model.ctr * (sale ? FLASH.ctr : 1)
    out[4] = n * VIEWER.commentsPerSecond * (sale ? FLASH.comments : 1)
    out[5] = n * VIEWER.likesPerSecond
    out[6] = n * VIEWER.sharesPerSecond
    out[7] = n * VIEWER.followsPerSecond
    let total = 0
    for (let i = 0; i < ACTIONS.length; i++) total += out[i] as number
    return total
  }

  isOnline(viewerId: string): boolean {
    return this.onlineIndex.has(viewerId)
  }

  /** `intent`: how readily this viewer buys, from the source they came through (catalog). */
  join(viewerId: string, intent = 1): void {
    if (this.onlineIndex.has(viewerId)) return
    this.onlineIndex.set(viewerId, this.online.length)
    this.online.push(viewerId)
    if (intent !== 1) this.intents.set(viewerId, intent)
  }

  intentOf(viewerId: string): number {
    return this.intents.get(viewerId) ?? 1
  }

  /** Removes a random online viewer and returns them, or undefined when nobody watches. */
  leaveRandom(rng: Rng): string | undefined {
    if (this.online.length === 0) return undefined
    const viewerId = this.randomOnline(rng) as string
    this.leave(viewerId)
    return viewerId
  }

  /** Everyone still watching, emptying the room (the stream ends). */
  leaveAll(): string[] {
    const all = this.online.splice(0)
    this.onlineIndex.clear()
    this.intents.clear()
    return all
  }

  randomOnline(rng: Rng): string | undefined {
    if (this.online.length === 0) return undefined
    return this.online[Math.floor(rng.next() * this.online.length)]
  }

  /** A viewer who left earlier and is not watching now, if any. */
  randomLeaver(rng: Rng): string | undefined {
    if (this.leavers.length === 0) return undefined
    const viewerId = this.leavers[Math.floor(rng.next() * this.leavers.length)] as string
    return this.onlineIndex.has(viewerId) ? undefined : viewerId
  }

  /** A product for an impression or click: the pinned one (or the sale item) most of the time. */
  pickProduct(rng: Rng, t: number): number {
    const sale = this.isFlashSale(t) ? this.flashSale : null
    if (sale) return rng.chance(0.75) ? sale.productIndex : rng.weighted(this.productWeights)
    return rng.chance(SESSION.pinnedShare) ? this.pinned : rng.weighted(this.productWeights)
  }

  /** Price a viewer pays per unit when adding to cart at time t. */
  unitPriceCents(productIndex: number, t: number): number {
    const list = this.plan.products[productIndex]?.priceCents ?? 0
    if (this.isFlashSale(t) && this.flashSale?.productIndex === productIndex) {
      return Math.round((list * (100 - SESSION.flashDiscountPercent)) / 100)
    }
    return list
  }

  productId(productIndex: number): string {
    const product = this.plan.products[productIndex]
    if (!product) throw new RangeError(`no product ${productIndex} in ${this.streamId}`)
    return product.productId
  }

  randomProductIndex(rng: Rng): number {
    return rng.weighted(this.productWeights)
  }

  private leave(viewerId: string): void {
    const index = this.onlineIndex.get(viewerId)
    if (index === undefined) return
    const last = this.online.pop() as string
    if (index < this.online.length) {
      this.online[index] = last
      this.onlineIndex.set(last, index)
    }
    this.onlineIndex.delete(viewerId)
    this.intents.delete(viewerId)
    if (this.leavers.length < LEAVERS_KEPT) this.leavers.push(viewerId)
    else {
      this.leavers[this.leaverPos] = viewerId
      this.leaverPos = (this.leaverPos + 1) % LEAVERS_KEPT
    }
  }
}
