#!/usr/bin/env node
// The consumer test: installs the packed tarballs (given as arguments, by
// scripts/package-check.mjs) into a fresh project with npm and one with pnpm
// — the packages from the tarballs, third-party dependencies from the
// registry — then type-checks scripts/consumer/installer.ts as ESM (.mts) and
// CommonJS (.cts), strict and without skipLibCheck, under `node16` and
// `bundler` resolution (and as CommonJS under `node10`), runs both builds, and
// runs the framework-free test helpers under node:test. Exits non-zero on any problem.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const fixture = join(import.meta.dirname, 'consumer');
const tarballs = process.argv.slice(2);
if (tarballs.length === 0) {
  console.error('usage: consumer-test.mjs <unwind-*.tgz>…  (scripts/package-check.mjs packs and passes them)');
  process.exit(64);
}
const nameOf = (tarball) => `@unwind/${/^unwind-(.+)-\d+\.\d+\.\d+.*\.tgz$/.exec(basename(tarball))[1]}`;
const local = Object.fromEntries(tarballs.map((tarball) => [nameOf(tarball), `file:${tarball}`]));
const problems = [];

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  return { ok: result.status === 0, stdout: result.stdout ?? '', output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

// No package's public types may name a third-party module the consumer did not
// install itself (e.g. 'debug', whose types are a separate @types package).
for (const tarball of tarballs) {
  const types = run('tar', ['-xzOf', tarball, '--wildcards', 'package/dist/*.d.ts'], root).output;
  const foreign = [...types.matchAll(/from ['"](debug|p-retry)['"]/g)].map((match) => match[1]);
  if (foreign.length > 0) problems.push(`${nameOf(tarball)}: its public types import ${[...new Set(foreign)].join(', ')}`);
}

const guide = readFileSync(join(root, 'docs', 'writing-a-step-kind.md'), 'utf8');
const guideKind = /```ts\n(\/\/ append-line\.ts\n[\s\S]*?)```/.exec(guide)?.[1];
if (!guideKind) {
  console.error('docs/writing-a-step-kind.md has no `// append-line.ts` block');
  process.exit(1);
}

const devDependencies = { typescript: '5.9.3', '@types/node': '20.19.43' };
const managers = {
  npm: {
    manifest: { dependencies: local, devDependencies, overrides: Object.fromEntries(Object.keys(local).map((name) => [name, `$${name}`])) },
    install: ['npm', ['install', '--no-audit', '--no-fund', '--loglevel=error']],
  },
  pnpm: {
    manifest: { dependencies: local, devDependencies, pnpm: { overrides: local } },
    install: ['npx', ['--yes', 'pnpm@10.34.8', 'install', '--reporter=append-only']],
  },
};

for (const [manager, { manifest, install }] of Object.entries(managers)) {
  const project = mkdtempSync(join(tmpdir(), `unwind-consumer-${manager}-`));
  const check = (what, result, expected) => {
    const passed = result.ok && (!expected || result.stdout.includes(expected));
    console.log(`  ${passed ? '✓' : '✗'} ${manager}: ${what}`);
    if (!passed) problems.push(`${manager}: ${what}\n${result.output}`);
    return passed;
  };
  try {
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `unwind-consumer-${manager}`, version: '1.0.0', private: true, ...manifest }, null, 2));
    copyFileSync(join(fixture, 'installer.ts'), join(project, 'installer.mts'));
    copyFileSync(join(fixture, 'installer.ts'), join(project, 'installer.cts'));
    copyFileSync(join(fixture, 'installer.ts'), join(project, 'installer-node10.ts'));
    copyFileSync(join(fixture, 'node-test.mjs'), join(project, 'node-test.mjs'));
    for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json', 'tsconfig.node10.json']) copyFileSync(join(fixture, config), join(project, config));
    // The step-kind guide's kind, verbatim: it imports its codecs from @unwind/core, so it needs no io-ts of its own.
    writeFileSync(join(project, 'append-line.mts'), guideKind);

    if (!check(`installs the tarballs (${Object.keys(local).length} packages)`, run(install[0], install[1], project))) continue;
    check('no test framework installed (the framework-free helpers need none)', { ok: !existsSync(join(project, 'node_modules', 'vitest')), stdout: '', output: 'vitest is installed' });
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    check('type-checks and builds ESM and CJS: strict, no skipLibCheck, node16', run(process.execPath, [tsc, '-p', 'tsconfig.node16.json'], project));
    check('type-checks ESM and CJS: strict, no skipLibCheck, bundler', run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], project));
    check('type-checks as CommonJS under node10 resolution (subpaths through typesVersions)', run(process.execPath, [tsc, '-p', 'tsconfig.node10.json'], project));
    check('the framework-free helpers run under node:test', run(process.execPath, ['--test', 'node-test.mjs'], project), 'pass 2');
    const done = 'installer: committed, rolled back, recovered';
    check('runs as ESM', run(process.execPath, [join(project, 'out', 'installer.mjs')], project), done);
    check("the guide's step kind (codecs from @unwind/core) builds and loads", run(process.execPath, ['--input-type=module', '-e', "const m = await import('./out/append-line.mjs'); if (m.appendLine?.type !== 'myapp.appendLine') throw new Error('no appendLine kind'); console.log('loaded')"], project), 'loaded');
    check('io-ts is not a direct dependency of the project', { ok: !/io-ts/.test(readFileSync(join(project, 'package.json'), 'utf8')), stdout: '', output: 'io-ts is in package.json' });
    check('runs as CommonJS', run(process.execPath, [join(project, 'out', 'installer.cjs')], project), done);
    check('the installed `unwind` command runs', run(join(project, 'node_modules', '.bin', 'unwind'), ['--version'], project), '.');
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`✗ ${problem}`);
  process.exit(1);
}
console.log('consumer test: npm and pnpm projects install, type-check and run the installer');
