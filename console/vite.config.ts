import path from 'node:path';
import { defineConfig } from 'vite';

// The console: built into dist/console at install time (npm run build), served by the service at /console.
export default defineConfig({
  root: __dirname,
  base: '/console/',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.join(__dirname, '..', 'dist', 'console'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 900,
    reportCompressedSize: true,
  },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
});
