import * as fs from 'node:fs';
import { join } from 'node:path';
import { conformanceSuite, requireHere, treeState } from '@unwind/core/testing';
import { unitState } from '@unwind/systemd';
import { removeUnitFile } from '../src/remove-unit-file.js';
import { manager, names, skipReason, sleeper, sysctl } from './helpers.js';

const skip = skipReason();

conformanceSuite(removeUnitFile, {
  setup: async () => {
    requireHere(skip, 'root, the real shadow tools and a systemd user manager');
    const m = manager();
    const [name] = names('rm') as [string];
    const unit = `${name}.service`;
    fs.mkdirSync(m.unitDir, { recursive: true });
    fs.writeFileSync(join(m.unitDir, unit), sleeper(name));
    await sysctl('daemon-reload');
    const mine = (relative: string) => !relative.includes(unit);
    return {
      args: { path: join(m.unitDir, unit), manager: { ...m, commandTimeoutMs: 15_000 } },
      state: async () => ({ files: treeState(m.unitDir, { ignore: mine }), unit: await unitState(unit, 'user', m) }),
      cleanup: async () => {
        for (const n of fs.readdirSync(m.unitDir)) if (n.includes(unit)) fs.rmSync(join(m.unitDir, n), { force: true });
        await sysctl('daemon-reload');
      },
    };
  },
});
