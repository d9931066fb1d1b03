// Builds the demo page into dist/: src/app.js with JsSIP (from npm) bundled by esbuild into one
// script, plus the static files. `npm run build` (scripts/setup.sh runs it when the packages or the
// sources are newer than the bundle).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const src = path.join(__dirname, 'src');
const dist = path.join(__dirname, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
esbuild.buildSync({
  entryPoints: [path.join(src, 'app.js')],
  bundle: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: false,
  legalComments: 'linked',
  outfile: path.join(dist, 'app.js'),
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(src, f), path.join(dist, f));
console.log(`web: built ${path.relative(process.cwd(), dist) || 'dist'}/ (app.js ${fs.statSync(path.join(dist, 'app.js')).size} bytes)`);
