// @unwind/reconcile with @unwind/users: 250 users (UNWIND_BENCH_USERS) created in one reconcile
// run, then removed (homes too) in a second, against the bare shadow-tool
// commands doing the same work (`useradd -m`, then `userdel -r`, one per
// user), in the same run. Both work on prefix roots (`-P`): copies of the
// machine's user database in a scratch directory; the machine's /etc is
// never touched. Processes are not stopped (`stopProcesses: false`), as
// userdel does not stop them either.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileJournal } from '@unwind/core';
import { reconcile } from '@unwind/reconcile';
import { ensureUser, kinds as usersKinds, removeUser } from '@unwind/users';
import { count, measureStall, missing, report, scratch, time } from './_util.mjs';

// 250 by default, to keep `pnpm bench` near ten minutes: each user is its own transaction
// and its own useradd/userdel, so the ratio does not depend on the count (1.24x at 100
// users, 1.20x at 1,000, both under load). UNWIND_BENCH_USERS=1000 for the full row.
const USERS = Number(process.env.UNWIND_BENCH_USERS ?? 250);
const MARK = 'unwind bench user';
const DATABASE = ['passwd', 'group', 'shadow', 'gshadow', 'login.defs'];

if (process.getuid?.() !== 0) missing('root (the shadow tools write a prefix root\'s shadow files only as root)', 'run pnpm bench as root');
for (const tool of ['useradd', 'userdel']) {
  if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status !== 0) missing(tool, 'apt-get install -y passwd');
}

function prefixRoot(dir, name) {
  const root = join(dir, name);
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(join(root, 'home'));
  for (const file of DATABASE) {
    if (!fs.existsSync(`/etc/${file}`)) continue;
    fs.copyFileSync(`/etc/${file}`, join(root, 'etc', file));
    const st = fs.statSync(`/etc/${file}`);
    fs.chmodSync(join(root, 'etc', file), st.mode & 0o7777);
    fs.chownSync(join(root, 'etc', file), st.uid, st.gid);
  }
  return root;
}

function shadow(tool, root, args) {
  const r = spawnSync(tool, ['-P', root, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

function benchUsers(root) {
  return fs.readFileSync(join(root, 'etc', 'passwd'), 'utf8').split('\n').filter((line) => line.split(':')[4] === MARK).map((line) => ({ name: line.split(':')[0] }));
}

const names = Array.from({ length: USERS }, (_, i) => `ub${String(i).padStart(5, '0')}`);
const dir = scratch('reconcile-users');
try {
  // Baseline: the bare commands.
  const bare = prefixRoot(dir, 'bare');
  const bareCreate = await time(() => {
    for (const name of names) shadow('useradd', bare, ['-l', '-m', '-c', MARK, name]);
  });
  const bareRemove = await time(() => {
    for (const name of names) shadow('userdel', bare, ['-r', name]);
  });
  console.log(`bare useradd -m x ${count(USERS)}: ${bareCreate.toFixed(2)} s; userdel -r x ${count(USERS)}: ${bareRemove.toFixed(2)} s`);

  // unwind: two reconcile runs, one transaction per user, on a file journal.
  const root = prefixRoot(dir, 'unwind');
  const journal = fileJournal({ root: join(dir, 'journal'), retention: 'remove' });
  const options = (desired) => ({
    name: 'bench users',
    desired,
    journal,
    handleSignals: false,
    statusFile: false,
    key: (d) => d.name,
    actual: async () => benchUsers(root),
    ownership: () => true,
    plan: (change) => [ensureUser({ name: change.key, prefix: root, comment: MARK, createHome: true })],
    planRemoval: (actual) => [removeUser({ name: actual.name, prefix: root, removeHome: true, stopProcesses: false })],
    recoverKinds: usersKinds,
  });
  let created;
  const unwindCreate = await time(async () => {
    created = await measureStall(`reconcile: create ${count(USERS)} users`, () => reconcile(options(names.map((name) => ({ name })))));
  });
  if (created.status !== 'converged' || benchUsers(root).length !== USERS) throw new Error(`reconcile (create) ended ${created.status}: ${JSON.stringify(created.items.find((i) => i.outcome !== 'created'))}`);
  let removed;
  const unwindRemove = await time(async () => {
    removed = await measureStall(`reconcile: remove ${count(USERS)} users`, () => reconcile(options([])));
  });
  if (removed.status !== 'converged' || benchUsers(root).length !== 0) throw new Error(`reconcile (remove) ended ${removed.status}`);
  if (fs.readdirSync(join(root, 'home')).length !== 0) throw new Error('reconcile left homes behind');
  console.log(`reconcile create ${count(USERS)}: ${unwindCreate.toFixed(2)} s; reconcile remove ${count(USERS)}: ${unwindRemove.toFixed(2)} s`);
  const ratio = (unwindCreate + unwindRemove) / (bareCreate + bareRemove);
  report({
    figure: `reconcile ${count(USERS)} users (create, then remove with homes) vs the bare shadow-tool commands`,
    baseline: `useradd -m + userdel -r: ${(bareCreate + bareRemove).toFixed(2)} s (${bareCreate.toFixed(2)} + ${bareRemove.toFixed(2)})`,
    unwind: `${(unwindCreate + unwindRemove).toFixed(2)} s (${unwindCreate.toFixed(2)} + ${unwindRemove.toFixed(2)}), one transaction per user`,
    ratio: `${ratio.toFixed(2)}x (create ${(unwindCreate / bareCreate).toFixed(2)}x, remove ${(unwindRemove / bareRemove).toFixed(2)}x)`,
    goal: '<= 2x',
    met: ratio <= 2,
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
