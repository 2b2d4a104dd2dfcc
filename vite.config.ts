import { cpSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'

const repoRoot = fileURLToPath(new URL('.', import.meta.url))

/** Threaded WASM needs a cross-origin isolated page; the server sends the same headers. */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

/** The SDK's entry: served at a fixed path, `/client.js`, so pages can import it by name. */
const SDK_ENTRY = 'client'

/** The examples are plain pages that import `/client.js`: copied as they are, never bundled. */
function copyExamples(): Plugin {
  let outDir = `${repoRoot}dist/web`
  return {
    name: 'cohort-examples',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    closeBundle() {
      cpSync(`${repoRoot}examples`, join(outDir, 'examples'), { recursive: true })
    },
  }
}

export default defineConfig({
  root: 'apps/web',
  publicDir: `${repoRoot}public`,
  build: {
    outDir: `${repoRoot}dist/web`,
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        main: `${repoRoot}apps/web/index.html`,
        [SDK_ENTRY]: `${repoRoot}apps/web/src/client.ts`,
      },
      // The SDK's exports are its API: keep them (an app's entry would otherwise drop them).
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: (chunk) =>
          chunk.name === SDK_ENTRY ? `${SDK_ENTRY}.js` : 'assets/[name]-[hash].js',
      },
    },
  },
  plugins: [copyExamples()],
  server: { headers: isolationHeaders, fs: { allow: [repoRoot] } },
  preview: { headers: isolationHeaders },
  optimizeDeps: { include: ['onnxruntime-web', 'onnxruntime-web/wasm'] },
  // The runtime worker imports ORT, which loads its WASM glue with dynamic import(): ES workers only.
  worker: { format: 'es' },
})
