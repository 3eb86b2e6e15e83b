// The parameters of the traffic model: who streams what, how viewers behave, how each
// vertical converts. Numbers are plausible for live shopping (TikTok Shop / Whatnot-style
// sessions), not measurements; they live here so the model can be tuned in one place.

import type { TrafficSource } from './events.ts'

export type Vertical = 'Fashion' | 'Beauty' | 'Home & Living' | 'Other'

export interface VerticalModel {
  /** share of streams in this vertical */
  share: number
  /** product_click per product_impression */
  ctr: number
  /** add_to_cart per product_click */
  cartRate: number
  /** order_paid per add_to_cart */
  payRate: number
  /** order_refunded per order_paid */
  refundRate: number
  /** list prices, integer cents */
  priceCents: readonly [min: number, max: number]
  /** products shown in one session */
  products: readonly [min: number, max: number]
  titles: readonly string[]
  /** product ids a session draws from (at least `products[1]` of them): readable on screen */
  goods: readonly string[]
}

export const VERTICALS: Readonly<Record<Vertical, VerticalModel>> = {
  Fashion: {
    share: 0.35,
    ctr: 0.09,
    cartRate: 0.22,
    payRate: 0.48,
    refundRate: 0.08, // clothes come back: wrong size
    priceCents: [1500, 8900],
    products: [8, 20],
    titles: [
      'Spring drop: linen sets under $50',
      'Denim try-on haul, every size',
      'Vintage Friday: 90s finds',
      'Sneaker restock live',
      'Capsule wardrobe in 10 pieces',
      'Workwear that does not feel like work',
    ],
    goods: [
      'linen-shirt',
      'denim-jacket',
      'wide-leg-jeans',
      'slip-dress',
      'cargo-pants',
      'knit-cardigan',
      'white-sneakers',
      'trench-coat',
      'silk-scarf',
      'leather-belt',
      'bucket-hat',
      'wool-blazer',
      'pleated-skirt',
      'graphic-tee',
      'ankle-boots',
      'tote-bag',
      'puffer-vest',
      'linen-shorts',
      'hoodie',
      'chelsea-boots',
      'crop-top',
      'maxi-skirt',
    ],
  },
  Beauty: {
    share: 0.3,
    ctr: 0.11,
    cartRate: 0.27,
    payRate: 0.55,
    refundRate: 0.03,
    priceCents: [900, 4900],
    products: [6, 16],
    titles: [
      'Glass skin routine, live',
      'Lash bar: 3 looks under $30',
      'Fragrance blind-buy night',
      'Drugstore vs luxury: foundation battle',
      'Nail art masterclass + kits',
      'SPF week: find your sunscreen',
    ],
    goods: [
      'glow-serum',
      'lash-kit',
      'matte-lipstick',
      'spf50-fluid',
      'setting-spray',
      'brow-gel',
      'clay-mask',
      'vitamin-c-drops',
      'nail-kit',
      'eau-de-parfum',
      'cushion-foundation',
      'lip-oil',
      'eye-palette',
      'cleansing-balm',
      'night-cream',
      'hair-mask',
      'body-mist',
      'concealer',
    ],
  },
  'Home & Living': {
    share: 0.2,
    ctr: 0.06,
    cartRate: 0.18,
    payRate: 0.42,
    refundRate: 0.05,
    priceCents: [1900, 19900],
    products: [6, 14],
    titles: [
      'Kitchen gadgets that actually work',
      'Cozy bedroom makeover',
      'Plant care Q&A + nursery sale',
      'Small balcony, big ideas',
      'Cast iron care and deals',
    ],
    goods: [
      'cast-iron-pan',
      'linen-duvet',
      'plant-mister',
      'chef-knife',
      'air-fryer',
      'ceramic-planter',
      'throw-blanket',
      'spice-rack',
      'balcony-lights',
      'coffee-grinder',
      'bamboo-towels',
      'storage-baskets',
      'table-lamp',
      'herb-kit',
      'dutch-oven',
      'bath-mat',
    ],
  },
  Other: {
    share: 0.15,
    ctr: 0.05,
    cartRate: 0.16,
    payRate: 0.4,
    refundRate: 0.04,
    priceCents: [500, 14900],
    products: [5, 14],
    titles: [
      'Tech deals hour',
      'Board game night picks',
      'Home gym essentials',
      'Trading card breaks',
      'Back-to-school supply run',
    ],
    goods: [
      'wireless-earbuds',
      'board-game',
      'kettlebell',
      'card-booster',
      'phone-stand',
      'yoga-mat',
      'backpack',
      'gel-pens',
      'power-bank',
      'smart-plug',
      'jump-rope',
      'desk-lamp',
      'puzzle-1000',
      'resistance-bands',
      'sticker-pack',
      'usb-hub',
    ],
  },
}

export interface Creator {
  creatorId: string
  vertical: Vertical
}

/** Stable across runs and seeds, so a creator token keeps working from one demo to the next. */
export const CREATORS: readonly Creator[] = [
  { creatorId: 'c-mia-style', vertical: 'Fashion' },
  { creatorId: 'c-luca-threads', vertical: 'Fashion' },
  { creatorId: 'c-nora-vintage', vertical: 'Fashion' },
  { creatorId: 'c-jade-street', vertical: 'Fashion' },
  { creatorId: 'c-omar-tailor', vertical: 'Fashion' },
  { creatorId: 'c-sol-denim', vertical: 'Fashion' },
  { creatorId: 'c-glow-by-ana', vertical: 'Beauty' },
  { creatorId: 'c-kim-skin', vertical: 'Beauty' },
  { creatorId: 'c-rosa-lashes', vertical: 'Beauty' },
  { creatorId: 'c-lena-glam', vertical: 'Beauty' },
  { creatorId: 'c-tiff-nails', vertical: 'Beauty' },
  { creatorId: 'c-cozy-casa', vertical: 'Home & Living' },
  { creatorId: 'c-kitchen-lab', vertical: 'Home & Living' },
  { creatorId: 'c-greenthumb-gus', vertical: 'Home & Living' },
  { creatorId: 'c-decor-dani', vertical: 'Home & Living' },
  { creatorId: 'c-gadget-gabe', vertical: 'Other' },
  { creatorId: 'c-toy-shelf', vertical: 'Other' },
  { creatorId: 'c-fit-finn', vertical: 'Other' },
]

/** campaign_id of a session; null = no campaign (the field is left out). */
export const CAMPAIGNS: readonly (readonly [string | null, number])[] = [
  [null, 0.4],
  ['cmp-spring-sale', 0.2],
  ['cmp-payday', 0.15],
  ['cmp-new-arrivals', 0.15],
  ['cmp-brand-week', 0.1],
]

/** Where viewers come from. A viral stream is carried by the recommendation feed. */
export const SOURCES: readonly (readonly [TrafficSource | null, number])[] = [
  ['for_you', 0.42],
  ['following', 0.18],
  ['search', 0.08],
  ['shop', 0.1],
  ['ads', 0.12],
  ['external', 0.05],
  ['other', 0.02],
  [null, 0.03], // producer did not say
]
export const VIRAL_SOURCES: readonly (readonly [TrafficSource | null, number])[] = [
  ['for_you', 0.68],
  ['following', 0.08],
  ['search', 0.05],
  ['shop', 0.05],
  ['ads', 0.06],
  ['external', 0.05],
  ['other', 0.01],
  [null, 0.02],
]

/**
 * How readily a viewer from each source buys, against the average viewer: fans (Following)
 * and people who searched or came from the shop tab buy more often than the feed's passers-by
 * (For You), so the source credit of the stream and replay views has a difference to show.
 * Scaled by the mean over the table the viewer was drawn from (`SOURCES`, or
 * `VIRAL_SOURCES` once a stream goes viral), so a stream's overall conversion stays as
 * tuned whatever its mix.
 */
const INTENT: Record<TrafficSource | 'none', number> = {
  for_you: 0.6,
  following: 2,
  search: 1.8,
  shop: 1.6,
  ads: 1,
  external: 0.8,
  other: 0.8,
  none: 1,
}
type SourceTable = readonly (readonly [TrafficSource | null, number])[]
const meanIntent = (table: SourceTable) =>
  table.reduce((sum, [source, share]) => sum + share * INTENT[source ?? 'none'], 0) /
  table.reduce((sum, [, share]) => sum + share, 0)
const MEAN_INTENT = new Map<SourceTable, number>([
  [SOURCES, meanIntent(SOURCES)],
  [VIRAL_SOURCES, meanIntent(VIRAL_SOURCES)],
])
export function sourceIntent(source: TrafficSource | null, table: SourceTable): number {
  return INTENT[source ?? 'none'] / (MEAN_INTENT.get(table) ?? meanIntent(table))
}

/** Items per order: 1–3 almost always. */
export const QUANTITIES: readonly (readonly [number, number])[] = [
  [1, 0.74],
  [2, 0.19],
  [3, 0.06],
  [4, 0.007],
  [5, 0.003],
]

/** Per online viewer, per second of the model's time. */
export const VIEWER = {
  /** mean watch time of one view, seconds; arrivals balance departures around the target audience */
  meanWatchSeconds: 180,
  /** how fast the audience follows its target: share of the gap closed per second */
  audienceGain: 1 / 15,
  impressionsPerSecond: 1 / 60,
  commentsPerSecond: 1 / 150,
  likesPerSecond: 1 / 90,
  /** mean taps in one like event */
  meanLikeTaps: 6,
  sharesPerSecond: 1 / 2000,
  followsPerSecond: 1 / 1200,
  /** share of arrivals that are a viewer coming back to the same stream */
  rejoinShare: 0.15,
} as const

/** Average events per online viewer per second, used to size audiences from the event rate. */
export const EVENTS_PER_VIEWER_SECOND = (() => {
  const avg = (pick: (v: VerticalModel) => number) =>
    Object.values(VERTICALS).reduce((sum, v) => sum + v.share * pick(v), 0)
  const clicks = VIEWER.impressionsPerSecond * avg((v) => v.ctr)
  const carts = clicks * avg((v) => v.cartRate)
  const orders = carts * avg((v) => v.payRate)
  return (
    2 / VIEWER.meanWatchSeconds +
    VIEWER.impressionsPerSecond +
    clicks +
    carts +
    orders +
    VIEWER.commentsPerSecond +
    VIEWER.likesPerSecond +
    VIEWER.sharesPerSecond +
    VIEWER.followsPerSecond
  )
})()

export const SESSION = {
  /** live sessions, minutes */
  liveMinutes: [25, 120],
  /** backfilled (finished) sessions, minutes */
  backfillMinutes: [20, 60],
  /** pause before a live slot starts its next session, seconds */
  nextSessionGapSeconds: [30, 180],
  /** a live slot's next session is hosted by the same creator with this probability */
  sameCreatorNext: 0.4,
  /** share of sessions that go viral, and by how much the audience multiplies */
  viralShare: 0.15,
  viralMultiplier: [3, 6],
  /** seconds between product pins */
  pinEverySeconds: [120, 300],
  /** share of impressions and clicks that go to the pinned product */
  pinnedShare: 0.55,
  /** first flash sale after this many seconds, then every [min,max] seconds after the previous ended */
  firstFlashSaleSeconds: [45, 240],
  flashSaleEverySeconds: [360, 900],
  flashSaleSeconds: [90, 180],
  /** flash-sale price: list price × (100 − discount) / 100 */
  flashDiscountPercent: 30,
} as const

/** Multipliers while a flash sale runs: the spike on the wall. */
export const FLASH = {
  audience: 1.3,
  impressions: 2,
  ctr: 2.2,
  cartRate: 1.5,
  payRate: 1.25,
  comments: 1.8,
} as const

/** Funnel delays, seconds (exponential with these means, plus a floor). */
export const DELAYS = {
  clickToCart: { floor: 2, mean: 8 },
  cartToPay: { floor: 4, mean: 20 },
  payToRefund: { floor: 30, mean: 240 },
  /** a payment webhook firing again for the same order */
  orderRepeat: { floor: 1, mean: 8 },
} as const
