import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
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
        const header = request.headers.authorization
        const token = bearer(header)
        if (header && !token) {
          throw new TokenError('token_invalid', 'the Authorization header must be "Bearer <read token>"')
        }
        request.reader = verifyReadToken(token)
      } catch (error) {
        if (error instanceof TokenError) throw new ApiError(401, error.code, error.message)
        throw error
      }
    })
  },
  { name: 'auth' },
)
