import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { LiveClient, type LiveSocket } from '../../web/src/lib/live.ts'

type Listener = (...args: never[]) => void

/** A socket.io-client stand-in: records emits, lets the test play the server. */
class FakeSocket implements LiveSocket {
  connected = false
  active = true
  emitted: { event: string; payload: unknown; ack?: (a: unknown) => void }[] = []
  disconnects = 0
  connects = 0
  private listeners = new Map<string, Listener[]>()
  on(event: string, listener: Listener) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener])
    return this
  }
  emit(event: string, payload?: unknown, ack?: (a: unknown) => void) {
    this.emitted.push({ event, payload, ack })
    return this
  }
  connect() {
    this.connects++
    return this
  }
  disconnect() {
    this.disconnects++
    this.connected = false
    return this
  }
  fire(event: string, ...args: unknown[]) {
    for (const l of this.listeners.get(event) ?? []) (l as (...a: unknown[]) => void)(...args)
  }
  serverConnects() {
    this.connected = true
    this.fire('connect')
  }
}

const summary = { gmv_today: 0, orders_today: 0, live_streams: 0, online: 0, quarantined: 0 }

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('live socket wrapper', () => {
  test('the wall is requested on connect and again after every reconnect', () => {
    const socket = new FakeSocket()
    const live = new LiveClient(socket)
    const walls: unknown[] = []
    live.watchWall('Beauty', (m) => walls.push(m))
    expect(socket.emitted).toEqual([]) // not connected yet
    socket.serverConnects()
    expect(socket.emitted.map((e) => [e.event, e.payload])).toEqual([['wall', { vertical: 'Beauty' }]])
    socket.emitted[0]?.ack?.({ ok: true, streams: [], summary })
    expect(walls).toEqual([{ streams: [], summary }])

    socket.connected = false
    socket.fire('disconnect', 'transport close')
    expect(live.state).toBe('disconnected')
    socket.serverConnects()
    expect(live.state).toBe('connected')
    expect(socket.emitted.filter((e) => e.event === 'wall')).toHaveLength(2)
  })

  test('a reconnect re-subscribes with since = the newest bucket held, for gap fill', () => {
    const socket = new FakeSocket()
    const live = new LiveClient(socket)
    let newest: number | undefined
    const snapshots: boolean[] = []
    const calls: string[] = []
    live.subscribe('s1', '1s', {
      since: () => newest,
      onSnapshot: (_s, gapFill) => {
        snapshots.push(gapFill)
        calls.push('snapshot')
      },
      onTick: () => {},
      onReconnect: () => calls.push('reconnect'),
    })
    socket.serverConnects()
    expect(calls).toEqual([]) // the first connect is no reconnect
    expect(socket.emitted[0]?.payload).toEqual({ stream_id: 's1', step: '1s' })
    socket.emitted[0]?.ack?.({ ok: true, snapshot: {} })
    newest = 1_700_000_005_000
    socket.connected = false
    socket.fire('disconnect', 'transport close')
    socket.serverConnects()
    expect(socket.emitted[1]?.payload).toEqual({ stream_id: 's1', step: '1s', since: 1_700_000_005_000 })
    socket.emitted[1]?.ack?.({ ok: true, snapshot: {} })
    expect(snapshots).toEqual([false, true])
    // told before the resubscribe's answer (a restarted server's watermarks may be lower)
    expect(calls).toEqual(['snapshot', 'reconnect', 'snapshot'])
  })

  test('ticks go to their stream only; an ack for a replaced subscription is dropped', () => {
    const socket = new FakeSocket()
    socket.connected = true
    const live = new LiveClient(socket)
    const ticksA: unknown[] = []
    const snapshots: string[] = []
    live.subscribe('a', '1s', {
      since: () => undefined,
      onSnapshot: () => snapshots.push('1s'),
      onTick: (t) => ticksA.push(t),
    })
    live.subscribe('a', '10s', {
      since: () => undefined,
      onSnapshot: () => snapshots.push('10s'),
      onTick: (t) => ticksA.push(t),
    })
    socket.emitted[0]?.ack?.({ ok: true, snapshot: {} }) // the 1s answer arrives late
    socket.emitted[1]?.ack?.({ ok: true, snapshot: {} })
    expect(snapshots).toEqual(['10s'])
    socket.fire('tick', { stream_id: 'b' })
    socket.fire('tick', { stream_id: 'a' })
    expect(ticksA).toEqual([{ stream_id: 'a' }])
  })

  test('a refused or expired token stops the socket and is reported once', () => {
    const socket = new FakeSocket()
    const codes: string[] = []
    new LiveClient(socket, { onTokenError: (c) => codes.push(c) })
    socket.active = false
    socket.fire('connect_error', new Error('token_expired'))
    expect(codes).toEqual(['token_expired'])
    expect(socket.disconnects).toBe(1)
    vi.advanceTimersByTime(10_000)
    expect(socket.connects).toBe(0) // no retry loop with a dead token
  })

  test('a server-side disconnect is retried (socket.io does not do it by itself)', () => {
    const socket = new FakeSocket()
    socket.connected = true
    const live = new LiveClient(socket)
    socket.connected = false
    socket.fire('disconnect', 'io server disconnect')
    expect(live.state).toBe('disconnected')
    vi.advanceTimersByTime(2_000)
    expect(socket.connects).toBe(1)
  })

  test('session_expired while connected reports token_expired', () => {
    const socket = new FakeSocket()
    socket.connected = true
    const codes: string[] = []
    new LiveClient(socket, { onTokenError: (c) => codes.push(c) })
    socket.fire('session_expired', { message: 'expired' })
    expect(codes).toEqual(['token_expired'])
  })
})
