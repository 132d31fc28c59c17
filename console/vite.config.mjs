// The console's front end: console/ → dist/console-ui/ (dist/console/ holds the compiled server side) (served by the console listener, no CDN).
// No inline script or style is emitted, so the console's CSP needs no 'unsafe-inline'.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: path.join(here, '..', 'dist', 'console-ui'),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
