// @unwind/snapshots with reflinks against the same with copies, on btrfs and
// on xfs made on loop devices inside a private mount namespace (never the
// host's mounts; everything is removed at the end):
// - xfs: a filesystem made with reflink=1 against one made with reflink=0;
// - btrfs: a store in a plain directory against a store in a NOCOW
//   directory (chattr +C): btrfs refuses to clone between a NOCOW and a
//   copy-on-write file, so the same code copies there.
// The round: snapshot of a tree, the tree deleted, a verified restore, and
// diff() finding nothing changed.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, diff, restore } from '@unwind/snapshots';
import { count, measureStall, missing, report, scratch, time } from './_util.mjs';

const FILES = Number(process.env.UNWIND_BENCH_REFLINK_FILES ?? 1000);
const FILE_BYTES = 256 * 1024;
const IMAGE_BYTES = 3 * 1024 ** 3;

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function which(program) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { encoding: 'utf8' }).status === 0;
}

// Needs: root (loop devices, mount), a private mount namespace, the two mkfs tools.
if (process.getuid?.() !== 0) missing('root (loop devices and mounts)', 'run pnpm bench as root to measure reflinks');
const tools = { 'mkfs.btrfs': 'btrfs-progs', 'mkfs.xfs': 'xfsprogs', losetup: 'mount', unshare: 'util-linux', chattr: 'e2fsprogs' };
const absent = Object.keys(tools).filter((program) => !which(program));
if (absent.length > 0) missing(absent.join(', '), `apt-get install -y ${[...new Set(absent.map((p) => tools[p]))].join(' ')}`);
if (process.env.UNWIND_IN_NAMESPACE !== '1') {
  // Everything mounted here lives and dies with this private namespace.
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, '--expose-gc', fileURLToPath(import.meta.url)], { stdio: 'inherit', env: { ...process.env, UNWIND_IN_NAMESPACE: '1' } });
  process.exit(r.status ?? 1);
}

const dir = scratch('snapshots-reflink');
const mounts = [];
function makeFilesystem(name, mkfs, args) {
  const image = join(dir, `${name}.img`);
  const mountPoint = join(dir, name);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, IMAGE_BYTES);
  run(mkfs, [...args, image]);
  fs.mkdirSync(mountPoint);
  run('mount', ['-o', 'loop', image, mountPoint]);
  mounts.push(mountPoint);
  return mountPoint;
}

function makeTree(tree) {
  for (let i = 0; i < FILES; i++) {
    const sub = join(tree, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(join(sub, `f${i}`), randomBytes(FILE_BYTES));
  }
}

/** Snapshot, delete the tree, verified restore, diff: seconds of snapshot and restore. */
async function roundTrip(tree, store, label) {
  spawnSync('sync', ['-f', tree]);
  let id;
  const snapshot = await time(async () => {
    id = (await measureStall(`snapshot of ${count(FILES)} files of ${FILE_BYTES / 1024} KiB, ${label}`, () => create({ source: tree, store }))).id;
  });
  fs.rmSync(tree, { recursive: true });
  spawnSync('sync', ['-f', store]);
  const restored = await time(() => measureStall(`verified restore of ${count(FILES)} files of ${FILE_BYTES / 1024} KiB, ${label}`, () => restore({ store, id })));
  if ((await diff({ store, id })).length !== 0) throw new Error(`${label}: the restored tree differs from the snapshot`);
  console.log(`${label}: snapshot ${snapshot.toFixed(2)} s, restore (tree deleted, verified) ${restored.toFixed(2)} s`);
  return snapshot + restored;
}

try {
  const results = {};
  // btrfs: one filesystem, two stores.
  const btrfs = makeFilesystem('btrfs', 'mkfs.btrfs', ['-q', '-f']);
  fs.mkdirSync(join(btrfs, 'nocow'), { mode: 0o700 });
  run('chattr', ['+C', join(btrfs, 'nocow')]);
  makeTree(join(btrfs, 'tree'));
  results.btrfs = {
    reflink: await roundTrip(join(btrfs, 'tree'), join(btrfs, 'store'), 'btrfs, reflinks'),
    copy: await roundTrip(join(btrfs, 'tree'), join(btrfs, 'nocow', 'store'), 'btrfs, copies (NOCOW store)'),
  };
  // xfs: two filesystems, with and without reflink support.
  for (const reflink of [1, 0]) {
    const xfs = makeFilesystem(`xfs-reflink${reflink}`, 'mkfs.xfs', ['-q', '-f', '-m', `reflink=${reflink}`]);
    makeTree(join(xfs, 'tree'));
    (results.xfs ??= {})[reflink ? 'reflink' : 'copy'] = await roundTrip(join(xfs, 'tree'), join(xfs, 'store'), reflink ? 'xfs, reflinks (reflink=1)' : 'xfs, copies (reflink=0)');
  }
  for (const [filesystem, { reflink, copy }] of Object.entries(results)) {
    const ratio = copy / reflink;
    report({
      figure: `snapshot + verified restore with reflinks vs copies, ${filesystem} (${count(FILES)} files of ${FILE_BYTES / 1024} KiB, tree deleted before the restore)`,
      baseline: `copies: ${copy.toFixed(2)} s`,
      unwind: `reflinks: ${reflink.toFixed(2)} s`,
      ratio: `${ratio.toFixed(2)}x faster`,
      goal: '>= 10x faster, restore verified',
      met: ratio >= 10,
    });
  }
} finally {
  for (const mountPoint of mounts.reverse()) spawnSync('umount', [mountPoint]);
  fs.rmSync(dir, { recursive: true, force: true });
}
