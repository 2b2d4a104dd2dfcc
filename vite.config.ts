import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const repoRoot = fileURLToPath(new URL('.', import.meta.url))

/** Threaded WASM needs a cross-origin isolated page; the server sends the same headers. */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

export default defineConfig({
  root: 'apps/web',
  publicDir: `${repoRoot}public`,
  build: { outDir: `${repoRoot}dist/web`, emptyOutDir: true, target: 'es2022' },
  server: { headers: isolationHeaders, fs: { allow: [repoRoot] } },
  preview: { headers: isolationHeaders },
  optimizeDeps: { include: ['onnxruntime-web', 'onnxruntime-web/wasm'] },
  // The runtime worker imports ORT, which loads its WASM glue with dynamic import(): ES workers only.
  worker: { format: 'es' },
})
