/* global console */
// Prints what a first visit downloads: the JavaScript and CSS that dist/index.html loads before anything runs
// (entry script, module preloads, styles), then the chunks loaded later (charts, workers). Run after `npm run build`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = 'dist';
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = [...html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const sizeOf = (file) => {
  const bytes = readFileSync(join(dist, file));
  return { file, bytes: bytes.length, gzip: gzipSync(bytes).length };
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const rows = initial.map(sizeOf);
const initialJs = rows.filter((r) => r.file.endsWith('.js')).reduce((s, r) => s + r.bytes, 0);
console.log('loaded by index.html:');
for (const r of rows) console.log(`  ${r.file.padEnd(44)} ${kb(r.bytes).padStart(10)}  gzip ${kb(r.gzip)}`);
console.log(`initial JavaScript: ${kb(initialJs)} uncompressed`);
console.log('loaded later (lazy chunks, workers, wasm):');
for (const file of readdirSync(join(dist, 'assets')).sort()) {
  const path = `assets/${file}`;
  if (initial.includes(path) || statSync(join(dist, path)).isDirectory()) continue;
  const r = sizeOf(path);
  console.log(`  ${r.file.padEnd(44)} ${kb(r.bytes).padStart(10)}  gzip ${kb(r.gzip)}`);
}
