import type { FastifyInstance } from 'fastify'
import type { Namespace, Socket } from 'socket.io'
import type { Reader } from '../auth/tokens.ts'
import { fitsChars, parseTimeParameter } from '../ingest/validate.ts'
import { streamCreator } from '../metrics/streams.ts'
import { type Delivery, type LiveSocketData, tickRoom } from './delivery.ts'
import type { SnapshotBatcher } from './snapshots.ts'
import type { TickEngine } from './ticks.ts'
import type { ViewBalances } from './view-balance.ts'
import { cutWall, readerWallView, readWall, type WallRead, wallRoom } from './wall.ts'

export const LIVE_STEPS = { '1s': 1000, '10s': 10_000, '1m': 60_000 } as const
const MAX_SUBSCRIPTIONS = 20
/** commands of one connection in progress or waiting for it */
const MAX_QUEUED_COMMANDS = 64
/**
 * How long one command may hold its connection's queue: past it the command is answered as
 * failed and the next one runs (a read that hangs must not block the socket for good).
 */
const COMMAND_DEADLINE_MS = 30_000
const VERTICAL_MAX = 64

class DeadlineError extends Error {}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), ms)
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

export interface LiveContext {
  app: FastifyInstance
  balances: ViewBalances
  delivery: Delivery
  watermark: () => number
  ticks: TickEngine
  snapshots: SnapshotBatcher
  /** A recent read of the wall that covered this room, if any. */
  recentWall: (room: string) => WallRead | undefined
  /** A wall view was answered with this message (what its room was last sent, if first). */
  wallAnswered: (room: string, message: unknown) => void
}

type Ack = (answer: unknown) => void
type Failure = { ok: false; error: { code: string; message: string } }

function failure(code: string, message: string): Failure {
  return { ok: false, error: { code, message } }
}

function notVisible(streamId: string): Failure {
  return failure('stream_not_found', `no stream "${streamId}" visible to this token`)
}

export interface SocketState extends LiveSocketData {
  reader: Reader
  /** stream_id → step ms */
  subscriptions: Map<string, number>
  wallRoom: string | null
}

/** A socket no longer watches a stream: out of its room, and nothing held for it is sent. */
async function leaveStream(socket: Socket, state: SocketState, streamId: string): Promise<void> {
  const step = state.subscriptions.get(streamId)
  if (step === undefined) return
  const room = tickRoom(streamId, step)
  const left = socket.leave(room)
  state.subscriptions.delete(streamId)
  state.pending.delete(`tick:${room}`)
  await left
}

/**
 * Ends the subscriptions of creators the stream turns out not to belong to. Access is checked
 * at subscribe; a stream's creator is the one its first `stream_start` by `ts` names (SPEC §3,
 * README), so an earlier `stream_start` arriving late and naming someone else hands the stream
 * over. Before each tick the room's creator sockets are checked against the creator the round
 * read (no query of its own), and another creator's leave the room, told by an `unsubscribed`
 * message.
 */
export function dropOtherCreators(nsp: Namespace, streamId: string, stepMs: number, creatorId: string): void {
  const members = nsp.adapter.rooms.get(tickRoom(streamId, stepMs))
  if (!members) return
  for (const id of [...members]) {
    const socket = nsp.sockets.get(id)
    const state = socket?.data as SocketState | undefined
    if (!socket || !state || state.reader.role !== 'creator' || state.reader.creator_id === creatorId)
      continue
    void leaveStream(socket, state, streamId)
    socket.emit('unsubscribed', { stream_id: streamId, error: notVisible(streamId).error })
  }
}

/** subscribe / unsubscribe / wall (SPEC §5), each answering through its acknowledgement. */
export function registerHandlers(socket: Socket, context: LiveContext): void {
  const state = socket.data as SocketState
  const { app } = context

  // One command at a time per socket, in the order sent: a subscribe still reading its
  // snapshot when the unsubscribe of the same stream comes must not end up subscribed, and
  // concurrent subscribes must not all pass the subscription limit. Other sockets' commands
  // run meanwhile.
  let commands: Promise<void> = Promise.resolve()
  let queued = 0
  const handled = new Set<string>()
  const handle = (event: string, run: (payload: unknown) => Promise<unknown>) => {
    handled.add(event)
    // The acknowledgement is the last argument, whatever comes before it: `wall` may be
    // sent with no payload at all (SPEC §5). Arguments after the first are ignored.
    socket.on(event, (...args: unknown[]) => {
      const last = args[args.length - 1]
      const answer: Ack = typeof last === 'function' ? (last as Ack) : () => {}
      const payload = typeof args[0] === 'function' ? undefined : args[0]
      if (queued >= MAX_QUEUED_COMMANDS) {
        answer(
          failure('too_many_requests', `at most ${MAX_QUEUED_COMMANDS} commands may wait on one connection`),
        )
        return
      }
      queued++
      commands = commands
        .then(() => {
          // (a command that waited for a socket now gone has no one to answer)
          if (!socket.connected) return undefined
          return withDeadline(run(payload), COMMAND_DEADLINE_MS).then(answer, (error) => {
            if (error instanceof DeadlineError) {
              app.log.warn({ event }, 'live command took too long; answered as failed')
              answer(failure('timeout', 'the server took too long to answer; try again'))
              return
            }
            app.log.error({ err: error, event }, 'live handler failed')
            answer(failure('internal', 'the server could not answer; try again'))
          })
        })
        .finally(() => {
          queued--
        })
    })
  }
  // An event the server does not know is answered (when it asks for an answer), not left to
  // the client's timeout.
  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && handled.has(event)) return
    const last = args[args.length - 1]
    if (typeof last === 'function')
      (last as Ack)(
        failure(
          'unknown_command',
          `unknown command ${JSON.stringify(String(event).slice(0, 40))}; the commands are subscribe, unsubscribe and wall`,
        ),
      )
  })

  handle('subscribe', async (payload) => {
    const request = (payload ?? {}) as { stream_id?: unknown; step?: unknown; since?: unknown }
    // Counted in characters, as ingest counts them (SPEC §1).
    if (
      typeof request.stream_id !== 'string' ||
      request.stream_id.length < 1 ||
      !fitsChars(request.stream_id, 128)
    ) {
      return failure('invalid_request', 'stream_id: must be a string of 1 to 128 characters')
    }
    const stepName = request.step ?? '1s'
    // Own keys only: `in` would take "toString" or "__proto__" for a step.
    if (typeof stepName !== 'string' || !Object.hasOwn(LIVE_STEPS, stepName)) {
      return failure('invalid_request', 'step: must be one of 1s, 10s, 1m')
    }
    let since: number | undefined
    if (request.since !== undefined && request.since !== null) {
      try {
        since = parseTimeParameter(request.since)
      } catch {
        return failure('invalid_request', 'since: must be epoch milliseconds or RFC 3339')
      }
    }
    const streamId = request.stream_id
    if (!state.subscriptions.has(streamId) && state.subscriptions.size >= MAX_SUBSCRIPTIONS) {
      return failure('too_many_subscriptions', `a connection may watch at most ${MAX_SUBSCRIPTIONS} streams`)
    }
    const stepMs = LIVE_STEPS[stepName as keyof typeof LIVE_STEPS]
    const reader = state.reader
    // What was acknowledged before this command counts in its answer (as in the HTTP reads):
    // the rollups of the last commits are written a moment after their 200.
    await app.writer.rollupsCaughtUp()
    // A creator may only join the rooms of its own streams: the room is joined before the
    // snapshot is read (below), and any tick in between would reach the socket.
    if (reader.role === 'creator' && (await streamCreator(app.clickhouse, streamId)) !== reader.creator_id) {
      return notVisible(streamId)
    }
    const watermark = context.watermark()
    // Join first: a commit from here on produces a tick for this socket too.
    const previousStep = state.subscriptions.get(streamId)
    if (previousStep !== undefined && previousStep !== stepMs)
      await socket.leave(tickRoom(streamId, previousStep))
    // What was held for this stream is older than the snapshot read below: sent after the
    // answer, it would step the client's last buckets back.
    if (previousStep !== undefined) state.pending.delete(`tick:${tickRoom(streamId, previousStep)}`)
    state.pending.delete(`tick:${tickRoom(streamId, stepMs)}`)
    await socket.join(tickRoom(streamId, stepMs))
    state.subscriptions.set(streamId, stepMs)
    const snapshot = await context.snapshots.get(streamId, stepMs, since)
    const stream = snapshot.stream
    if (!stream || (reader.role === 'creator' && stream.creator_id !== reader.creator_id)) {
      await socket.leave(tickRoom(streamId, stepMs))
      state.subscriptions.delete(streamId)
      return notVisible(streamId)
    }
    const series = snapshot.series!
    return { ok: true, snapshot: { stream, totals: stream.totals, series, watermark } }
  })

  handle('unsubscribe', async (payload) => {
    const streamId = (payload as { stream_id?: unknown } | null)?.stream_id
    if (typeof streamId !== 'string' || streamId.length < 1 || !fitsChars(streamId, 128))
      return failure('invalid_request', 'stream_id: must be a string of 1 to 128 characters')
    await leaveStream(socket, state, streamId)
    return { ok: true }
  })

  handle('wall', async (payload) => {
    if (payload !== undefined && payload !== null && (typeof payload !== 'object' || Array.isArray(payload)))
      return failure('invalid_request', 'the payload must be an object: { vertical?: string }')
    const vertical = (payload as { vertical?: unknown } | null)?.vertical
    if (
      vertical !== undefined &&
      vertical !== null &&
      (typeof vertical !== 'string' || !fitsChars(vertical, VERTICAL_MAX))
    ) {
      return failure('invalid_request', `vertical: must be a string of at most ${VERTICAL_MAX} characters`)
    }
    await app.writer.rollupsCaughtUp()
    const view = readerWallView(state.reader, typeof vertical === 'string' ? vertical : undefined)
    const room = wallRoom(view)
    if (state.wallRoom && state.wallRoom !== room) await socket.leave(state.wallRoom)
    // The answer below supersedes anything held for the old view or this one: sent after
    // it, an old room's message would put another view's streams on the screen.
    if (state.wallRoom) state.pending.delete(`wall:${state.wallRoom}`)
    state.pending.delete(`wall:${room}`)
    await socket.join(room)
    state.wallRoom = room
    const read =
      context.recentWall(room) ?? (await readWall(app.clickhouse, context.balances, app.clock.now(), [view]))
    const message = cutWall(read, view)
    context.wallAnswered(room, message)
    return { ok: true, ...message }
  })
}
