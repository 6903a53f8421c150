#!/usr/bin/env node
// Runs every benchmark in bench/ (each prints its own figures and ratios),
// one after the other, each in its own process. Benchmarks are not tests:
// they never fail on timing.
//
//   node bench/run.mjs                 every benchmark
//   node bench/run.mjs core recovery   those whose file name contains a word
//   node bench/run.mjs --markdown      also print the tables for docs/benchmarks.md
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const here = import.meta.dirname;
const args = process.argv.slice(2).filter((a) => a !== '--');
const markdown = args.includes('--markdown');
const words = args.filter((a) => !a.startsWith('--'));
const scripts = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_') && (words.length === 0 || words.some((w) => f.includes(w))))
  .sort();

const reportFile = join(fs.mkdtempSync(join(tmpdir(), 'unwind-bench-')), 'report.jsonl');
fs.writeFileSync(reportFile, '');
const loadBefore = loadavg();
const started = Date.now();
let failed = 0;
for (const script of scripts) {
  console.log(`\n=== ${script} ===`);
  const result = spawnSync(process.execPath, ['--expose-gc', join(here, script)], { stdio: 'inherit', env: { ...process.env, UNWIND_BENCH_REPORT: reportFile } });
  if (result.status !== 0) {
    failed++;
    console.log(`(${script} exited with ${result.status ?? result.signal})`);
  }
}
const seconds = (Date.now() - started) / 1000;
const loadAfter = loadavg();
const entries = fs.readFileSync(reportFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
fs.rmSync(join(reportFile, '..'), { recursive: true, force: true });

console.log(`\nbenchmarks took ${seconds.toFixed(0)} s; load average ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAfter)} after (${cpus().length} cores)`);
const missingEntries = entries.filter((e) => e.table === 'missing');
for (const m of missingEntries) console.log(`MISSING (${m.script}): ${m.what} — ${m.how}`);

if (markdown) {
  const cell = (value) => String(value).replaceAll('|', '\\|');
  const figures = entries.filter((e) => e.table === 'figures');
  console.log('\n<!-- pnpm bench -- --markdown -->');
  console.log(`Taken ${new Date(started).toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores, load average ${fmtLoad(loadBefore)} at the start and ${fmtLoad(loadAfter)} at the end; ${seconds.toFixed(0)} s in all.\n`);
  console.log('| figure | baseline (same run) | unwind | ratio | goal | met |');
  console.log('|---|---|---|---|---|---|');
  for (const f of figures) console.log(`| ${cell(f.figure)} | ${cell(f.baseline)} | ${cell(f.unwind)} | ${cell(f.ratio)} | ${cell(f.goal)} | ${f.met === undefined ? '–' : f.met ? 'yes' : 'no'} |`);
  const stalls = entries.filter((e) => e.table === 'stalls');
  console.log('\n| operation | longest event-loop stall | duration of the operation |');
  console.log('|---|---|---|');
  for (const s of stalls) console.log(`| ${cell(s.operation)} | ${s.longestMs.toFixed(1)} ms | ${s.seconds.toFixed(2)} s |`);
  for (const m of missingEntries) console.log(`\nNot measured (${m.script}): ${m.what} — ${m.how}`);
}
process.exit(failed ? 1 : 0);

function fmtLoad(load) {
  return load.map((l) => l.toFixed(2)).join(' ');
}
