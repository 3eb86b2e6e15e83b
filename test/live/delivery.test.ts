// Delivery against a real Socket.IO server and client: what a socket's transport could not
// take at once goes out as soon as it can, across the polling → websocket upgrade too, and a
// socket that comes and goes leaves nothing behind.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server, type Socket as ServerSocket } from 'socket.io'
import { io as connect, Manager } from 'socket.io-client'
import { afterEach, expect, test } from 'vitest'
import { Delivery, mergeTicks } from '../../server/live/delivery.ts'
import { MAX_LIVE_BUCKETS, type TickPayload } from '../../server/live/ticks.ts'

let close: (() => void) | undefined
afterEach(() => close?.())

async function liveServer(onConnection: (socket: ServerSocket, delivery: Delivery) => void) {
  const http = createServer()
  const io = new Server(http, { pingInterval: 20_000, pingTimeout: 20_000 })
  const nsp = io.of('/live')
  const delivery = new Delivery(nsp)
  nsp.on('connection', (socket) => {
    socket.data = { pending: new Map() }
    const unwatch = delivery.watch(socket)
    socket.on('disconnect', unwatch)
    onConnection(socket, delivery)
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  close = () => io.close()
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`
}

test('a message held while the client upgrades from polling to websocket arrives at once', async () => {
  let heldAt = 0
  const url = await liveServer((socket, delivery) => {
    socket.join('wall:all')
    const conn = socket.conn as unknown as {
      upgrading: boolean
      transport: { name: string; writable: boolean }
    }
    // The moment the polling transport is paused for the upgrade, push a message: it is held.
    const poll = () => {
      if (conn.upgrading && conn.transport.name === 'polling' && !conn.transport.writable) {
        delivery.wall('wall:all', { n: 1 })
        heldAt = Date.now()
        expect((socket.data as { pending: Map<string, unknown> }).pending.size).toBe(1)
      } else setTimeout(poll, 0)
    }
    poll()
  })
  // socket.io-client's default: polling first, then the upgrade.
  const client = connect(`${url}/live`, { forceNew: true, reconnection: false })
  const arrived = await new Promise<number>((resolve) => {
    client.on('wall', () => resolve(Date.now()))
    setTimeout(() => resolve(-1), 8_000)
  })
  client.close()
  console.log(`held during the upgrade, arrived ${arrived - heldAt} ms later`)
  expect(heldAt).toBeGreaterThan(0)
  // (not the next ping, 20 s away)
  expect(arrived).toBeGreaterThan(0)
})

test('a /live socket that connects and leaves twenty times on one connection leaves no listener behind', async () => {
  let conn:
    | { transport: { listenerCount(event: string): number }; listenerCount(event: string): number }
    | undefined
  const url = await liveServer((socket) => {
    conn = socket.conn as unknown as typeof conn
  })
  const manager = new Manager(url, { transports: ['websocket'], reconnection: false })
  const root = manager.socket('/')
  root.connect()
  await new Promise<void>((resolve) => root.once('connect', () => resolve()))
  const baseline = { ready: -1, upgrade: -1 }
  const live = manager.socket('/live')
  for (let i = 0; i < 20; i++) {
    live.connect()
    await new Promise<void>((resolve) => live.once('connect', () => resolve()))
    if (i === 0) baseline.ready = conn!.transport.listenerCount('ready')
    if (i === 0) baseline.upgrade = conn!.listenerCount('upgrade')
    live.disconnect()
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const now = { ready: conn!.transport.listenerCount('ready'), upgrade: conn!.listenerCount('upgrade') }
  root.disconnect()
  console.log(`listeners while connected ${JSON.stringify(baseline)}, after 20 cycles ${JSON.stringify(now)}`)
  // One of each was ours while connected; none is left after.
  expect(now).toEqual({ ready: baseline.ready - 1, upgrade: baseline.upgrade - 1 })
})

test('two held ticks merge per bucket, newer values winning, and never beyond MAX_LIVE_BUCKETS', () => {
  const step = 1000
  const tick = (from: number, n: number, value: number, watermark: number): TickPayload => {
    const t = Array.from({ length: n }, (_, i) => from + i * step)
    return {
      stream_id: 's',
      step_ms: step,
      series: { stream_id: 's', step_ms: step, from, to: from + n * step, t, gmv: t.map(() => value) },
      totals: { gmv: value } as TickPayload['totals'],
      watermark,
    }
  }
  // Overlapping: 0..9 at 1 (older), 5..14 at 2 (newer).
  const merged = mergeTicks(tick(0, 10, 1, 100), tick(5 * step, 10, 2, 200))
  expect(merged.series.t).toEqual(Array.from({ length: 15 }, (_, i) => i * step))
  expect(merged.series.gmv).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
  expect(merged.series.from).toBe(0)
  expect(merged.series.to).toBe(15 * step)
  expect(merged.watermark).toBe(200)
  expect(merged.totals).toEqual({ gmv: 2 })
  // A client stalled long enough to hold more than the cap keeps the newest buckets only.
  const long = mergeTicks(tick(0, MAX_LIVE_BUCKETS, 1, 100), tick(MAX_LIVE_BUCKETS * step, 100, 2, 200))
  expect(long.series.t).toHaveLength(MAX_LIVE_BUCKETS)
  expect(long.series.t[0]).toBe(100 * step)
  expect(long.series.from).toBe(100 * step)
  expect((long.series.gmv as number[])[MAX_LIVE_BUCKETS - 1]).toBe(2)
})
