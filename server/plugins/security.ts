import fp from 'fastify-plugin'

/** Security headers and CORS (issue 6 fills this in). */
export default fp(async () => {}, { name: 'security' })
