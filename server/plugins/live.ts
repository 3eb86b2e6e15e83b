import fp from 'fastify-plugin'

/** Socket.IO live push, namespace /live (issue 4). */
export default fp(async () => {}, { name: 'live', dependencies: ['ingest', 'auth'] })
