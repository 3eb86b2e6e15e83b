// The Socket.IO side of docs/API.md (namespace /live): the wall subscription and per-stream
// subscriptions, kept across reconnects. Socket.IO reconnects by itself; on every (re)connect
// this re-sends `wall` and `subscribe` — the latter with `since` = the newest bucket the screen
// holds, so the snapshot in the ack fills exactly the gap the outage left.

import { io } from 'socket.io-client'
import { isTokenErrorCode, type TokenErrorCode } from './api.ts'
import type { Snapshot, Step, Tick, WallMessage } from './types.ts'

export type ConnectionState = 'connecting' | 'connected' | 'disconnected'

/** What LiveClient needs of a socket.io-client Socket (a fake in tests). */
export interface LiveSocket {
  readonly connected: boolean
  readonly active: boolean
  on(event: string, listener: (...args: never[]) => void): unknown
  emit(event: string, ...args: unknown[]): unknown
  connect(): unknown
  disconnect(): unknown
}

export interface LiveError {
  code: string
  message: string
}

export interface LiveEvents {
  onState?(state: ConnectionState): void
  /** the token was refused or expired: nothing will flow until the user opens a new link */
  onTokenError?(code: TokenErrorCode): void
}

export interface StreamSubscription {
  /** newest bucket start the screen holds, sent as `since` on resubscribe (undefined: full snapshot) */
  since(): number | undefined
  onSnapshot(snapshot: Snapshot, gapFill: boolean): void
  onTick(tick: Tick): void
  onError?(error: LiveError): void
  /**
   * The connection was lost and is back, perhaps to a restarted server whose watermarks (its
   * commit times) may run behind the old one's clock: called before the resubscribe.
   */
  onReconnect?(): void
}

interface WallWatch {
  vertical: string | undefined
  onWall(message: WallMessage): void
  onError?(error: LiveError): void
}

interface StreamWatch extends StreamSubscription {
  streamId: string
  step: Step
}

type Ack<T> = ({ ok: true } & T) | { ok: false; error?: Partial<LiveError> }

/** Acks that never come (a server restart mid-request) must not keep a screen waiting forever. */
const ACK_TIMEOUT_MS = 10_000
/** Pause before reconnecting after the server refused or dropped us on purpose. */
const RETRY_MS = 2_000

export class LiveClient {
  state: ConnectionState = 'connecting'
  private wall: WallWatch | null = null
  private readonly streams = new Map<string, StreamWatch>()
  private tokenRefused = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor(
    private readonly socket: LiveSocket,
    private readonly events: LiveEvents = {},
  ) {
    let connectedBefore = socket.connected
    socket.on('connect', () => {
      this.setState('connected')
      if (this.wall) this.sendWall(this.wall)
      for (const watch of this.streams.values()) {
        if (connectedBefore) watch.onReconnect?.()
        this.sendSubscribe(watch)
      }
      connectedBefore = true
    })
    socket.on('disconnect', (reason: string) => {
      this.setState('disconnected')
      // The client reconnects by itself except when the server closed the socket on purpose.
      if (reason === 'io server disconnect') this.retryLater()
    })
    socket.on('connect_error', (err: Error) => {
      if (isTokenErrorCode(err?.message)) {
        this.refuseToken(err.message)
        return
      }
      this.setState('disconnected')
      // A refusal by a server middleware (not a network error) is not retried by socket.io.
      if (!socket.active) this.retryLater()
    })
    socket.on('session_expired', () => this.refuseToken('token_expired'))
    socket.on('wall', (message: WallMessage) => this.wall?.onWall(message))
    socket.on('tick', (tick: Tick) => {
      const watch = this.streams.get(tick?.stream_id)
      if (watch) watch.onTick(tick)
    })
    // The server ended a subscription (the stream turned out to be another creator's).
    socket.on('unsubscribed', (message: { stream_id?: string; error?: Partial<LiveError> }) => {
      const watch = this.streams.get(message?.stream_id ?? '')
      if (!watch) return
      this.streams.delete(watch.streamId)
      this.fail(message.error, watch.onError)
    })
    if (socket.connected) this.setState('connected')
  }

  /** Follows the wall (optionally one vertical) until the returned function is called. */
  watchWall(
    vertical: string | undefined,
    onWall: (message: WallMessage) => void,
    onError?: (e: LiveError) => void,
  ) {
    const watch: WallWatch = { vertical, onWall, onError }
    this.wall = watch
    if (this.socket.connected) this.sendWall(watch)
    return () => {
      if (this.wall === watch) this.wall = null
    }
  }

  /** Asks for the wall again now: the ack is fresh data and proves the server is answering. */
  refreshWall(): void {
    if (this.wall && this.socket.connected) this.sendWall(this.wall)
  }

  /** Subscribes to a stream at a step, replacing any earlier subscription to it. */
  subscribe(streamId: string, step: Step, subscription: StreamSubscription): () => void {
    const watch: StreamWatch = { ...subscription, streamId, step }
    this.streams.set(streamId, watch)
    if (this.socket.connected) this.sendSubscribe(watch)
    return () => {
      if (this.streams.get(streamId) !== watch) return
      this.streams.delete(streamId)
      if (this.socket.connected) this.emitWithAck('unsubscribe', { stream_id: streamId }, () => {})
    }
  }

  /** Re-sends a stream's subscribe with `since` (gap fill; also a liveness probe). */
  refreshStream(streamId: string): void {
    const watch = this.streams.get(streamId)
    if (watch && this.socket.connected) this.sendSubscribe(watch)
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.wall = null
    this.streams.clear()
    this.socket.disconnect()
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    this.events.onState?.(state)
  }

  private refuseToken(code: TokenErrorCode): void {
    this.tokenRefused = true
    clearTimeout(this.retryTimer)
    this.setState('disconnected')
    this.socket.disconnect()
    this.events.onTokenError?.(code)
  }

  private retryLater(): void {
    if (this.tokenRefused || this.closed) return
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => {
      if (!this.socket.connected && !this.tokenRefused && !this.closed) {
        // Stay 'disconnected' until the 'connect' event: an attempt under way is not a live
        // feed, and the wall must keep saying so however long the attempt hangs.
        this.socket.connect()
      }
    }, RETRY_MS)
  }

  private sendWall(watch: WallWatch): void {
    const payload = watch.vertical ? { vertical: watch.vertical } : {}
    this.emitWithAck<Ack<WallMessage>>('wall', payload, (ack) => {
      if (this.wall !== watch) return // the filter changed meanwhile
      if (ack.ok) watch.onWall({ streams: ack.streams, summary: ack.summary })
      else this.fail(ack.error, watch.onError)
    })
  }

  private sendSubscribe(watch: StreamWatch): void {
    const since = watch.since()
    const payload = { stream_id: watch.streamId, step: watch.step, ...(since === undefined ? {} : { since }) }
    this.emitWithAck<Ack<{ snapshot: Snapshot }>>('subscribe', payload, (ack) => {
      if (this.streams.get(watch.streamId) !== watch) return // unsubscribed or step switched
      if (ack.ok) watch.onSnapshot(ack.snapshot, since !== undefined)
      else this.fail(ack.error, watch.onError)
    })
  }

  private fail(error: Partial<LiveError> | undefined, onError?: (e: LiveError) => void): void {
    const code = error?.code ?? 'error'
    if (isTokenErrorCode(code)) {
      this.refuseToken(code)
      return
    }
    onError?.({ code, message: error?.message ?? code })
  }

  private emitWithAck<T>(event: string, payload: unknown, onAck: (ack: T) => void): void {
    let done = false
    const timer = setTimeout(() => {
      done = true
    }, ACK_TIMEOUT_MS)
    this.socket.emit(event, payload, (ack: T) => {
      if (done || this.closed) return
      done = true
      clearTimeout(timer)
      if (ack && typeof ack === 'object') onAck(ack)
    })
  }
}

/** Opens the /live namespace on the page's origin; the token is read at every (re)connect. */
export function connectLive(token: () => string | null, events: LiveEvents): LiveClient {
  const socket = io('/live', {
    auth: (cb) => cb({ token: token() ?? '' }),
    // WebSocket first (no long-polling round trips on a wall), polling if a proxy blocks it.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5_000,
  })
  return new LiveClient(socket as unknown as LiveSocket, events)
}
