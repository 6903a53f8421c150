import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * The application's state directory, as the uninstaller sees it: named
 * inventory groups of paths (relative to the state directory), removed in
 * this order — the order the original uninstaller deleted them in.
 */

/**
 * Which keep flag exempts a group.
 *
 * @example
 * ```ts
 * const flag: KeepFlag = 'keepData';
 * ```
 */
export type KeepFlag = 'keepConfig' | 'keepData';

/**
 * One inventory group.
 *
 * @example
 * ```ts
 * const group: InventoryGroup = { name: 'config', description: 'configuration', paths: ['config.json'], keptBy: 'keepConfig' };
 * ```
 */
export interface InventoryGroup {
  /** Short name, used in messages. */
  name: string;
  /** What the group holds, in plain words. */
  description: string;
  /** Paths relative to the state directory. */
  paths: string[];
  /** The flag that exempts it from removal. */
  keptBy?: KeepFlag;
}

/**
 * The inventory, in removal order (the third group is `backups`).
 *
 * @example
 * ```ts
 * INVENTORY.map((g) => g.name); // ['session', 'fragments', 'backups', 'config', 'memories', 'uploads', 'database']
 * ```
 */
export const INVENTORY: readonly InventoryGroup[] = [
  { name: 'session', description: 'session and pid files', paths: ['server.pid', 'session.lock', 'run'] },
  { name: 'fragments', description: 'fragments', paths: ['fragments'] },
  { name: 'backups', description: 'backups', paths: ['backups'] },
  { name: 'config', description: 'configuration', paths: ['config.json', 'config.d'], keptBy: 'keepConfig' },
  { name: 'memories', description: 'memories', paths: ['memories'], keptBy: 'keepData' },
  { name: 'uploads', description: 'uploads', paths: ['uploads'], keptBy: 'keepData' },
  { name: 'database', description: 'the database', paths: ['memtomem.db', 'memtomem.db-wal', 'memtomem.db-shm'], keptBy: 'keepData' },
];

/**
 * Every top-level name the inventory knows.
 *
 * @example
 * ```ts
 * const foreign = fs.readdirSync(stateDir).filter((n) => !INVENTORY_NAMES.has(n));
 * ```
 */
export const INVENTORY_NAMES: ReadonlySet<string> = new Set(INVENTORY.flatMap((g) => g.paths));

/**
 * Creates a realistic sample state directory (for a sandbox): every group,
 * nested directories, private modes, a symlink, a binary database.
 *
 * @example
 * ```ts
 * seedStateDirectory('/tmp/unwind-example-uninstall/home/user/.memtomem');
 * ```
 */
export function seedStateDirectory(stateDir: string): void {
  const file = (rel: string, content: string | Buffer, mode = 0o644) => {
    fs.mkdirSync(join(stateDir, rel, '..'), { recursive: true });
    fs.writeFileSync(join(stateDir, rel), content, { mode });
    fs.chmodSync(join(stateDir, rel), mode);
  };
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(stateDir, 0o700);
  // A pid file a crashed server left behind: 4194304 is above the largest pid Linux hands out, so it is never alive.
  file('server.pid', '4194304\n');
  file('session.lock', '');
  file('run/socket.info', 'unix:/run/user/1000/memtomem.sock\n', 0o600);
  file('fragments/2024-05-01.md', '# fragment\nhalf a thought\n');
  file('fragments/2024-05-02.md', '# fragment\nthe other half\n');
  file('backups/memtomem.db.1', Buffer.from([0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0, 1, 2, 3]), 0o600);
  file('config.json', '{ "model": "small", "port": 7777 }\n', 0o600);
  file('config.d/10-local.json', '{ "theme": "dark" }\n');
  file('memories/work/standup.md', 'remember the standup\n');
  file('memories/home/plants.md', 'water the plants\n');
  fs.symlinkSync('work/standup.md', join(stateDir, 'memories', 'latest'));
  file('uploads/photo.bin', Buffer.alloc(4096, 7));
  fs.mkdirSync(join(stateDir, 'uploads', 'empty'), { mode: 0o750 });
  fs.chmodSync(join(stateDir, 'uploads', 'empty'), 0o750);
  file('memtomem.db', Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 1)]), 0o600);
  file('memtomem.db-wal', Buffer.alloc(512, 2), 0o600);
}
