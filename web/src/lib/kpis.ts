// How each SPEC §3 metric is labelled and formatted on a KPI tile.

import { formatCount, formatMoney, formatPercent } from './format.ts'
import type { Metric, Totals } from './types.ts'

export type KpiKind = 'money' | 'count' | 'percent'

export interface KpiDef {
  metric: Metric
  label: string
  kind: KpiKind
  /** one line saying what it is, shown as the tile's tooltip */
  help: string
}

export const KPI_DEFS: readonly KpiDef[] = [
  { metric: 'gmv', label: 'GMV', kind: 'money', help: 'Sum of paid orders (gross)' },
  { metric: 'orders', label: 'Orders', kind: 'count', help: 'Distinct paid orders' },
  { metric: 'online', label: 'Online now', kind: 'count', help: 'Concurrent viewers' },
  { metric: 'conversion', label: 'Conversion', kind: 'percent', help: 'Buyers / viewers' },
  { metric: 'viewers', label: 'Viewers', kind: 'count', help: 'Distinct viewers who joined' },
  { metric: 'buyers', label: 'Buyers', kind: 'count', help: 'Distinct viewers who paid' },
  { metric: 'peak_online', label: 'Peak online', kind: 'count', help: 'Highest concurrent viewers' },
  { metric: 'views', label: 'Views', kind: 'count', help: 'Joins (view_start)' },
  { metric: 'net_gmv', label: 'Net GMV', kind: 'money', help: 'GMV − refunds' },
  { metric: 'refunds', label: 'Refunds', kind: 'money', help: 'Sum of refunded amounts' },
  { metric: 'items', label: 'Items', kind: 'count', help: 'Items in paid orders' },
  { metric: 'gpm', label: 'GPM', kind: 'money', help: 'GMV per 1,000 views' },
  { metric: 'impressions', label: 'Impressions', kind: 'count', help: 'Product impressions' },
  { metric: 'clicks', label: 'Clicks', kind: 'count', help: 'Product clicks' },
  { metric: 'ctr', label: 'CTR', kind: 'percent', help: 'Clicks / impressions' },
  { metric: 'carts', label: 'Add to cart', kind: 'count', help: 'add_to_cart events' },
  { metric: 'co_rate', label: 'Click → order', kind: 'percent', help: 'Orders / clicks' },
  { metric: 'likes', label: 'Likes', kind: 'count', help: 'Taps' },
  { metric: 'comments', label: 'Comments', kind: 'count', help: 'Comments' },
  { metric: 'shares', label: 'Shares', kind: 'count', help: 'Shares' },
  { metric: 'follows', label: 'Follows', kind: 'count', help: 'New followers' },
]

export function formatKpi(def: KpiDef, totals: Totals | null | undefined, currency: string): string {
  const value = totals ? totals[def.metric] : null
  if (def.kind === 'money') return formatMoney(value, currency)
  if (def.kind === 'percent') return formatPercent(value, 2)
  return formatCount(value)
}
