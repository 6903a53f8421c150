#!/usr/bin/env node
// Builds the API reference and fails on an undocumented export.
// TypeDoc's "not documented" validation only fires reliably with a single
// entry point (with several, it stayed silent on an undocumented export), so
// every entry point is first validated on its own, then the site is built.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
const { entryPoints } = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8'));
let failed = 0;
for (const entry of entryPoints) {
  const result = spawnSync(process.execPath, [typedoc, '--entryPoints', entry, '--emit', 'none', '--logLevel', 'Warn'], { cwd: root, encoding: 'utf8' });
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.status !== 0) {
    failed++;
    console.error(`✗ ${entry}\n${output}`);
  } else console.log(`✓ ${entry}: every export documented`);
}
if (failed) {
  console.error(`\n${failed} entry point(s) have undocumented exports or broken doc links`);
  process.exit(1);
}
const site = spawnSync(process.execPath, [typedoc], { cwd: root, stdio: 'inherit' });
process.exit(site.status ?? 1);
