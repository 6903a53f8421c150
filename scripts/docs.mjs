#!/usr/bin/env node
// Builds the API reference and fails on an undocumented export, or one without an @example.
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
// The site, and its JSON model for the check below.
const model = join(root, 'docs', 'api', 'api.json');
const site = spawnSync(process.execPath, [typedoc, '--out', join(root, 'docs', 'api'), '--json', model], { cwd: root, stdio: 'inherit' });
if (site.status !== 0) process.exit(site.status ?? 1);

// Every export shows how it is used: its comment carries an @example (TypeDoc has no such validation).
const tagsOf = (reflection) => (reflection.comment ?? reflection.signatures?.[0]?.comment)?.blockTags ?? [];
const withoutExample = [];
// A re-export of another package's symbol (e.g. @unwind/cli's renderProgress from @unwind/progress)
// is a reference in the model, without a comment of its own: it is checked where it is declared.
const REFERENCE = 4194304; // TypeDoc's ReflectionKind.Reference
for (const module of JSON.parse(readFileSync(model, 'utf8')).children ?? []) {
  for (const reflection of module.children ?? []) {
    if (reflection.kind === REFERENCE) continue;
    if (!tagsOf(reflection).some((tag) => tag.tag === '@example')) withoutExample.push(`${module.name}: ${reflection.name}`);
  }
}
if (withoutExample.length > 0) {
  console.error(`\n${withoutExample.length} export(s) have no @example in their TSDoc:\n  ${withoutExample.join('\n  ')}`);
  process.exit(1);
}
console.log('✓ every export has an @example');
