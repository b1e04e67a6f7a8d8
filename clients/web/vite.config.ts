// The bundle is committed (clients/web/dist) and must build byte-identically
// from package-lock.json: no source maps (they hold paths), relative asset
// URLs, content-hashed names, and nothing that depends on the clock.
import { defineConfig } from 'vite'

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
})
