import type { Namespace, Socket } from 'socket.io'
import type { Series } from '../metrics/series.ts'
import { MAX_LIVE_BUCKETS, type TickPayload } from './ticks.ts'

export function tickRoom(streamId: string, stepMs: number): string {
  return `tick:${stepMs}:${streamId}`
}

type Pending = { event: 'tick'; payload: TickPayload } | { event: 'wall'; payload: unknown }

/** Per-socket state kept in socket.data. */
export interface LiveSocketData {
  pending: Map<string, Pending>
}

/**
 * A socket whose transport is still writing (engine.io buffers and is not writable)
 * gets nothing more queued in engine.io: its latest values wait here, one entry per
 * stream and one for the wall, and go out when the transport drains. So a client that
 * stops reading holds at most one pending tick per subscription, never a growing queue,
 * and never delays anyone else.
 */
export function isCongested(socket: Socket): boolean {
  const conn = socket.conn as unknown as { writeBuffer: unknown[]; transport: { writable: boolean } }
  return conn.writeBuffer.length > 0 || !conn.transport.writable
}

/** Two ticks of one stream and step as one: per bucket the newer value wins. */
export function mergeTicks(older: TickPayload, newer: TickPayload): TickPayload {
  const a = older.series
  const b = newer.series
  const index = new Map<number, [Series, number]>()
  for (const [source, times] of [
    [a, a.t],
    [b, b.t],
  ] as const) {
    times.forEach((t, i) => {
      index.set(t, [source, i])
    })
  }
  const times = [...index.keys()].sort((x, y) => x - y).slice(-MAX_LIVE_BUCKETS)
  const series: Series = {
    stream_id: b.stream_id,
    step_ms: b.step_ms,
    from: times[0] ?? b.from,
    to: (times[times.length - 1] ?? b.to - b.step_ms) + b.step_ms,
    t: times,
  }
  for (const key of Object.keys(b)) {
    if (!Array.isArray(b[key]) || key === 't') continue
    series[key] = times.map((t) => {
      const [source, i] = index.get(t)!
      const column = source[key] as (number | null)[] | undefined
      return column ? (column[i] ?? null) : null
    })
  }
  return { ...newer, series, watermark: Math.max(older.watermark, newer.watermark) }
}

export class Delivery {
  held = 0

  constructor(private readonly nsp: Namespace) {}

  /** Sends a tick to the stream's room: one encode for every ready socket, the rest held. */
  tick(payload: TickPayload): void {
    const room = tickRoom(payload.stream_id, payload.step_ms)
    this.send(room, `tick:${room}`, 'tick', payload, (previous) => ({
      event: 'tick',
      payload: previous?.event === 'tick' ? mergeTicks(previous.payload, payload) : payload,
    }))
  }

  wall(room: string, payload: unknown): void {
    this.send(room, `wall:${room}`, 'wall', payload, () => ({ event: 'wall', payload }))
  }

  /**
   * Sends what a socket holds once its transport can write again. engine.io's socket-level
   * `drain` fires right after a write, while the transport is still busy, so the trigger is
   * the transport's `ready` — on the transport the socket has now, and on the one it
   * upgrades to (at once then too: nothing written on the new transport would wake it).
   * Returns what to call when the socket disconnects, to let go of the listeners.
   */
  watch(socket: Socket): () => void {
    const onReady = () => this.flush(socket)
    const conn = socket.conn
    let transport = conn.transport
    transport.on('ready', onReady)
    const onUpgrade = (next: typeof transport) => {
      transport.off('ready', onReady)
      transport = next
      transport.on('ready', onReady)
      onReady()
    }
    conn.on('upgrade', onUpgrade)
    return () => {
      transport.off('ready', onReady)
      conn.off('upgrade', onUpgrade)
    }
  }

  /** Sends what a socket holds, if its transport can take it now. */
  flush(socket: Socket): void {
    const data = socket.data as LiveSocketData
    if (data.pending.size === 0 || isCongested(socket)) return
    const pending = [...data.pending.values()]
    data.pending.clear()
    for (const item of pending) socket.emit(item.event, item.payload)
  }

  /**
   * One encode for the room's ready sockets. A socket whose transport is busy gets the
   * message merged into what it holds; so does one that still holds an older message
   * under the same key (which then goes out merged at once, so the newer values never
   * overtake the older ones).
   */
  private send(
    room: string,
    key: string,
    event: Pending['event'],
    payload: unknown,
    merge: (previous: Pending | undefined) => Pending,
  ): void {
    const members = this.nsp.adapter.rooms.get(room)
    const held: Socket[] = []
    for (const id of members ?? []) {
      const socket = this.nsp.sockets.get(id)
      if (!socket) continue
      const data = socket.data as LiveSocketData
      const congested = isCongested(socket)
      if (!congested && !data.pending.has(key)) continue
      data.pending.set(key, merge(data.pending.get(key)))
      held.push(socket)
      if (congested) this.held++
    }
    this.nsp
      .to(room)
      .except(held.map((socket) => socket.id))
      .emit(event, payload)
    for (const socket of held) this.flush(socket)
  }
}
