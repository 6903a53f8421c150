#!/usr/bin/env node
// What a user of the published packages gets: builds every package, packs it
// the way it is published (`pnpm pack`, which turns `workspace:^` into a
// version range), checks each tarball (no workspace: specifier, a LICENSE and
// README, no sourcemaps, no unused CommonJS bin), runs `publint --strict` and
// `attw` on it, then the consumer test (scripts/consumer-test.mjs) installs
// the tarballs into fresh npm and pnpm projects. Exits non-zero on any problem.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const pnpm = ['npx', '--yes', 'pnpm@10.34.8'];
const bin = (name) => join(root, 'node_modules', '.bin', name);
const packages = readdirSync(join(root, 'packages')).sort();
const problems = [];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

function step(title, work) {
  const started = Date.now();
  process.stdout.write(`• ${title} … `);
  const found = work();
  process.stdout.write(`${found.length === 0 ? 'ok' : `${found.length} problem(s)`} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  for (const problem of found) console.error(`  ✗ ${problem}`);
  problems.push(...found);
}

const packs = mkdtempSync(join(tmpdir(), 'unwind-packs-'));
try {
  step('build every package', () => {
    const built = run(pnpm[0], [...pnpm.slice(1), '-r', '--filter', './packages/*', 'run', 'build']);
    return built.ok ? [] : [`the build failed:\n${built.output}`];
  });
  if (problems.length > 0) process.exit(1);

  const tarballs = {};
  step('pnpm pack every package', () => {
    const found = [];
    for (const name of packages) {
      const packed = run(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', packs], { cwd: join(root, 'packages', name) });
      const tarball = readdirSync(packs).find((file) => file.startsWith(`unwind-${name}-`));
      if (!packed.ok || !tarball) found.push(`@unwind/${name}: pnpm pack failed:\n${packed.output}`);
      else tarballs[name] = join(packs, tarball);
    }
    return found;
  });

  step('tarball contents', () => {
    const found = [];
    for (const [name, tarball] of Object.entries(tarballs)) {
      const listed = run('tar', ['-tzf', tarball]);
      const files = listed.output.split('\n').map((line) => line.replace(/^package\//, ''));
      const manifest = run('tar', ['-xzOf', tarball, 'package/package.json']).output;
      if (manifest.includes('workspace:')) found.push(`@unwind/${name}: package.json keeps a workspace: specifier`);
      for (const required of ['LICENSE', 'README.md', 'package.json']) {
        if (!files.includes(required)) found.push(`@unwind/${name}: ${required} is missing`);
      }
      for (const file of files.filter((file) => file.endsWith('.map'))) found.push(`@unwind/${name}: ships a sourcemap (${file})`);
      if (files.includes('dist/bin.cjs')) found.push(`@unwind/${name}: ships an unused dist/bin.cjs`);
      const license = run('tar', ['-xzOf', tarball, 'package/LICENSE']).output;
      if (license !== readFileSync(join(root, 'LICENSE'), 'utf8').trim()) found.push(`@unwind/${name}: LICENSE differs from the repository's`);
    }
    return found;
  });

  step('publint --strict', () => {
    const found = [];
    for (const [name, tarball] of Object.entries(tarballs)) {
      const linted = run(bin('publint'), ['--strict', tarball]);
      if (!linted.ok || !/All good!/.test(linted.output)) found.push(`@unwind/${name}:\n${linted.output}`);
    }
    return found;
  });

  // attw on the tarball pnpm packed (`attw --pack` would pack with npm, which keeps workspace: specifiers).
  step('attw (are the types wrong), every resolution mode', () => {
    const found = [];
    for (const [name, tarball] of Object.entries(tarballs)) {
      const checked = run(bin('attw'), ['--format', 'ascii', tarball]);
      if (!checked.ok) found.push(`@unwind/${name}:\n${checked.output}`);
    }
    return found;
  });

  if (problems.length === 0) {
    const consumer = spawnSync(process.execPath, [join(root, 'scripts', 'consumer-test.mjs'), ...packages.map((name) => tarballs[name])], { cwd: root, stdio: 'inherit' });
    if (consumer.status !== 0) problems.push('the consumer test failed');
  }
} finally {
  rmSync(packs, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`\npackage check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log('\npackage check: every package packs, lints and installs clean');
