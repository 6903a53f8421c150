/**
 * Kill points of systemd.enable, systemd.mask and systemd.disable on another
 * user's real manager: a machine user's user@UID.service, reached with
 * `--machine=USER@` (scope `{ user }`). SIGKILL the transaction after each
 * of its mutating operations in turn — each systemctl's end, every
 * file-system call of the journal and of the steps — and inside each
 * systemctl before each message it sends (strace, `sendmsg`: for disable,
 * between `DisableUnitFiles` and `Reload`), then recover() in this process:
 * what the user's manager says of each unit (`systemctl is-enabled`) and
 * the whole of the user's unit directory (files, links, directories) are
 * exactly as before (or after, past the commit point), and a second
 * recover() changes nothing. The unit to mask is a vendor unit
 * (/usr/lib/systemd/user): a unit whose file lives in ~/.config/systemd/user
 * cannot be masked there. The system manager's version is
 * kill-points-manager.test.ts. It creates a real account, so it runs in the
 * machine project (files one after another): a seeded sample of 4 points per
 * transaction runs in the test command; UNWIND_KILL_SEED replays another,
 * UNWIND_KILL_POINTS=0 runs all.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { killAtEveryOperation, temporaryDirectory, testKinds, type KillWorld, type MachineUser, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { uniqueUnit } from './fixture.js';
import { placeSystemctl, startManagerOf } from './lifecycle-kill-world.js';
import { machineUserPlace, type UserPlace } from './machine-user-place.js';

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];
/** Where a package would put a user unit: read by every user's manager, never written by systemctl --user. */
const VENDOR_UNITS = '/usr/lib/systemd/user';
const unitFile = `[Unit]\nDescription=unwind enablement kill test\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n`;

let user: MachineUser;
let place: UserPlace['place'];

beforeAll(() => {
  ({ user, place } = machineUserPlace('uwen'));
  startManagerOf(user.name, user.uid);
}, 120_000);
afterAll(() => user?.remove(), 120_000);

/** Every entry under `dir`: a directory, a file with its content, or a link with its target. */
function tree(dir: string, byRole: (text: string) => string): string[] {
  const entries = (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).map((name) => {
    const path = join(dir, name);
    const stat = fs.lstatSync(path);
    const what = stat.isSymbolicLink() ? `-> ${fs.readlinkSync(path)}` : stat.isDirectory() ? 'dir' : JSON.stringify(fs.readFileSync(path, 'utf8'));
    return byRole(`${name} ${what}`);
  });
  return entries.sort();
}

/**
 * A fresh world: APP (in the user's unit directory, disabled), OTHER (a
 * vendor unit, not masked), OLD (in the user's unit directory, enabled).
 * The transaction: enable APP, mask OTHER, disable OLD (then a failing
 * step when it rolls back).
 */
function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const base = temporaryDirectory('unwind-systemd-kill-user-enablement-');
  const [app, other, old] = [uniqueUnit('killapp'), uniqueUnit('killother'), uniqueUnit('killold')] as [string, string, string];
  const files = [join(place.unitDir, app), join(VENDOR_UNITS, other), join(place.unitDir, old)];
  fs.mkdirSync(VENDOR_UNITS, { recursive: true });
  for (const file of files) {
    fs.writeFileSync(file, unitFile);
    if (file.startsWith(place.unitDir)) fs.chownSync(file, place.owner.uid, place.owner.gid);
  }
  // No daemon-reload first: enable reads the unit files from disk, then has the manager reload (which loads all three).
  placeSystemctl(place, ['enable', '--', old]);
  const journalRoot = join(base.path, 'journal');
  const manager = { scope: place.scope, commandTimeoutMs: 60_000 };
  // Each world's units have names of their own; compared by role, so the counting run's after-state fits every world.
  const byRole = (text: string) => text.replaceAll(app, 'APP.service').replaceAll(other, 'OTHER.service').replaceAll(old, 'OLD.service');
  return {
    config: {
      name: 'systemd kill points (user manager, enablement)', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'systemd.enable', args: { ...manager, unit: app } },
        { type: 'systemd.mask', args: { ...manager, unit: other } },
        { type: 'systemd.disable', args: { ...manager, unit: old } },
      ],
    },
    roots: [base.path, place.unitDir],
    journalRoot,
    state: () => ({
      // One call for the three (one line each, in order): every systemctl through --machine starts a bridge in the user's manager.
      enabled: placeSystemctl(place, ['is-enabled', '--', app, other, old], [0, 1]).split('\n').map((state, index) => `${['APP', 'OTHER', 'OLD'][index]}: ${state}`),
      unitDir: tree(place.unitDir, byRole),
    }),
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    cleanup: () => {
      try {
        placeSystemctl(place, ['unmask', '--', other], [0, 1]);
        placeSystemctl(place, ['disable', '--', app, old], [0, 1]);
        // The next world's units have names of their own: these, gone from disk, need no reload to be forgotten.
        for (const file of files) fs.rmSync(file, { force: true });
      } finally {
        base.remove();
      }
    },
  };
}

describe("systemd: a kill between and inside the systemctl commands of enable, mask and disable on another user's manager (--machine=USER@), then recover()", () => {
  it.each([
    ['a committing run (enable, mask, disable)', false],
    ['a run that rolls back (enable, mask, disable, then each undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({
      name: `systemd enablement (user manager, --machine), ${rollback ? 'rolled back' : 'committed'}`,
      arrange: () => arrange(rollback),
      traced: ['systemctl'],
      tracedSyscalls: ['sendmsg'],
      budget: 4,
      childTimeoutMs: 180_000,
    });
    // Each step: getent (its user's unit directory), show and is-enabled before, its systemctl call, show and is-enabled after.
    expect(report.commands).toBeGreaterThan(12);
    expect(report.insidePoints).toBeGreaterThan(report.commands); // every systemctl sends the manager more than one message
    expect(report.checked.length).toBeGreaterThanOrEqual(4); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    // A live manager's answers vary, and with them how many messages one systemctl sends: a few points may not be reached.
    expect(report.unreached.length).toBeLessThanOrEqual(Math.ceil(report.checked.length / 10));
    expect(report.failures).toEqual([]);
  }, 3_600_000);
});
