// --json is for programs: every command's output carries `version`, points in
// time are ISO 8601 (null when unknown), and a failed command still prints a
// JSON error object on stdout. Run in-process with runCli, against real journals.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileJournal, JOURNAL_FILE, listTransactionIds, transaction } from '@unwind/core';
import { temporaryDirectory, workspaceRoot, writeMarker } from '@unwind/core/testing';
import { runCli } from '@unwind/cli';
import { fixtures } from './helpers.js';

type Schema = { type?: string | string[]; required?: string[]; properties?: Record<string, Schema>; items?: Schema; const?: unknown; enum?: unknown[]; format?: string };

/** The part of JSON Schema docs/schemas/ uses: type, required, properties, items, const, enum, date-time. Returns the problems. */
function validate(value: unknown, schema: Schema, at = '$'): string[] {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  const types = schema.type === undefined ? undefined : ([] as string[]).concat(schema.type);
  if (types && !types.includes(kind) && !(kind === 'integer' && types.includes('number'))) return [`${at}: ${kind}, expected ${types.join('|')}`];
  if ('const' in schema && value !== schema.const) return [`${at}: ${JSON.stringify(value)}, expected ${JSON.stringify(schema.const)}`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  if (schema.format === 'date-time' && typeof value === 'string' && !ISO.test(value)) return [`${at}: ${value} is not ISO 8601`];
  const problems: string[] = [];
  if (kind === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) problems.push(`${at}.${key}: missing`);
    for (const [key, sub] of Object.entries(schema.properties ?? {})) if (key in object) problems.push(...validate(object[key], sub, `${at}.${key}`));
  }
  if (kind === 'array' && schema.items) (value as unknown[]).forEach((item, index) => problems.push(...validate(item, schema.items!, `${at}[${index}]`)));
  return problems;
}

const schemaOf = (command: string): Schema => JSON.parse(fs.readFileSync(join(workspaceRoot(import.meta.dirname), 'docs', 'schemas', `${command}.json`), 'utf8')) as Schema;

/** Parses a command's JSON output and checks it against docs/schemas/<command>.json. */
function checked(command: string, stdout: string): Record<string, any> {
  const value = JSON.parse(stdout) as Record<string, any>;
  expect(validate(value, schemaOf(command))).toEqual([]);
  return value;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: { write: (t: string) => (stdout += t) } as never, stderr: { write: (t: string) => (stderr += t) } as never, env: { NO_COLOR: '1' } });
  return { code, stdout, stderr };
}

/** A journal root with one committed transaction. */
async function committedRoot(): Promise<{ root: string; id: string; dir: string }> {
  const sandbox = temporaryDirectory('unwind-cli-json-');
  cleanups.push(sandbox.remove);
  const root = join(sandbox.path, 'journal');
  const tx = transaction('install demo', { journal: fileJournal({ root }), handleSignals: false });
  tx.add(writeMarker({ path: join(sandbox.path, 'a.conf'), content: 'a' }));
  expect((await tx.run()).status).toBe('committed');
  return { root, id: listTransactionIds(root)[0]!, dir: sandbox.path };
}

describe('--json output', () => {
  it('status, log, recover and plan carry version 1 and ISO 8601 timestamps', async () => {
    const { root, id, dir } = await committedRoot();
    const status = checked('status', (await cli(['status', '--root', root, '--all', '--json'])).stdout);
    expect(status.version).toBe(1);
    expect(status.transactions[0].startedAt).toMatch(ISO);
    expect(status.transactions[0].lastAt).toMatch(ISO);
    expect(status.transactions[0]).not.toHaveProperty('recoveryWould');

    const log = checked('log', (await cli(['log', '--root', root, id, '--json'])).stdout);
    expect(log.version).toBe(1);
    expect(log.startedAt).toMatch(ISO);
    expect(log.records.map((r: { at: unknown }) => r.at).every((at: unknown) => typeof at === 'string' && ISO.test(at))).toBe(true);

    const recover = checked('recover', (await cli(['recover', '--root', root, '--json'])).stdout);
    expect(recover).toMatchObject({ version: 1, ok: true, exitCode: 0 });

    process.env.PLAN_DIR = dir;
    try {
      const plan = await cli(['plan', join(fixtures, 'plan-module.mjs'), '--json']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(checked('plan', plan.stdout)).toMatchObject({ version: 1, name: 'install demo' });
    } finally {
      delete process.env.PLAN_DIR;
    }
  });

  it('a relative --root is the command\'s working directory\'s (runCli\'s cwd), not the process\'s', async () => {
    const { root, id, dir } = await committedRoot();
    let stdout = '';
    const code = await runCli(['status', '--all', '--root', 'journal', '--json'], { stdout: { write: (t: string) => (stdout += t) } as never, stderr: { write: () => true } as never, env: { NO_COLOR: '1' }, cwd: dir });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ root, transactions: [{ id }] });
  });

  it('every command and the error object have an output schema in docs/schemas, and each requires version', () => {
    for (const name of ['status', 'log', 'recover', 'plan', 'apply', 'error']) expect(validate({}, schemaOf(name))).toContain('$.version: missing');
  });

  it('apply --json --dry-run matches its schema', async () => {
    const sandbox = temporaryDirectory('unwind-cli-json-apply-');
    cleanups.push(sandbox.remove);
    const file = join(sandbox.path, 'tx.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'write one file', steps: [{ kind: 'files.writeFile', args: { path: join(sandbox.path, 'a.conf'), content: 'x' } }] }));
    const applied = await cli(['apply', file, '--root', join(sandbox.path, 'journal'), '--dry-run', '--json']);
    expect(checked('apply', applied.stdout)).toMatchObject({ version: 1, dryRun: true });
  });

  it('apply --json --dry-run on a root holding an unfinished transaction matches its schema, with the refusal\'s cause', async () => {
    const sandbox = temporaryDirectory('unwind-cli-json-apply-');
    cleanups.push(sandbox.remove);
    const root = join(sandbox.path, 'journal');
    const crashed = fileJournal({ root }).begin('crashed'); // begun, never finished: as a killed run leaves it
    crashed.close(false);
    const file = join(sandbox.path, 'tx.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'write one file', steps: [{ kind: 'files.writeFile', args: { path: join(sandbox.path, 'a.conf'), content: 'x' } }] }));
    const applied = await cli(['apply', file, '--root', root, '--dry-run', '--json']);
    expect(applied.code).toBe(5);
    expect(checked('apply', applied.stdout)).toMatchObject({ version: 1, dryRun: true, exitCode: 5, cause: { code: 'UNFINISHED_TRANSACTION', transactionIds: [crashed.id] } });
  });

  it('a failing command prints a JSON error object on stdout (and its message on stderr)', async () => {
    const { root } = await committedRoot();
    const missing = await cli(['log', '--root', root, 'no-such-transaction', '--json']);
    expect(missing.code).toBe(4);
    expect(checked('error', missing.stdout)).toMatchObject({ version: 1, ok: false, exitCode: 4, error: { code: 'CLI_ERROR', name: 'CliError' } });
    expect(missing.stderr).toMatch(/^unwind: error: /);

    const unknownOption = await cli(['status', '--root', root, '--json', '--bogus']);
    expect(unknownOption.code).toBe(4);
    expect(checked('error', unknownOption.stdout)).toMatchObject({ version: 1, ok: false, exitCode: 4, error: { code: 'CLI_ERROR', message: expect.stringContaining('--bogus') } });
  });

  it('status on a journal holding only a torn line says "unknown", never pid 0 or an age from 1970', async () => {
    const { root, id } = await committedRoot();
    fs.writeFileSync(join(root, id, JOURNAL_FILE), '{"v":1,"seq":0,"kind":"beg');
    const text = await cli(['status', '--root', root, '--all']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('started: unknown');
    expect(text.stdout).not.toMatch(/pid 0|\d+ d ago/);

    const json = checked('status', (await cli(['status', '--root', root, '--all', '--json'])).stdout);
    expect(json.transactions[0]).toMatchObject({ id, startedAt: null, pid: null, host: null, ageMs: null });
    expect(JSON.stringify(json)).not.toContain('1970-01-01');
  });
});
