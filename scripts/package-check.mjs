#!/usr/bin/env node
// What a user of the published packages gets: builds every package, packs it
// the way it is published (`pnpm pack`, which turns `workspace:^` into a
// version range), checks each tarball (no workspace: specifier, a LICENSE and
// README, no sourcemaps, no unused CommonJS bin), runs `publint --strict` and
// `attw` on it, then the consumer test (scripts/consumer-test.mjs) installs
// the tarballs into fresh npm and pnpm projects. Exits non-zero on any problem.
import { spawn, spawnSync } from 'node:child_process';
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

// The same, without blocking: packing and attw spend most of their time starting up, so a few run at once.
function runAsync(command, args, options = {}) {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: root, ...options });
    let output = '';
    child.stdout.on('data', (data) => (output += data));
    child.stderr.on('data', (data) => (output += data));
    child.on('error', (error) => done({ ok: false, output: error.message }));
    child.on('close', (code) => done({ ok: code === 0, output: output.trim() }));
  });
}

async function eachPackage(names, work, limit = 4) {
  const queue = [...names];
  const found = [];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) found.push(...(await work(name)));
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return found;
}

async function step(title, work) {
  const started = Date.now();
  process.stdout.write(`• ${title} … `);
  const found = await work();
  process.stdout.write(`${found.length === 0 ? 'ok' : `${found.length} problem(s)`} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  for (const problem of found) console.error(`  ✗ ${problem}`);
  problems.push(...found);
}

const packs = mkdtempSync(join(tmpdir(), 'unwind-packs-'));
try {
  await step('build every package', () => {
    const built = run(pnpm[0], [...pnpm.slice(1), '-r', '--filter', './packages/*', 'run', 'build']);
    return built.ok ? [] : [`the build failed:\n${built.output}`];
  });
  if (problems.length > 0) process.exit(1);

  const tarballs = {};
  await step('pnpm pack every package', () =>
    eachPackage(packages, async (name) => {
      const destination = join(packs, name);
      const packed = await runAsync(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', destination], { cwd: join(root, 'packages', name) });
      const tarball = packed.ok ? readdirSync(destination).find((file) => file.endsWith('.tgz')) : undefined;
      if (!tarball) return [`@unwind/${name}: pnpm pack failed:\n${packed.output}`];
      tarballs[name] = join(destination, tarball);
      return [];
    }),
  );

  await step('tarball contents', () => {
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

  await step('publint --strict', () => {
    const found = [];
    for (const [name, tarball] of Object.entries(tarballs)) {
      const linted = run(bin('publint'), ['--strict', tarball]);
      if (!linted.ok || !/All good!/.test(linted.output)) found.push(`@unwind/${name}:\n${linted.output}`);
    }
    return found;
  });

  // attw on the tarball pnpm packed (`attw --pack` would pack with npm, which keeps workspace: specifiers).
  await step('attw (are the types wrong), every resolution mode', () =>
    eachPackage(Object.keys(tarballs), async (name) => {
      const checked = await runAsync(bin('attw'), ['--format', 'ascii', tarballs[name]]);
      return checked.ok ? [] : [`@unwind/${name}:\n${checked.output}`];
    }),
  );

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
