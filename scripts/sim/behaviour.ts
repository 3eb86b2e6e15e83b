// What hosts and viewers do: the session lifecycle (start, pins, flash sales, end), the
// funnel's later steps (cart → pay → refund) and the actions sampled from a session's rates.
// The generator owns time, ids and the wire format; it hands these functions a World.

import {
  DELAYS,
  FLASH,
  QUANTITIES,
  SESSION,
  SOURCES,
  sourceIntent,
  VIEWER,
  VIRAL_SOURCES,
} from './catalog.ts'
import type { WireEvent } from './events.ts'
import type { Rng } from './rng.ts'
import { ACTIONS, type Session } from './session.ts'

const SECOND = 1000

/** A step of a session that happens at a scheduled time. */
export type SessionTask =
  | { kind: 'start' | 'end' | 'pin' | 'flash_start' | 'flash_end'; session: Session }
  | { kind: 'cart'; session: Session; viewerId: string; productIndex: number }
  | { kind: 'pay'; session: Session; viewerId: string; productIndex: number; unitCents: number }
  | {
      kind: 'refund'
      session: Session
      viewerId: string
      productIndex: number
      orderId: string
      cents: number
    }
  | { kind: 'order_repeat'; session: Session; event: WireEvent }

export type EventFields = Omit<WireEvent, 'event_id' | 'stream_id' | 'ts'>

export interface World {
  /** the traffic's random numbers */
  readonly rng: Rng
  /** sends a valid event of the session at time t */
  emit(s: Session, t: number, fields: EventFields): WireEvent
  /** schedules a task */
  at(due: number, task: SessionTask): void
  /** schedules a task only if it happens before the session ends */
  later(s: Session, due: number, task: SessionTask): void
  sessionStarted(s: Session): void
  /** the session is over: the world drops it and, for a live slot, plans the next one */
  sessionEnded(s: Session, t: number): void
  newViewer(s: Session): string
  nextOrderId(): string
  amount(cents: number): number | string
  currency(): { currency?: string }
  /** maybe schedules the same order_paid again under a new event_id (an anomaly) */
  maybeRepeatOrder(s: Session, t: number, order: WireEvent): void
  repeatOrder(s: Session, t: number, order: WireEvent): void
}

function secondsBetween(rng: Rng, [min, max]: readonly [number, number]): number {
  return Math.round(rng.uniform(min, max) * SECOND)
}

function delay(rng: Rng, d: { floor: number; mean: number }): number {
  return Math.round((d.floor + rng.exp(d.mean)) * SECOND)
}

/** A flash sale at `at`, if the longest one would still end before the stream does. */
function scheduleFlashSale(world: World, session: Session, at: number): void {
  if (at + SESSION.flashSaleSeconds[1] * SECOND < session.plan.endAt) {
    world.at(at, { kind: 'flash_start', session })
  }
}

export function runTask(world: World, task: SessionTask, t: number): void {
  const { rng } = world
  const s = task.session
  switch (task.kind) {
    case 'start': {
      const { plan } = s
      s.started = true
      world.sessionStarted(s)
      world.emit(s, t, {
        type: 'stream_start',
        creator_id: plan.creatorId,
        title: plan.title,
        vertical: plan.vertical,
        ...(plan.campaignId ? { campaign_id: plan.campaignId } : {}),
      })
      s.pinned = s.randomProductIndex(rng)
      world.emit(s, t, { type: 'product_pin', product_id: s.productId(s.pinned) })
      world.later(s, t + secondsBetween(rng, SESSION.pinEverySeconds), { kind: 'pin', session: s })
      scheduleFlashSale(world, s, t + secondsBetween(rng, SESSION.firstFlashSaleSeconds))
      world.at(plan.endAt, { kind: 'end', session: s })
      return
    }
    case 'end': {
      // the room empties when the host ends the stream
      for (const viewerId of s.leaveAll()) world.emit(s, t, { type: 'view_end', viewer_id: viewerId })
      if (s.isFlashSale(t)) world.emit(s, t, { type: 'marker', label: 'flash sale ends' })
      world.emit(s, t, { type: 'stream_end' })
      s.ended = true
      world.sessionEnded(s, t)
      return
    }
    case 'pin': {
      const count = s.plan.products.length
      if (!s.isFlashSale(t) && count > 1) {
        s.pinned = (s.pinned + rng.int(1, count - 1)) % count
        world.emit(s, t, { type: 'product_pin', product_id: s.productId(s.pinned) })
      }
      world.later(s, t + secondsBetween(rng, SESSION.pinEverySeconds), task)
      return
    }
    case 'flash_start': {
      const productIndex = s.randomProductIndex(rng)
      const until = t + secondsBetween(rng, SESSION.flashSaleSeconds)
      s.pinned = productIndex
      s.flashSale = { productIndex, until }
      world.emit(s, t, { type: 'product_pin', product_id: s.productId(productIndex) })
      world.emit(s, t, { type: 'marker', label: 'flash sale starts' })
      world.later(s, until, { kind: 'flash_end', session: s })
      return
    }
    case 'flash_end': {
      s.flashSale = null
      world.emit(s, t, { type: 'marker', label: 'flash sale ends' })
      scheduleFlashSale(world, s, t + secondsBetween(rng, SESSION.flashSaleEverySeconds))
      return
    }
    case 'cart': {
      const { viewerId, productIndex } = task
      if (s.ended) return
      world.emit(s, t, { type: 'add_to_cart', viewer_id: viewerId, product_id: s.productId(productIndex) })
      const onSale = s.isFlashSale(t) && s.flashSale?.productIndex === productIndex
      if (rng.chance(Math.min(0.95, s.model.payRate * (onSale ? FLASH.payRate : 1)))) {
        // the price is the one in the cart: a flash-sale price holds after the sale ends
        const unitCents = s.unitPriceCents(productIndex, t)
        world.later(s, t + delay(rng, DELAYS.cartToPay), {
          kind: 'pay',
          session: s,
          viewerId,
          productIndex,
          unitCents,
        })
      }
      return
    }
    case 'pay': {
      const { viewerId, productIndex, unitCents } = task
      if (s.ended) return
      const quantity = rng.weighted(QUANTITIES)
      const cents = unitCents * quantity
      const orderId = world.nextOrderId()
      const order = world.emit(s, t, {
        type: 'order_paid',
        viewer_id: viewerId,
        product_id: s.productId(productIndex),
        order_id: orderId,
        amount: world.amount(cents),
        quantity,
        ...world.currency(),
      })
      if (rng.chance(s.model.refundRate)) {
        // a partial refund returns one unit of a multi-item order
        const refund = quantity > 1 && rng.chance(0.5) ? unitCents : cents
        world.later(s, t + delay(rng, DELAYS.payToRefund), {
          kind: 'refund',
          session: s,
          viewerId,
          productIndex,
          orderId,
          cents: refund,
        })
      }
      world.maybeRepeatOrder(s, t, order)
      return
    }
    case 'refund': {
      const { viewerId, productIndex, orderId, cents } = task
      if (s.ended) return
      world.emit(s, t, {
        type: 'order_refunded',
        viewer_id: viewerId,
        product_id: s.productId(productIndex),
        order_id: orderId,
        amount: world.amount(cents),
        ...world.currency(),
      })
      return
    }
    case 'order_repeat':
      if (!s.ended) world.repeatOrder(s, t, task.event)
      return
  }
}

/** Performs the action at `actionIndex` of `ACTIONS` in session s at time t. */
export function act(world: World, s: Session, actionIndex: number, t: number): void {
  const { rng } = world
  const action = ACTIONS[actionIndex]
  switch (action) {
    case 'view_start': {
      const viewerId =
        (rng.chance(VIEWER.rejoinShare) ? s.randomLeaver(rng) : undefined) ?? world.newViewer(s)
      const table = s.plan.viral && t >= s.plan.viral.at ? VIRAL_SOURCES : SOURCES
      const source = rng.weighted(table)
      s.join(viewerId, sourceIntent(source, table))
      world.emit(s, t, { type: 'view_start', viewer_id: viewerId, ...(source ? { source } : {}) })
      return
    }
    case 'view_end': {
      const viewerId = s.leaveRandom(rng)
      if (viewerId) world.emit(s, t, { type: 'view_end', viewer_id: viewerId })
      return
    }
    case 'product_impression': {
      const productIndex = s.pickProduct(rng, t)
      const viewerId = rng.chance(0.7) ? s.randomOnline(rng) : undefined
      world.emit(s, t, {
        type: 'product_impression',
        product_id: s.productId(productIndex),
        ...(viewerId ? { viewer_id: viewerId } : {}),
      })
      return
    }
    case 'product_click': {
      const viewerId = s.randomOnline(rng)
      if (!viewerId) return
      const productIndex = s.pickProduct(rng, t)
      world.emit(s, t, { type: 'product_click', viewer_id: viewerId, product_id: s.productId(productIndex) })
      const onSale = s.isFlashSale(t) && s.flashSale?.productIndex === productIndex
      const rate = s.model.cartRate * (onSale ? FLASH.cartRate : 1) * s.intentOf(viewerId)
      if (rng.chance(Math.min(0.95, rate))) {
        world.later(s, t + delay(rng, DELAYS.clickToCart), {
          kind: 'cart',
          session: s,
          viewerId,
          productIndex,
        })
      }
      return
    }
    case 'comment':
    case 'share':
    case 'follow': {
      const viewerId = s.randomOnline(rng)
      if (viewerId) world.emit(s, t, { type: action, viewer_id: viewerId })
      return
    }
    case 'like': {
      const viewerId = s.randomOnline(rng)
      if (!viewerId) return
      const quantity = Math.min(10_000, 1 + Math.floor(rng.exp(VIEWER.meanLikeTaps - 1)))
      world.emit(s, t, { type: 'like', viewer_id: viewerId, quantity })
      return
    }
  }
}
