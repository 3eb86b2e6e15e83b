import { fileURLToPath } from 'node:url'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

// The dashboard: Vite root is web/, the production build goes to web/dist and is served by the
// Fastify server at / (server/plugins/web.ts). In dev, the API and the socket are proxied to a
// server running on :3000 (`npm run serve`).
const server = 'http://127.0.0.1:3000'
const proxy = {
  '/v1': server,
  '/socket.io': { target: server, ws: true },
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The wall's JS budget is checked against this report.
    reportCompressedSize: true,
  },
  server: { proxy },
  preview: { proxy },
})
