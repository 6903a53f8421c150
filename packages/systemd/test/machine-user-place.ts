/**
 * A fresh user of the throw-away machine, as the `{ user }`-scope kill tests
 * need it: the account (machineUser), its own unit directory
 * `~/.config/systemd/user` made and owned as the user would have it, and the
 * place those tests aim their steps and checks at (`--machine=USER@`).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { machineUser, notInsideMachine, type MachineUser } from '@unwind/core/testing';
import type { LifecyclePlace } from './lifecycle-kill-world.js';

/** A machine user and where its manager's units live; `user.remove()` takes both away. */
export interface UserPlace {
  user: MachineUser;
  place: Omit<LifecyclePlace, 'startsManager'> & { owner: { uid: number; gid: number } };
}

/** Creates the user and its unit directory; throws outside the throw-away machine (it adds an account). */
export function machineUserPlace(prefix: string): UserPlace {
  const outside = notInsideMachine();
  if (outside) throw new Error(`these tests create a user and start its manager; they run inside the throw-away machine (node scripts/test.mjs): ${outside}`);
  const user = machineUser(prefix);
  const [, , , gid, , home] = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith(`${user.name}:`))!.split(':') as string[];
  const owner = { uid: user.uid, gid: Number(gid) };
  for (const dir of ['.config', '.config/systemd', '.config/systemd/user']) {
    fs.mkdirSync(join(home!, dir), { recursive: true });
    fs.chownSync(join(home!, dir), owner.uid, owner.gid);
  }
  return { user, place: { scope: { user: user.name }, unitDir: join(home!, '.config/systemd/user'), owner } };
}
