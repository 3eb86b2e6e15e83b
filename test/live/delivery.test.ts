// Delivery against a real Socket.IO server and client: what a socket's transport could not
// take at once goes out as soon as it can, across the polling → websocket upgrade too, and a
// socket that comes and goes leaves nothing behind.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server, type Socket as ServerSocket } from 'socket.io'
import { io as connect, Manager } from 'socket.io-client'
import { afterEach, expect, test } from 'vitest'
import { Delivery } from '../../server/live/delivery.ts'

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
