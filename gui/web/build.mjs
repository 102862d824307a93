// Builds the page into dist/: one bundled, minified script and style sheet, and index.html.
// `cargo xtask build-ui` runs this; release builds of keeperdb embed dist/.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

await rm('dist', { recursive: true, force: true });
await mkdir('dist/assets', { recursive: true });
await build({
  entryPoints: { app: 'src/main.tsx' },
  outdir: 'dist/assets',
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.css': 'css' },
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile('index.html', 'dist/index.html');
await copyFile('icon.svg', 'dist/assets/icon.svg');
