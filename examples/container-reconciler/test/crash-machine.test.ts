// The command line SIGKILLed after a journal record, then `container-reconciler recover` as a
// user runs it, inside a throw-away machine (systemd as PID 1, real logind, linger,
// user@UID.service, the machine's own /etc): on quadlet-deploy's inputs — a local bare git
// repository fetched with the real `git`, Quadlet files at the top and in a transform
// sub-directory — at the records of the fetch of the desired state (a first clone, and a fetch
// into the checkout) and of a Quadlet container's creation, update and removal. Each time: the
// machine as before the run (past the commit point: as after a whole run), and a second
// recovery finds nothing.
// The test Quadlet generator stands in for podman's (Debian 12's podman 4.3 has none).
// Each kill point costs seconds (a whole command line, twice recovered), so a seeded sample
// runs by default; UNWIND_KILL_POINTS=0 runs every record (UNWIND_KILL_SCENARIO=update,remove:
// of those scenarios only).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalRecord } from '@unwind/core';
import { bootMachine, cannotBootMachine, temporaryDirectory, type Machine } from '@unwind/core/testing';
import { crashMachine, sampleFor } from './crash-machine-kills.js';
import { machineStart } from './machine-bundle.js';
import { container, inMachine, main, repoRoot, syncOptions } from './machine-desired.js';

const hooksChild = join(import.meta.dirname, 'fixtures', 'cli-hooks-child.ts');
const FETCH = 'fetch the desired state (main)';
/** api, in quadlet-deploy's tailnet transform sub-directory. */
const API = '[Container]\nImage=docker.io/library/api:1\nExec=/bin/sleep infinity\n';
/** api's next version: another image and another command, so the process it runs tells the two apart. */
const API_2 = '[Container]\nImage=docker.io/library/api:2\nExec=/bin/sleep 31536000\n';

let machine: Machine;
let m: ReturnType<typeof inMachine>;
let work: ReturnType<typeof temporaryDirectory>;
let k: ReturnType<typeof crashMachine>;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  // The state directories (journal, checkout) are on the host too, so the test reads the journals.
  work = temporaryDirectory('unwind-cr-crash-machine-');
  // The command line and the hooks child bundled once (see machine-bundle.ts).
  const [startMain, startHooks] = await Promise.all([machineStart(main, work.path), machineStart(hooksChild, work.path)]);
  machine = await bootMachine({ bind: [repoRoot, work.path] });
  k = crashMachine(machine, { main: startMain, hooksChild: startHooks });
  m = inMachine(machine);
  m.setUp();
  m.installGenerator();
}, 120_000);
afterAll(async () => {
  await machine?.stop();
  work?.remove();
});

/** The last lines the machine's journal has of user managers, their runtime directories and logind. */
function managersLog(): string {
  const r = machine.run(['journalctl', '-b', '--no-pager', '-n', '120', '-u', 'user@*.service', '-u', 'user-runtime-dir@*.service', '-u', 'systemd-logind.service']);
  return `${r.stdout}${r.stderr}`;
}

describe('container-reconciler SIGKILLed at journal records on quadlet-deploy inputs, then `container-reconciler recover` (throw-away machine)', () => {
  const STATE = () => join(work.path, 'state');
  let oldTree = '';
  let newTree = '';
  /** The records of a fetch of the desired state (from the clean run's journal). */
  let fetchRecords: JournalRecord[] = [];
  /** The steps of api's creation, in order (from the clean run's journal). */
  let createSteps: string[] = [];
  /** The machine with api desired but not deployed. */
  let withoutApi = '';

  it('the fetch of the desired state, a first clone: no checkout, or past the commit point the clean checkout; no container touched', () => {
    oldTree = m.commit({ 'web.container': container('web', 'Volume=web.volume:/data\n'), 'web.volume': '[Volume]\n' });
    // The clean run: its fetch is a first clone (the records), then web is deployed.
    const deployed = k.sync(STATE());
    expect(deployed.code, `${deployed.stdout}\n${deployed.stderr}`).toBe(0);
    expect(deployed.stdout).toMatch(/created +web: created/);
    fetchRecords = k.recordsOf(STATE(), FETCH);
    const after = k.machineState(STATE(), ['web']);
    expect(after).toContain(`${oldTree}\n`);
    // The kills: in another state directory, no checkout yet, so each run's first transaction clones.
    const state = join(work.path, 'first-clone');
    const reset = () => fs.rmSync(join(state, 'repo'), { recursive: true, force: true });
    const before = k.machineState(state, ['web']);
    expect(before).toContain('no checkout');
    const { run, pastCommit } = k.killAtRecords({ state, transaction: FETCH, containers: ['web'], reset, checkout: true }, fetchRecords, before, after);
    expect(run).toBeGreaterThan(0);
    console.log(`first clone: ${fetchRecords.length} records, ${run} killed, ${pastCommit} past the commit point`);
  }, 900_000);

  it('the fetch into the checkout: back on the commit it had, or past the commit point on the new tip; no container touched', () => {
    // The same one step as a first clone, so the same records (begin, prepared, done, verified, commit-point, end).
    expect(fetchRecords.map((r) => r.kind)).toEqual(['begin', 'prepared', 'done', 'verified', 'commit-point', 'end']);
    const before = k.machineState(STATE(), ['web', 'api']);
    const oldHead = m.ok(['git', '-C', join(STATE(), 'repo'), 'rev-parse', 'HEAD']);
    newTree = m.commit({ 'tailnet/api.container': API });
    // Past the commit point: the checkout on the new tip, nothing else changed (the kill came before any container's transaction).
    const after = before.replace(`${oldTree}\n`, `${newTree}\n`);
    expect(after).not.toBe(before);
    // The checkout back on the commit it had (its remote-tracking ref, a cache, stays on the tip).
    const reset = () => m.ok(['git', '-C', join(STATE(), 'repo'), 'reset', '--quiet', '--hard', oldHead]);
    const { run, pastCommit } = k.killAtRecords({ state: STATE(), transaction: FETCH, containers: ['web', 'api'], reset, checkout: true }, fetchRecords, before, after);
    expect(run).toBeGreaterThan(0);
    console.log(`fetch into the checkout: ${fetchRecords.length} records, ${run} killed, ${pastCommit} past the commit point`);
  }, 900_000);

  it("a Quadlet container's creation (a transform sub-directory): no user, files, linger or manager of it, or past the commit point all of them, its unit active", () => {
    // The clean run: the records of api's creation, and the after-state.
    const created = k.sync(STATE());
    expect(created.code, `${created.stdout}\n${created.stderr}`).toBe(0);
    expect(created.stdout).toMatch(/created +api: created/);
    const transaction = 'containers: create api';
    const records = k.recordsOf(STATE(), transaction);
    createSteps = records.filter((r) => r.kind === 'prepared').map((r) => (r as JournalRecord & { description: string }).description);
    expect(records.length).toBeGreaterThan(20);
    const after = k.machineState(STATE(), ['web', 'api'], false);
    expect(after).toMatch(/ActiveState=active\nSourcePath=\/home\/api\/\.config\/containers\/systemd\/api\.container/);
    /** Back to no api: a commit without it and a run that removes it, then the same desired tree as before pushed again. */
    const reset = () => {
      m.commit({ 'tailnet/api.container': null });
      const removed = k.sync(STATE());
      expect(removed.stdout, removed.stderr).toMatch(/removed +api/);
      expect(m.commit({ 'tailnet/api.container': API })).toBe(newTree);
    };
    reset();
    const before = k.machineState(STATE(), ['web', 'api'], false);
    expect(before).not.toMatch(/api\.service/);
    withoutApi = before;
    const { run, pastCommit } = k.killAtRecords({ state: STATE(), transaction, containers: ['web', 'api'], reset, checkout: false }, records, before, after);
    expect(run).toBeGreaterThan(0);
    console.log(`Quadlet creation: ${records.length} records, ${run} killed, ${pastCommit} past the commit point`);
  }, 1_800_000);

  it("a failure after each step of a Quadlet container's creation: exit 1, that container rolled back — no user, files, linger or manager of it — the other untouched", () => {
    expect(createSteps.length).toBeGreaterThan(10);
    // As the kills above left it: api desired, not deployed (each kill recovered, or reset).
    const before = k.machineState(STATE(), ['web', 'api'], false);
    expect(before).toBe(withoutApi);
    const { chosen, seed } = sampleFor('containers: create api', createSteps.map((_, i) => i + 1));
    console.log(`failure points [containers: create api]: after ${chosen.length} of its ${createSteps.length} steps (${chosen.join(', ')}; seed ${seed}; UNWIND_KILL_POINTS=0 runs all)`);
    for (const step of chosen) {
      const failed = k.cli(syncOptions(STATE()), { failAfter: { key: 'api', step } });
      expect(failed.code, `after step ${step} (${createSteps[step - 1]}): ${failed.stdout}\n${failed.stderr}`).toBe(1);
      // A unit start that fails inside the machine is not this test's subject: its log says why.
      if (!new RegExp(`failed +api: create failed at step ${step + 1} `).test(failed.stdout)) expect.fail(`after step ${step}: ${failed.stdout}\n--- the machine's log of the user managers and logind ---\n${managersLog()}`);
      expect(failed.stdout).toContain(`injected failure after step ${step}`);
      expect(failed.stdout).toContain('rolled back, this item is as it was before');
      expect(failed.stdout).toMatch(/unchanged +web/);
      expect(k.machineState(STATE(), ['web', 'api'], false), `after step ${step} (${createSteps[step - 1]})`).toBe(before);
    }
  }, 1_800_000);

  it("a Quadlet container's update (a transform sub-directory): its file, generated unit and running command as before, or past the commit point the new ones", () => {
    // api deployed as the kills above left it desired (API), then API_2 pushed: the clean run's records and after-state.
    const created = k.sync(STATE());
    expect(created.stdout, created.stderr).toMatch(/created +api: created/);
    const transaction = 'containers: update api';
    const newerTree = m.commit({ 'tailnet/api.container': API_2 });
    const updated = k.sync(STATE());
    expect(updated.code, `${updated.stdout}\n${updated.stderr}`).toBe(0);
    expect(updated.stdout).toMatch(/updated +api/);
    expect(updated.stdout).toMatch(/unchanged +web/);
    const records = k.recordsOf(STATE(), transaction);
    const after = k.machineState(STATE(), ['web', 'api'], false);
    expect(after).toContain('api runs: /bin/sleep 31536000 \n');
    /** Back to api's first version: it pushed again and a run that updates api back, then API_2 pushed again. */
    const reset = () => {
      expect(m.commit({ 'tailnet/api.container': API })).toBe(newTree);
      const back = k.sync(STATE());
      expect(back.stdout, back.stderr).toMatch(/updated +api/);
      expect(m.commit({ 'tailnet/api.container': API_2 })).toBe(newerTree);
    };
    reset();
    const before = k.machineState(STATE(), ['web', 'api'], false);
    expect(before).toContain('api runs: /bin/sleep infinity \n');
    // Always killed: right after the restart, before the commit point. The restart's undo ran while the new file was
    // still loaded and left the unit up, running API_2's command under API's file (fixed by systemd.restartOnRollback).
    const restartStep = records.find((r) => r.kind === 'prepared' && r.type === 'systemd.restart');
    const restarted = records.find((r) => r.kind === 'done' && restartStep?.kind === 'prepared' && r.step === restartStep.step);
    expect(restarted, 'the restart of api in the update').toBeDefined();
    const { run, pastCommit } = k.killAtRecords({ state: STATE(), transaction, containers: ['web', 'api'], reset, checkout: false }, records, before, after, [restarted!.seq]);
    expect(run).toBeGreaterThan(0);
    console.log(`Quadlet update: ${records.length} records, ${run} killed, ${pastCommit} past the commit point`);
  }, 1_800_000);

  it("a container's removal (its file deleted from the repository): unit, files, linger, manager, user and home as before, or past the commit point all gone", () => {
    // As the update's kills left it: API_2 desired, api deployed with API (each kill rolled back); a run deploys API_2.
    // Then its file deleted: the clean run's records and after-state.
    const deployed = k.sync(STATE());
    expect(deployed.code, `${deployed.stdout}\n${deployed.stderr}`).toBe(0);
    const withApi = k.machineState(STATE(), ['web', 'api'], false);
    expect(withApi).toContain('api runs: /bin/sleep 31536000 \n');
    const transaction = 'containers: remove api';
    const withoutTree = m.commit({ 'tailnet/api.container': null });
    const removed = k.sync(STATE());
    expect(removed.code, `${removed.stdout}\n${removed.stderr}`).toBe(0);
    expect(removed.stdout).toMatch(/removed +api/);
    const records = k.recordsOf(STATE(), transaction);
    const after = k.machineState(STATE(), ['web', 'api'], false);
    expect(after).not.toMatch(/api\.service|\/home\/api/);
    /** Back to api deployed: its file pushed again and a run that creates it, then the file deleted again. */
    const reset = () => {
      m.commit({ 'tailnet/api.container': API_2 });
      const again = k.sync(STATE());
      expect(again.stdout, again.stderr).toMatch(/created +api: created/);
      expect(m.commit({ 'tailnet/api.container': null })).toBe(withoutTree);
    };
    reset();
    const before = k.machineState(STATE(), ['web', 'api'], false);
    expect(before).toContain('api runs: /bin/sleep 31536000 \n');
    const { run, pastCommit } = k.killAtRecords({ state: STATE(), transaction, containers: ['web', 'api'], reset, checkout: false }, records, before, after);
    expect(run).toBeGreaterThan(0);
    console.log(`removal: ${records.length} records, ${run} killed, ${pastCommit} past the commit point`);
  }, 1_800_000);
});
