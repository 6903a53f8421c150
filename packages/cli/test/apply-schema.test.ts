import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { loadKinds } from '../src/kinds.js';
import { transactionFileSchema } from '../src/apply/schema.js';
import { SCHEMA_ID } from '../src/apply/file-format.js';
import { sampleTransactions, type SamplePlaces, type SampleStep } from './fixtures/apply-samples.js';
import { newSandbox, onCleanup, requireBuilt, runCleanups, unwind } from './helpers.js';
import { writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

const published = [join(import.meta.dirname, '../schema/transaction-file.v1.json'), join(import.meta.dirname, '../../../docs/schemas/transaction-file.v1.json')];

/** Placeholder places: enough for the schema, which checks shapes only. */
const shapesOnly: SamplePlaces = {
  dir: '/tmp/unwind-sample',
  prefix: '/tmp/unwind-sample/prefix',
  loginctl: '/tmp/unwind-sample/loginctl',
  lingerDir: '/tmp/unwind-sample/prefix/var/lib/systemd/linger',
  manager: { scope: 'user', home: '/tmp/unwind-sample/home', runtimeDir: '/tmp/unwind-sample/run', unitDir: '/tmp/unwind-sample/home/.config/systemd/user' },
  unit: 'unwind-sample.service',
  user: 'unwsample',
};

async function schemaValidator() {
  const { kinds, skipped } = await loadKinds();
  expect(skipped).toEqual([]);
  const schema = transactionFileSchema(kinds);
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  return { kinds, schema, validate: ajv.compile(schema) };
}

describe('the JSON Schema of transaction files', () => {
  it('is generated from the codecs, versioned, and the published copies are current', async () => {
    const { schema } = await schemaValidator();
    expect(schema.$id).toBe(SCHEMA_ID);
    expect(SCHEMA_ID).toMatch(/\/v1\.json$/);
    for (const path of published) expect(JSON.parse(fs.readFileSync(path, 'utf8')), `${path} is stale: run node --import tsx packages/cli/scripts/write-schema.ts`).toEqual(schema);
  });

  it('accepts a sample of every shipped step kind, and the samples name every one of them', async () => {
    const { kinds, validate } = await schemaValidator();
    const families = sampleTransactions(shapesOnly);
    const covered = new Set(Object.values(families).flatMap((steps) => steps.map((s) => s.kind)));
    expect([...covered].sort()).toEqual(kinds.map((k) => k.type).sort());
    for (const [family, steps] of Object.entries(families)) {
      const ok = validate({ $schema: SCHEMA_ID, name: `sample ${family}`, steps });
      expect(ok, `${family}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('rejects what apply rejects: an unknown kind, an unknown or mistyped argument, a missing one, a bad option', async () => {
    const { validate } = await schemaValidator();
    const bad: SampleStep[][] = [
      [{ kind: 'files.writeFil', args: { path: '/x', content: '' } }],
      [{ kind: 'files.writeFile', args: { path: '/x', content: '', mdoe: 420 } }],
      [{ kind: 'files.writeFile', args: { path: '/x', content: 42 } }],
      [{ kind: 'files.writeFile', args: { path: '/x' } }],
      [{ kind: 'files.writeFile', args: { path: '/x', content: '', encoding: 'latin1' } }],
    ];
    for (const steps of bad) expect(validate({ name: 'bad', steps }), JSON.stringify(steps)).toBe(false);
    expect(validate({ name: 'bad', timeoutMs: -1, steps: [{ kind: 'systemd.daemonReload' }] })).toBe(false);
    expect(validate({ name: 'ok', timeoutMs: 1000, steps: [{ kind: 'systemd.daemonReload' }] })).toBe(true);
  });
});

/** The stub loginctl of the sandboxes: edits only the sandbox's linger directory. */
function stubLoginctl(path: string, lingerDir: string): void {
  fs.writeFileSync(path, `#!/bin/sh\ncase "$2" in ''|*/*|.*) exit 1 ;; esac\ncase "$1" in\n  enable-linger) : > '${lingerDir}'/"$2" ;;\n  disable-linger) rm -f '${lingerDir}'/"$2" ;;\n  *) exit 1 ;;\nesac\n`, { mode: 0o755 });
}

function realPlaces(): SamplePlaces {
  const s = newSandbox();
  const prefix = join(s.base, 'prefix');
  fs.mkdirSync(join(prefix, 'etc'), { recursive: true });
  for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) {
    fs.copyFileSync(`/etc/${f}`, join(prefix, 'etc', f));
    const st = fs.statSync(`/etc/${f}`);
    fs.chmodSync(join(prefix, 'etc', f), st.mode & 0o7777);
  }
  // Inside the prefix: removeUser on a prefix refuses a linger directory of the machine's.
  const lingerDir = join(prefix, 'var/lib/systemd/linger');
  fs.mkdirSync(lingerDir, { recursive: true });
  const loginctl = join(s.base, 'loginctl');
  stubLoginctl(loginctl, lingerDir);
  fs.mkdirSync(join(s.dir, 'tree'));
  fs.writeFileSync(join(s.dir, 'tree/kept.txt'), 'kept\n');
  fs.mkdirSync(join(s.dir, 'store'), { mode: 0o700 });
  fs.writeFileSync(join(s.dir, 'old.conf'), 'old\n');
  fs.mkdirSync(join(s.dir, 'obsolete'));
  fs.writeFileSync(join(s.dir, 'obsolete/file'), 'gone\n');
  return { ...shapesOnly, dir: s.dir, prefix, loginctl, lingerDir, user: `unwap${process.pid % 10000}` };
}

async function applied(steps: SampleStep[], name: string): Promise<{ status: string; steps: Array<{ type: string; status: string }> }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-kinds-'));
  onCleanup(() => fs.rmSync(base, { recursive: true, force: true }));
  const file = writeTransactionFile(base, `${name}.json`, { name, steps });
  const r = await unwind(['apply', file, '--root', join(base, 'journal'), '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { outcome: { status: string; steps: Array<{ type: string; status: string }> } }).outcome;
}

describe('every shipped files, snapshots, users and linger kind runs through unwind apply (real disk, a prefix root, a stub loginctl)', () => {
  it('files: all eight kinds commit, and did what they say', async () => {
    const p = realPlaces();
    const outcome = await applied(sampleTransactions(p).files, 'files kinds');
    expect(outcome.status).toBe('committed');
    expect(outcome.steps.every((s) => s.status === 'committed')).toBe(true);
    expect(fs.readFileSync(join(p.dir, 'app/app.conf.default'), 'utf8')).toBe('port = 80\n');
    expect(fs.statSync(join(p.dir, 'app/app.conf.default')).mode & 0o777).toBe(0o600);
    expect(fs.readlinkSync(join(p.dir, 'app/current.conf'))).toBe('app.conf');
    expect(fs.readFileSync(join(p.dir, 'app/old.conf'), 'utf8')).toBe('old\n');
    expect(fs.existsSync(join(p.dir, 'obsolete'))).toBe(false);
  });

  it('snapshots: a snapshot commits into its store', async () => {
    const p = realPlaces();
    const outcome = await applied(sampleTransactions(p).snapshots, 'snapshot kind');
    expect(outcome.status).toBe('committed');
    expect(fs.readdirSync(join(p.dir, 'store')).length).toBeGreaterThan(0);
    expect(fs.readFileSync(join(p.dir, 'tree/new.txt'), 'utf8')).toBe('new\n');
  });

  it('users: the five kinds commit in a prefix root; the machine database is untouched', async () => {
    const p = realPlaces();
    const machine = treeState('/etc', { ignore: (path) => !['passwd', 'group', 'shadow', 'gshadow'].includes(path) });
    const outcome = await applied(sampleTransactions(p).users, 'users kinds');
    expect(outcome.status).toBe('committed');
    expect(outcome.steps.map((s) => s.status)).toEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
    expect(fs.readFileSync(join(p.prefix, 'etc/group'), 'utf8')).toMatch(new RegExp(`^${p.user}g:`, 'm'));
    expect(fs.readFileSync(join(p.prefix, 'etc/passwd'), 'utf8')).not.toMatch(new RegExp(`^${p.user}:`, 'm'));
    expect(treeState('/etc', { ignore: (path) => !['passwd', 'group', 'shadow', 'gshadow'].includes(path) })).toEqual(machine);
  });

  it('linger: enable and disable commit through the stub loginctl, in the sandbox only', async () => {
    const p = realPlaces();
    const outcome = await applied(sampleTransactions(p).linger, 'linger kinds');
    expect(outcome.status).toBe('committed');
    expect(fs.readdirSync(p.lingerDir)).toEqual(['root']);
  });
});
