// Session plans: which creator streams what, when, for how long, to how many viewers.

import { CAMPAIGNS, CREATORS, type Creator, SESSION, VERTICALS, type Vertical } from './catalog.ts'
import type { Rng } from './rng.ts'
import type { Product, SessionPlan } from './session.ts'

const MINUTE = 60_000

export interface PlanRequest {
  streamId: string
  creator: Creator
  startAt: number
  minutes: readonly [number, number]
  /** audience at the plateau before multipliers (the model's median) */
  audience: number
  slot: number | null
  forceViral?: boolean
}

/**
 * Creators in a seed-dependent order: one of each vertical first, then verticals mixed by
 * their share (so 4 streams are not all Fashion). Live slot k and backfill session k share
 * creator k, so creators have several streams.
 */
export function creatorLineup(rng: Rng): Creator[] {
  const pools = new Map<Vertical, Creator[]>()
  for (const creator of rng.shuffle(CREATORS)) {
    pools.set(creator.vertical, [...(pools.get(creator.vertical) ?? []), creator])
  }
  const lineup: Creator[] = rng
    .shuffle([...pools.keys()])
    .map((v) => (pools.get(v) as Creator[]).shift() as Creator)
  while (lineup.length < CREATORS.length) {
    const open = [...pools].filter(([, pool]) => pool.length > 0)
    const vertical = rng.weighted(open.map(([v]) => [v, VERTICALS[v].share] as const))
    lineup.push((pools.get(vertical) as Creator[]).shift() as Creator)
  }
  return lineup
}

export function planSession(rng: Rng, request: PlanRequest): SessionPlan {
  const { streamId, creator, startAt, minutes, audience, slot } = request
  const model = VERTICALS[creator.vertical]
  const durationMs = Math.round(rng.uniform(minutes[0], minutes[1]) * MINUTE)
  const endAt = startAt + durationMs
  const products: Product[] = []
  const productCount = rng.int(model.products[0], model.products[1])
  // Readable ids, as a shop's own would be (a pin reads "Pinned linen-shirt"), drawn from the
  // vertical's goods at an offset of the stream's own; unique within the session, which is
  // all a product id needs (products are per stream). No draw from `rng`: the rest of the
  // seeded session stays as it was.
  const offset = [...streamId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
  for (let n = 1; n <= productCount; n++) {
    products.push({
      productId: model.goods[(offset + n - 1) % model.goods.length] as string,
      priceCents: listPrice(rng, model.priceCents),
      weight: rng.logNormal(1, 0.8),
    })
  }
  const viral =
    request.forceViral || rng.chance(SESSION.viralShare)
      ? {
          // the surge comes early enough to be seen: 1–3 minutes in for the demo's sure one,
          // else between 1 minute in and a third of the way
          at:
            startAt +
            (request.forceViral
              ? rng.uniform(MINUTE, 3 * MINUTE)
              : rng.uniform(MINUTE, Math.max(1.5 * MINUTE, durationMs / 3))),
          multiplier: rng.uniform(SESSION.viralMultiplier[0], SESSION.viralMultiplier[1]),
        }
      : null
  return {
    streamId,
    creatorId: creator.creatorId,
    vertical: creator.vertical,
    title: rng.pick(model.titles),
    campaignId: rng.weighted(CAMPAIGNS),
    startAt,
    endAt,
    // a viral stream starts from at least a typical audience, so its surge is several times one
    peakAudience: Math.max(5, audience * Math.max(viral ? 1 : 0, rng.logNormal(1, 0.35))),
    viral,
    products,
    slot,
    wobblePhase: rng.uniform(0, 2 * Math.PI),
  }
}

/** Prices shoppers recognise: $24.99, $25.00, $24.50. */
function listPrice(rng: Rng, [min, max]: readonly [number, number]): number {
  const dollars = rng.int(Math.ceil(min / 100), Math.floor(max / 100))
  const ending = rng.weighted([
    [-1, 0.65],
    [0, 0.25],
    [-50, 0.1],
  ] as const)
  return dollars * 100 + ending
}
