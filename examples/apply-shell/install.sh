#!/bin/sh
# Installs a small service — its (ordinary, non-system) account, its config file, its systemd unit,
# started — all or nothing, through `unwind apply`: no TypeScript needed.
# If any step fails, everything done so far is undone and the script exits
# with unwind's code (1 rolled back, 2 rollback failed: run `unwind recover`).
#
# Usage: install.sh NAME
# Environment (defaults install on this machine, as root):
#   JOURNAL_ROOT  where unwind journals the run      (/var/lib/NAME-installer)
#   CONFIG_DIR    the config directory               (/etc/NAME)
#   APP_BIN       the program the service runs       (/usr/local/bin/NAME)
#   USERS_PREFIX  a root for the shadow tools (-P)   (none: the machine's /etc)
#   MANAGER       systemd: "system", or "user HOME RUNTIME_DIR" for a user manager (system)
#   UNWIND        the unwind command                 (unwind)
set -eu

name=${1:?usage: install.sh NAME}
case $name in *[!a-z0-9_-]* | -*) echo "install.sh: bad name: $name" >&2; exit 4 ;; esac
journal_root=${JOURNAL_ROOT:-/var/lib/$name-installer}
config_dir=${CONFIG_DIR:-/etc/$name}
app_bin=${APP_BIN:-/usr/local/bin/$name}
unwind=${UNWIND:-unwind}

# JSON strings for the YAML below (YAML 1.2 reads JSON scalars as they are).
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

users_prefix=
[ -n "${USERS_PREFIX:-}" ] && users_prefix="prefix: $(quote "$USERS_PREFIX"), "

# The systemd manager the unit goes to, as the systemd kinds' own arguments:
# one line per argument (a YAML mapping), joined by commas inside { }.
set -- ${MANAGER:-system}
if [ "$1" = user ]; then
  manager_lines="scope: user
home: $(quote "$2")
runtimeDir: $(quote "$3")
unitDir: $(quote "$2/.config/systemd/user")"
else
  manager_lines="scope: system"
fi
manager=$(printf '%s\n' "$manager_lines" | paste -sd, -)
manager_block=$(printf '%s\n' "$manager_lines" | sed 's/^/      /')

"$unwind" apply --root "$journal_root" - <<YAML
name: install $name
steps:
  - kind: users.ensureUser
    id: account
    args: { name: $name, createHome: false, home: $(quote "/var/lib/$name"), shell: /usr/sbin/nologin, ${users_prefix}comment: $(quote "$name service") }
  - kind: files.ensureDir
    args: { path: $(quote "$config_dir"), mode: 0o750, uid: 0, gid: { \$result: account.gid } }
  - kind: files.writeFile
    args:
      path: $(quote "$config_dir/$name.conf")
      content: "# written by install.sh\nlisten = 127.0.0.1:8080\n"
      mode: 0o640
      uid: 0
      gid: { \$result: account.gid }
  - kind: systemd.installUnit
    args:
$manager_block
      unit: $name.service
      content: |
        [Unit]
        Description=$name (installed by install.sh)

        [Service]
        Type=simple
        ExecStart=$app_bin $config_dir/$name.conf

        [Install]
        WantedBy=default.target
  - kind: systemd.daemonReload
    args: { $manager }
  - kind: systemd.enable
    args: { $manager, unit: $name.service }
  - kind: systemd.start
    args: { $manager, unit: $name.service, settleMs: 500 }
YAML
