import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLine, JOURNAL_FORMAT, type JournalRecord, type JournalRecordBody } from '@unwind/core';

/**
 * A throw-away prefix root for the real shadow tools (`useradd -P ROOT`),
 * with a user database written here (never a copy of the machine's): the
 * protected accounts every security test aims at, pre-existing accounts,
 * ordinary groups, and a decoy file beside the database. Nothing outside
 * ROOT is written; the machine's own database and log files are hashed so
 * a test can prove it.
 */

const DAY = 20_000; // a day long before any test run: pre-existing entries carry it

/** Accounts of the sandbox: name, uid, gid, home. */
export const USERS = [
  { name: 'root', uid: 0, gid: 0, home: '/root', comment: 'root' },
  { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin', comment: 'daemon' },
  { name: 'bin', uid: 2, gid: 2, home: '/bin', comment: 'bin' },
  { name: 'svc', uid: 998, gid: 998, home: '/var/lib/svc', comment: 'a dynamic system account' },
  { name: 'edge', uid: 999, gid: 999, home: '/home/edge', comment: 'UID_MIN-1' },
  { name: 'guarded', uid: 1500, gid: 1500, home: '/home/guarded', comment: 'deny-listed' },
  { name: 'carol', uid: 1501, gid: 1501, home: '/home/carol', comment: 'Carol' },
  { name: 'dave', uid: 1502, gid: 1502, home: '/home/dave', comment: 'Dave' },
  { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent', comment: 'nobody' },
] as const;

/** Groups of the sandbox: name, gid, members. */
export const GROUPS = [
  { name: 'root', gid: 0, members: [] },
  { name: 'daemon', gid: 1, members: [] },
  { name: 'bin', gid: 2, members: [] },
  { name: 'adm', gid: 4, members: ['carol'] },
  { name: 'sudo', gid: 27, members: ['carol'] },
  { name: 'users', gid: 100, members: ['carol', 'dave', 'daemon'] },
  { name: 'svc', gid: 998, members: [] },
  { name: 'edge', gid: 999, members: [] },
  { name: 'guarded', gid: 1500, members: [] },
  { name: 'carol', gid: 1501, members: [] },
  { name: 'dave', gid: 1502, members: [] },
  { name: 'managed', gid: 1600, members: ['carol', 'daemon', 'dave'] },
  { name: 'nogroup', gid: 65534, members: [] },
] as const;

/** The deny list every step in these tests carries. */
export const DENY = ['guarded'];

/** Users no route may ever change, whatever a journal says: root, static system accounts, the deny-listed account, nobody. */
export const PROTECTED_USERS = ['root', 'daemon', 'bin', 'guarded', 'nobody'];
/** Groups whose entries no route may ever change or remove: root, static system groups, the deny-listed, nogroup. */
export const PROTECTED_GROUPS = ['root', 'daemon', 'bin', 'adm', 'sudo', 'users', 'guarded', 'nogroup'];
/**
 * Groups whose member lists no route may change either (the root group, privileged and deny-listed
 * groups) — except that an account a step deletes leaves them (as userdel does).
 */
export const LOCKED_GROUPS = ['root', 'adm', 'sudo', 'guarded'];
/**
 * Accounts that existed before every case: a dynamic system account, UID_MIN-1, normal users.
 * No real step ever removes or changes the first two; a crafted journal must not get any of them
 * removed unless it forges the exact entry the step would have created (the documented limit).
 */
export const PRE_EXISTING = ['svc', 'edge', 'carol', 'dave'];

/** The machine's own files a test must never change. */
const MACHINE_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/subuid', '/etc/subgid', '/var/log/lastlog', '/var/log/faillog'];

function sha(path: string): string {
  try {
    return createHash('sha256').update(fs.readFileSync(path)).digest('hex');
  } catch (error) {
    return `(${(error as NodeJS.ErrnoException).code})`;
  }
}

/** Hashes of the machine's user database and login logs. */
export function machineHashes(): Record<string, string> {
  return Object.fromEntries(MACHINE_FILES.map((f) => [f, sha(f)]));
}

/**
 * A sandbox prefix root. `guarded()` is what must never change: the lines of
 * the protected users and groups (and of the pre-existing accounts, when
 * asked) in every database file, plus the decoy file's hash.
 */
export interface AccountsSandbox {
  root: string;
  journal: string;
  lingerDir: string;
  /** The lines (and homes) of the protected accounts and groups, plus the pre-existing ones not in `except`. */
  guarded(except?: readonly string[]): Record<string, string>;
  line(file: 'passwd' | 'shadow' | 'group' | 'gshadow', key: string): string | undefined;
  cleanup(): void;
}

const write = (path: string, lines: string[], mode: number) => {
  fs.writeFileSync(path, `${lines.join('\n')}\n`, { mode });
  fs.chmodSync(path, mode);
};

/** Makes a sandbox: PREFIX/etc with the database above, login.defs, skel, homes of the pre-existing users, a linger directory, a journal root. */
export function accountsSandbox(): AccountsSandbox {
  const root = fs.mkdtempSync(join(tmpdir(), 'unwind-sec-accounts-'));
  const etc = join(root, 'etc');
  fs.mkdirSync(join(etc, 'skel'), { recursive: true });
  fs.mkdirSync(join(etc, 'default'));
  fs.writeFileSync(join(etc, 'skel/.profile'), '# skel\n');
  fs.writeFileSync(join(etc, 'default/useradd'), 'HOME=/home\nSHELL=/bin/sh\n');
  write(join(etc, 'login.defs'), ['UID_MIN 1000', 'UID_MAX 60000', 'SYS_UID_MIN 101', 'SYS_UID_MAX 999', 'GID_MIN 1000', 'GID_MAX 60000', 'SYS_GID_MIN 101', 'SYS_GID_MAX 999', 'USERGROUPS_ENAB yes', 'ENCRYPT_METHOD SHA512'], 0o644);
  write(join(etc, 'passwd'), USERS.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.comment}:${u.home}:/bin/sh`), 0o644);
  write(join(etc, 'shadow'), USERS.map((u) => `${u.name}:$6$salt$${u.name}hash:${DAY}:0:99999:7:::`), 0o640);
  write(join(etc, 'group'), GROUPS.map((g) => `${g.name}:x:${g.gid}:${g.members.join(',')}`), 0o644);
  write(join(etc, 'gshadow'), GROUPS.map((g) => `${g.name}:!::${g.members.join(',')}`), 0o640);
  write(join(etc, 'subuid'), ['carol:100000:65536', 'dave:165536:65536'], 0o644);
  write(join(etc, 'subgid'), ['carol:100000:65536', 'dave:165536:65536'], 0o644);
  fs.writeFileSync(join(etc, 'decoy.conf'), 'must never change\n');
  for (const u of USERS) {
    if (!u.home.startsWith('/home/')) continue;
    fs.mkdirSync(join(root, u.home), { recursive: true, mode: 0o700 });
    fs.writeFileSync(join(root, u.home, 'data'), `${u.name}'s data\n`);
    fs.chownSync(join(root, u.home), u.uid, u.gid);
  }
  fs.mkdirSync(join(root, 'var/lib/svc'), { recursive: true });
  fs.chownSync(join(root, 'var/lib/svc'), 998, 998);
  const lingerDir = join(root, 'var/lib/systemd/linger');
  fs.mkdirSync(lingerDir, { recursive: true });
  const journal = join(root, 'journal');
  fs.mkdirSync(journal, { mode: 0o700 });
  const read = (file: string) => fs.readFileSync(join(etc, file), 'utf8').split('\n');
  const keyed = (file: string, key: string) => read(file).find((l) => l.split(':')[0] === key);
  return {
    root,
    journal,
    lingerDir,
    line: (file, key) => keyed(file, key),
    guarded: (except = []) => {
      const out: Record<string, string> = {};
      const kept = PRE_EXISTING.filter((n) => !except.includes(n));
      const users = [...PROTECTED_USERS, ...kept];
      for (const name of users) {
        for (const file of ['passwd', 'shadow'] as const) out[`${file}:${name}`] = keyed(file, name) ?? '(absent)';
        out[`home:${name}`] = homeState(root, USERS.find((u) => u.name === name)!.home);
      }
      for (const name of [...PROTECTED_GROUPS, ...kept]) {
        for (const file of ['group', 'gshadow'] as const) {
          const line = keyed(file, name);
          if (line === undefined) out[`${file}:${name}`] = '(absent)';
          // Locked groups: the whole line, less the accounts `except` names (which a real step may delete).
          else if (LOCKED_GROUPS.includes(name)) out[`${file}:${name}`] = line.split(':').map((f, i) => (i >= 2 && (file === 'gshadow' || i === 3) ? f.split(',').filter((m) => m && !except.includes(m)).join(',') : f)).join(':');
          // Other groups: the entry itself (name, password, gid); system accounts may join or leave them.
          else out[`${file}:${name}`] = line.split(':').slice(0, file === 'group' ? 3 : 2).join(':');
        }
      }
      out.decoy = sha(join(etc, 'decoy.conf'));
      return out;
    },
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

function homeState(root: string, home: string): string {
  const path = join(root, home);
  try {
    const st = fs.lstatSync(path);
    const data = fs.existsSync(join(path, 'data')) ? sha(join(path, 'data')) : '-';
    return `${st.isDirectory() ? 'dir' : 'other'} uid=${st.uid} data=${data}`;
  } catch {
    return home.startsWith('/home/') ? '(absent)' : '(not kept here)';
  }
}

/** One step of a crafted journal: values as the kind's codecs would have written them. */
export interface CraftedStep {
  type: string;
  args: unknown;
  before: unknown;
  /** Present: the step's `do` finished with this after-state. */
  after?: unknown;
}

let counter = 0;

/**
 * Writes a journal with valid checksums (core's own encodeLine) for a
 * transaction that never finished: begin, each step prepared (and done when
 * it has an after-state), then, with `commitPoint`, the commit point — so
 * recovery rolls it back, or runs its commit actions. Returns its id.
 */
export function craftJournal(journalRoot: string, steps: CraftedStep[], options: { commitPoint?: boolean } = {}): string {
  const id = `20261203T000000000Z-crafted-${(++counter).toString(16).padStart(6, '0').slice(-6)}`;
  const dir = join(journalRoot, id);
  fs.mkdirSync(dir, { mode: 0o700 });
  const bodies: JournalRecordBody[] = [{ kind: 'begin', format: JOURNAL_FORMAT, id, name: 'crafted', pid: 2 ** 22 + 1, host: 'crafted' }];
  steps.forEach((s, step) => {
    bodies.push({ kind: 'prepared', step, type: s.type, package: s.type.startsWith('users.') ? '@unwind/users' : s.type.startsWith('linger.') ? '@unwind/linger' : '@unwind/systemd', description: 'crafted', args: s.args, before: s.before });
    if (s.after !== undefined) bodies.push({ kind: 'done', step, after: s.after, attempts: 1 });
  });
  if (options.commitPoint) bodies.push({ kind: 'commit-point' });
  const text = bodies.map((b, i) => encodeLine({ ...b, seq: i + 1, at: Date.now() } as JournalRecord)).join('');
  fs.writeFileSync(join(dir, 'journal.jsonl'), text, { mode: 0o600 });
  return id;
}

/**
 * A seeded PRNG (mulberry32): the seed is printed, and UNWIND_FUZZ_SEED
 * replays a run.
 */
export function prng(label: string): { seed: number; next: () => number; pick: <T>(items: readonly T[]) => T; chance: (p: number) => boolean } {
  const seed = process.env.UNWIND_FUZZ_SEED ? Number(process.env.UNWIND_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${label}: seed ${seed} (replay with UNWIND_FUZZ_SEED=${seed})`);
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, pick: (items) => items[Math.floor(next() * items.length)]!, chance: (p) => next() < p };
}
