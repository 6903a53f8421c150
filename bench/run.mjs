#!/usr/bin/env node
// Runs every benchmark in bench/ (each prints its own figures and ratios).
// Benchmarks are not tests: they never fail on timing.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const only = process.argv[2];
const scripts = readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_') && (!only || f.includes(only))).sort();
let failed = 0;
for (const script of scripts) {
  console.log(`\n=== ${script} ===`);
  const result = spawnSync(process.execPath, ['--expose-gc', join(here, script)], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.log(`(${script} exited with ${result.status ?? result.signal})`);
  }
}
process.exit(failed ? 1 : 0);
