#!/usr/bin/env node
// tagpipe CLI launcher: runs the compiled build when installed as a package, the TypeScript sources in a checkout.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
const built = path.join(root, 'dist', 'src', 'cli', 'main.js');
if (fs.existsSync(source) && !process.env.TAGPIPE_USE_DIST) {
  require('tsx/cjs');
  void require(source).main();
} else {
  void require(built).main();
}
