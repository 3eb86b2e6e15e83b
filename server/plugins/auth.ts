import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { bearer, type Reader, TokenError, verifyToken } from '../auth/tokens.ts'
import { ApiError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for read endpoints: sets request.reader or answers 401. */
    requireReader: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    verifyReadToken: (token: string | undefined) => Reader
  }
  interface FastifyRequest {
    reader: Reader | null
  }
}

/** Read tokens (SPEC §6): signed, expiring, role ops or creator. */
export default fp(
  async (app) => {
    const verifyReadToken = (token: string | undefined) =>
      verifyToken(app.config.tokenSecret, token, app.clock.now())
    app.decorate('verifyReadToken', verifyReadToken)
    app.decorateRequest('reader', null)
    app.decorate('requireReader', async (request: FastifyRequest) => {
      try {
        request.reader = verifyReadToken(bearer(request.headers.authorization))
      } catch (error) {
        if (error instanceof TokenError) throw new ApiError(401, error.code, error.message)
        throw error
      }
    })
  },
  { name: 'auth' },
)
