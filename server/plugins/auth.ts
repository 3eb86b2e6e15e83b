import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ReadGate } from '../auth/read-gate.ts'
import { bearer, type Reader, TokenError, verifyToken } from '../auth/tokens.ts'
import { ApiError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * onRequest hook of the read endpoints: sets request.reader or answers 401, before the
     * query is looked at (a caller without a valid token learns nothing about it).
     */
    requireReader: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    verifyReadToken: (token: string | undefined) => Reader
    /** Each read token's share of the engine over HTTP (see ReadGate). */
    readGate: ReadGate
  }
  interface FastifyRequest {
    reader: Reader | null
    /** Gives the read's ReadGate slot back (once its answer exists: see the onSend hook). */
    releaseRead: (() => void) | null
  }
}

/** Read tokens (SPEC §6): signed, expiring, role ops or creator. */
export default fp(
  async (app) => {
    const verifyReadToken = (token: string | undefined) =>
      verifyToken(app.config.tokenSecret, token, app.clock.now())
    const readGate = new ReadGate()
    const abandoned = app.registry.counter(
      'livewall_read_abandoned_total',
      'Reads whose client left while they waited their turn (not run)',
    )
    app.decorate('verifyReadToken', verifyReadToken)
    app.decorate('readGate', readGate)
    app.decorateRequest('reader', null)
    app.decorateRequest('releaseRead', null)
    // A read's slot is given back when its answer (or its error) is ready, not when its
    // client goes: the read's statements run on after the client left, and a token that
    // asked and hung up over and over would otherwise have any number running at once.
    // (Fastify runs onSend for a request whose client left too, once its handler is done.)
    // A callback hook, not an async one: it runs on every answer, ingest's included.
    app.addHook('onSend', (request, _reply, payload, done) => {
      request.releaseRead?.()
      request.releaseRead = null
      done(null, payload)
    })
    app.decorate('requireReader', async (request: FastifyRequest, reply: FastifyReply) => {
      let token: string | undefined
      try {
        const header = request.headers.authorization
        token = bearer(header)
        if (header && !token) {
          throw new TokenError('token_invalid', 'the Authorization header must be "Bearer <read token>"')
        }
        request.reader = verifyReadToken(token)
      } catch (error) {
        if (error instanceof TokenError) throw new ApiError(401, error.code, error.message)
        throw error
      }
      // One token's reads take turns beyond its share (see ReadGate); the slot is given back
      // when the answer is ready (onSend above).
      const release = await readGate.acquire(token as string)
      if (!release) {
        throw new ApiError(
          429,
          'rate_limited',
          `this token has ${readGate.inFlight} reads running and ${readGate.waiting} more waiting; retry in a moment`,
          { 'retry-after': '1' },
        )
      }
      // A client gone while its read waited: nothing runs for it (had the handler gone on,
      // every waiter of a flood that aborts would have poured into the engine at once).
      const socket = request.raw.socket
      if (!socket || socket.destroyed || request.raw.destroyed || reply.raw.destroyed) {
        release()
        abandoned.inc()
        reply.hijack()
        return reply
      }
      request.releaseRead = release
      // Backstop for an answer written without onSend (Fastify's last-resort error path):
      // 'finish' means a whole answer went out, so it cannot free a read still running.
      reply.raw.once('finish', release)
    })
  },
  { name: 'auth' },
)
