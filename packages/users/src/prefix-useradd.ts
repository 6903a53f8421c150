import { loginDefs, readLines } from './db.js';
import { PrefixEscapeError } from './errors.js';
import { inPrefix } from './prefix.js';

/**
 * What `useradd -P PREFIX` reads from the image and then uses as a path on
 * this machine, checked to stay inside the image before it runs. A prefix
 * root is an image someone else may have built, and shadow's useradd
 * (4.13, Debian 12's) joins two of its settings to the prefix as text:
 *
 * - `SKEL=` of `PREFIX/etc/default/useradd`: the skeleton it copies into
 *   a new home (`PREFIX/SKEL`, with `-m`). `SKEL=/../../etc` would copy the
 *   machine's `/etc` (its shadow file, its host keys) into the home and
 *   give it to the new account; with no `SKEL=` line it copies the
 *   machine's own `/etc/skel`, not the image's.
 * - `MAIL_DIR` of `PREFIX/etc/login.defs`: where it creates the mailbox of
 *   an account that is not a system one, when `CREATE_MAIL_SPOOL=yes` (its
 *   default): `PREFIX/MAIL_DIR/NAME`, made with `O_CREAT|O_EXCL` and given
 *   to the account. `MAIL_DIR /../../etc/cron.hourly` would make a file
 *   there, owned by the account, that its user could fill and run-parts
 *   would run as root.
 *
 * So the skeleton is given explicitly (`-k`, which useradd does not
 * prefix) as the image's own, the spool too (`-K MAIL_DIR=`, for an account
 * that is not a system one: shadow parses login.defs differently from any
 * reader here, so the value checked is the value passed), and both must be
 * absolute, free of `..`
 * (the kernel resolves `a/link/..` from where the link leads, not from
 * `a`) and resolve inside the prefix ({@link inPrefix}: every symlink
 * followed). Anything else is a PrefixEscapeError, before useradd runs.
 *
 * @example
 * ```ts
 * useraddImageOptions('/srv/img', { name: 'app', createHome: true, system: false });
 * // ['-k', '/srv/img/etc/skel', '-K', 'MAIL_DIR=/var/mail']
 * ```
 */
export function useraddImageOptions(prefix: string, account: { name: string; createHome: boolean; system: boolean }): string[] {
  const defaults = useraddDefaults(prefix);
  const options: string[] = [];
  if (account.createHome) {
    const skel = defaults.SKEL === undefined || defaults.SKEL === '' ? '/etc/skel' : defaults.SKEL;
    options.push('-k', imagePath(prefix, skel, 'SKEL of /etc/default/useradd'));
  }
  // Newer shadow also copies USRSKEL= into the home, prefixed likewise and whatever -k says: judged the same way.
  if (account.createHome && defaults.USRSKEL !== undefined && defaults.USRSKEL !== '') imagePath(prefix, defaults.USRSKEL, 'USRSKEL of /etc/default/useradd');
  if (!account.system) {
    const defs = loginDefs(prefix);
    // Debian's useradd spools into /var/mail when login.defs names neither MAIL_DIR nor MAIL_FILE.
    const spool = defs.MAIL_DIR === undefined ? (defs.MAIL_FILE === undefined ? '/var/mail' : undefined) : unquoted(defs.MAIL_DIR);
    if (spool !== undefined) {
      // Judged as written, not joined: join() would fold a ".." away that the kernel resolves.
      imagePath(prefix, `${spool}/${account.name}`, 'mailbox (MAIL_DIR of /etc/login.defs)');
      // And given to useradd as judged, whether or not it will make a mailbox: shadow reads login.defs its
      // own way (the whole rest of a line, in 1023-byte pieces), so the file's value is never trusted to
      // be the one read here.
      options.push('-K', `MAIL_DIR=${spool}`);
    }
  }
  return options;
}

/** `KEY=value` lines of `PREFIX/etc/default/useradd`, read as useradd reads them: from the line's start, the rest of the line, the last one winning. */
function useraddDefaults(prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  const file = inPrefix(prefix, '/etc/default/useradd');
  for (const line of readLines(file)) {
    // useradd reads 1023 bytes at a time: a longer line is two lines to it, one here.
    if (Buffer.byteLength(line) >= 1023) throw new PrefixEscapeError(prefix, file, 'has a line useradd would read as two (1023 bytes or longer)');
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** login.defs reads a value in double quotes without them. */
function unquoted(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** `path`, one of the image's own, on disk: refused unless absolute, free of `..` and resolving inside the prefix. */
function imagePath(prefix: string, path: string, what: string): string {
  const named = `${prefix}/${path} (${what})`;
  if (!path.startsWith('/') || /[\s"]/.test(path)) throw new PrefixEscapeError(prefix, named, 'is not an absolute path of the image without blanks or quotes');
  if (path.split('/').includes('..')) throw new PrefixEscapeError(prefix, named, `has a ".." segment (${path})`);
  return inPrefix(prefix, path);
}
