import fp from 'fastify-plugin'
import { Server } from 'socket.io'
import { TokenError } from '../auth/tokens.ts'
import { Delivery } from '../live/delivery.ts'
import { dropOtherCreators, registerHandlers, type SocketState } from '../live/handlers.ts'
import { SnapshotBatcher } from '../live/snapshots.ts'
import { TickEngine } from '../live/ticks.ts'
import { ViewBalances } from '../live/view-balance.ts'
import { cutWall, readWall, type WallRead, wallViewOf } from '../live/wall.ts'

declare module 'fastify' {
  interface FastifyInstance {
    io: Server
  }
}

const WALL_INTERVAL_MS = 1000
/** Even with no commit, the wall is re-read this often (streams go quiet and end). */
const WALL_REFRESH_MS = 10_000
const STEPS = [1000, 10_000, 60_000]

/**
 * Socket.IO on the same server, namespace /live (SPEC §5). Everything here is derived
 * from ClickHouse or from Socket.IO's rooms (which its Redis adapter shares between
 * processes); the only process-local inputs are the commit notices of this process's
 * writer — with several processes, publish those on a shared channel instead.
 */
/** Longest a group commit waits for the tick round of the previous commit. */
const LIVE_GATE_MAX_MS = 75

export default fp(
  async (app) => {
    const io = new Server(app.server, {
      path: '/socket.io',
      serveClient: false,
      // Clients send small commands only.
      maxHttpBufferSize: 64 * 1024,
      perMessageDeflate: false,
      pingInterval: 10_000,
      pingTimeout: 10_000,
      connectTimeout: 10_000,
      cors: app.config.corsOrigins.length > 0 ? { origin: app.config.corsOrigins } : undefined,
    })
    const nsp = io.of('/live')
    // (read in each tick round)
    const balances = new ViewBalances(app.clickhouseFirst)
    const delivery = new Delivery(nsp)
    const ticksSent = app.registry.counter(
      'livewall_live_ticks_total',
      'Ticks sent (one per stream, step and round)',
    )
    app.registry.gauge('livewall_live_sockets', 'Connected /live sockets', () => nsp.sockets.size)
    app.registry.gauge(
      'livewall_live_viewer_balances',
      'Streams whose viewer balance (online, peak) is cached for the live push',
      () => balances.size,
    )
    app.registry.counterFrom(
      'livewall_live_held_total',
      'Ticks and wall messages held back for sockets whose transport was busy',
      () => delivery.held,
    )

    const roundSeconds = app.registry.histogram(
      'livewall_live_round_seconds',
      'Duration of a tick round (read all dirty streams, send)',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    )
    const lagSeconds = app.registry.histogram(
      'livewall_live_commit_to_tick_seconds',
      "From a commit's rollups written (a moment after its answer) to the ticks that carry it being sent",
      [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2],
    )
    const ticks = new TickEngine({
      // (a round goes before waiting reads: the push's 250 ms is from the ack)
      client: app.clickhouseFirst,
      balances,
      now: () => app.clock.now(),
      minIntervalMs: 50,
      stepsOf: (streamId) => STEPS.filter((step) => nsp.adapter.rooms.has(`tick:${step}:${streamId}`)),
      deliver: (payload, creatorId) => {
        ticksSent.inc()
        dropOtherCreators(nsp, payload.stream_id, payload.step_ms, creatorId)
        delivery.tick(payload)
      },
      onError: (err) => app.log.warn({ err }, 'live tick round failed; it will be retried'),
      observe: (round, lag) => {
        roundSeconds.observe(round)
        lagSeconds.observe(lag)
      },
    })

    const snapshots = new SnapshotBatcher({
      // (in turn with the tick rounds: a round that overtook a snapshot's read sent ticks
      // older than the snapshot with a newer watermark, and numbers stepped back)
      client: app.clickhouseFirst,
      balances,
      ticks,
      now: () => app.clock.now(),
    })

    /**
     * The timer's last read, which a `wall` command of one of its rooms may answer from while
     * no commit notice came after it started (`commits` then: the notices so far).
     */
    let lastRead: { at: number; read: WallRead; rooms: Set<string>; commits: number } | undefined
    /** Commit notices so far. */
    let commitsNoticed = 0
    /** The notices counted when the timer's last read began (-1: none yet, or it failed). */
    let readFrom = -1
    let wallReadAt = 0
    let wallRunning = false
    const lastWall = new Map<string, string>()
    // When the last wall messages went out: SPEC §5 allows one per second.
    let wallPushedAt = 0
    const wallTimer = setInterval(async () => {
      const rooms = [...nsp.adapter.rooms.keys()].filter((r) => r.startsWith('wall:'))
      for (const room of lastWall.keys()) if (!rooms.includes(room)) lastWall.delete(room)
      if (wallRunning || rooms.length === 0) return
      // (nothing committed since the last read began: read again only to refresh)
      if (readFrom === commitsNoticed && Date.now() - wallReadAt < WALL_REFRESH_MS) return
      wallRunning = true
      const commits = commitsNoticed
      readFrom = commits
      wallReadAt = Date.now()
      try {
        // (the push of every open wall, once a second: before reads clients asked for)
        const read = await readWall(app.clickhouseFirst, balances, app.clock.now(), rooms.map(wallViewOf))
        lastRead = { at: Date.now(), read, rooms: new Set(rooms), commits }
        const changed: [string, unknown][] = []
        for (const room of rooms) {
          const message = cutWall(read, wallViewOf(room))
          const text = JSON.stringify(message)
          if (lastWall.get(room) === text) continue
          lastWall.set(room, text)
          changed.push([room, message])
        }
        // Rounds start a second apart, but a read can take longer than the next one.
        const wait = wallPushedAt + WALL_INTERVAL_MS - Date.now()
        if (changed.length > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        for (const [room, message] of changed) delivery.wall(room, message)
        if (changed.length > 0) wallPushedAt = Date.now()
      } catch (err) {
        readFrom = -1
        app.log.warn({ err }, 'wall read failed; retrying')
      } finally {
        wallRunning = false
      }
    }, WALL_INTERVAL_MS)
    wallTimer.unref()

    const onCommit = (notice: Parameters<TickEngine['onCommit']>[0]) => {
      commitsNoticed++
      ticks.onCommit(notice)
    }
    app.commits.on('commit', onCommit)
    // The next group commit waits (at most this long) for the round that reads the last
    // one: its engine session runs one statement at a time, and a round queued behind an INSERT
    // took 0.25–0.5 s at 20 000 events/s. A round of 50 streams reads in ~10–40 ms.
    app.writer.addGate(() => ticks.idle(LIVE_GATE_MAX_MS))

    nsp.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token
      try {
        // A token that is there but not a string is a wrong token, not a missing one.
        if (token !== undefined && token !== null && typeof token !== 'string')
          throw new TokenError('token_invalid', 'auth.token must be the read token, a string')
        const reader = app.verifyReadToken(typeof token === 'string' ? token : undefined)
        const state: SocketState = { reader, subscriptions: new Map(), wallRoom: null, pending: new Map() }
        socket.data = state
        next()
      } catch (error) {
        if (error instanceof TokenError) {
          const refusal = new Error(error.code) as Error & { data?: unknown }
          refusal.data = { code: error.code, message: error.message }
          next(refusal)
        } else {
          app.log.error({ err: error }, 'live handshake failed')
          next(new Error('the server could not check the token; try again'))
        }
      }
    })

    nsp.on('connection', (socket) => {
      const state = socket.data as SocketState
      // A socket lives only as long as its token: cut it off when the token expires. A timer
      // waits at most 2^31 − 1 ms (24.8 days) and a token may last a year: a timer that fires
      // before the expiry waits again.
      const untilExpiry = () => Math.min(state.reader.expires_at - app.clock.now(), 2 ** 31 - 1)
      const expireAtDeadline = () => {
        if (untilExpiry() > 0) {
          expiry = setTimeout(expireAtDeadline, untilExpiry())
          return
        }
        socket.emit('session_expired', { message: 'the read token has expired; ask for a new link' })
        socket.disconnect(true)
      }
      let expiry = setTimeout(expireAtDeadline, Math.max(0, untilExpiry()))
      const unwatch = delivery.watch(socket)
      socket.on('disconnect', () => {
        clearTimeout(expiry)
        unwatch()
      })
      registerHandlers(socket, {
        app,
        balances,
        delivery,
        ticks,
        snapshots,
        watermark: () => ticks.snapshotWatermark(),
        // The first member of a wall room has its view in the ack: the next round sends
        // the room only what changed since. (A room with members keeps what they were sent.)
        // A screen's probe, a wall of screens reconnecting: answered from the last read when
        // it is under a second old and covered this room, not by a read each (all live streams).
        // (never once a commit came after it began: a producer's acknowledged events must
        // show. Its own count, not `readFrom`: the next read moves that as it starts, while
        // this read is still the last.)
        recentWall: (room) =>
          lastRead &&
          lastRead.commits === commitsNoticed &&
          Date.now() - lastRead.at < WALL_INTERVAL_MS &&
          lastRead.rooms.has(room)
            ? lastRead.read
            : undefined,
        wallAnswered: (room, message) => {
          if (!lastWall.has(room)) lastWall.set(room, JSON.stringify(message))
        },
      })
    })

    app.decorate('io', io)
    app.addHook('preClose', async () => {
      ticks.close()
      clearInterval(wallTimer)
      app.commits.off('commit', onCommit)
      nsp.disconnectSockets(true)
      io.engine.close()
    })
  },
  { name: 'live', dependencies: ['ingest', 'auth'] },
)
