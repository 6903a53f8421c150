import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * Writes `DIRECTORY/systemctl`: the real systemctl acting offline on `root`
 * (`systemctl --root=ROOT`, no manager: enable, disable, mask, unmask and link
 * change the unit directories under it). It is `exec`ed, so the command's
 * process is systemctl's own and strace can count (and kill at) its
 * file-changing system calls. `show`, which needs a manager, is answered from
 * `systemctl --root=ROOT is-enabled` (loaded, inactive: nothing runs here);
 * `daemon-reload` has nothing to reload and succeeds.
 */
export function offlineSystemctl(directory: string, root: string): string {
  const path = join(directory, 'systemctl');
  fs.writeFileSync(path, `#!/bin/sh
# systemctl --root=${root}: offline, on a directory (written by the unwind tests)
root='${root}'
case " $* " in
  *" show "*)
    for unit; do :; done
    state=$(/usr/bin/systemctl --root="$root" is-enabled -- "$unit" 2>/dev/null)
    printf 'LoadState=loaded\\nActiveState=inactive\\nSubState=dead\\nUnitFileState=%s\\n' "$state"
    exit 0 ;;
  *" daemon-reload "*) exit 0 ;;
esac
exec /usr/bin/systemctl --root="$root" "$@"
`, { mode: 0o755 });
  return path;
}
