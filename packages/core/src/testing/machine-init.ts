/**
 * The shell script that becomes PID 1 of a throw-away machine's new
 * namespaces (see machine.ts). It builds the machine's root and then replaces
 * itself with systemd, so systemd is PID 1 and everything the script mounted
 * lives in a mount namespace that dies with it.
 *
 * Arguments: `BASE NAME SYSTEMD [BIND...]` — an empty host directory to mount
 * the throw-away layer on, the host name, the system manager binary, then
 * host paths bound into the machine at the same path.
 *
 * Why each step:
 * - `--make-rprivate /` first: no mount made here may propagate to the host.
 * - a tmpfs upper layer over `/`: the machine sees the host's files and
 *   every write it makes vanishes with it.
 * - a fresh machine-id: journald, dbus and logind key on it.
 * - masked units: they reach the network or consoles, or only cost boot time.
 * - a private /dev, /run, /tmp, devpts: nothing shared with the host but
 *   the loop devices (loop-control and nodes for loop0–63), which the
 *   reflink tests need for a btrfs or xfs of their own; each test detaches
 *   its device when it ends.
 * - bound paths (the repository under test) are bound, not seen through the
 *   overlay: writing the overlay's lower layer while mounted is undefined.
 * - `pivot_root` then a lazy unmount of the old root: the host's tree is no
 *   longer reachable from inside.
 */
export const machineInitScript = String.raw`
set -euo pipefail
base=$1 name=$2 systemd=$3
shift 3
mount --make-rprivate /
mount -t tmpfs -o size=2g,mode=0700 unwind-machine "$base"
mkdir "$base/upper" "$base/work" "$base/root"
mount -t overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" overlay "$base/root"
cd "$base/root"

systemd-id128 new > etc/machine-id
rm -f var/lib/dbus/machine-id
printf '%s\n' "$name" > etc/hostname
ln -sfn /lib/systemd/system/multi-user.target etc/systemd/system/default.target
for unit in getty@.service console-getty.service serial-getty@.service container-getty@.service \
    getty.target systemd-networkd.service systemd-networkd-wait-online.service systemd-networkd.socket \
    systemd-resolved.service systemd-timesyncd.service networking.service ssh.service ssh.socket \
    cron.service postgresql.service e2scrub_reap.service systemd-pstore.service remote-fs.target \
    apt-daily.timer apt-daily-upgrade.timer man-db.timer fstrim.timer e2scrub_all.timer \
    dpkg-db-backup.timer logrotate.timer; do
  rm -f "etc/systemd/system/$unit"
  ln -s /dev/null "etc/systemd/system/$unit"
done

mount -t proc proc proc
mount -t sysfs -o ro sysfs sys
mount -t tmpfs -o mode=0755,size=64m tmpfs dev
for device in null zero full random urandom tty; do
  touch "dev/$device"
  mount --bind "/dev/$device" "dev/$device"
done
if [ -c /dev/loop-control ]; then
  touch dev/loop-control
  mount --bind /dev/loop-control dev/loop-control
  for n in $(seq 0 63); do mknod "dev/loop$n" b 7 "$n"; done
fi
mkdir dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin
ln -s /proc/self/fd/1 dev/stdout
ln -s /proc/self/fd/2 dev/stderr
mount -t tmpfs -o mode=1777 tmpfs dev/shm
mount -t tmpfs -o mode=0755,size=256m tmpfs run
mount -t tmpfs -o mode=1777,size=1g tmpfs tmp

for path in "$@"; do
  mkdir -p ".$path"
  mount --rbind "$path" ".$path"
done

mkdir .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec env -i container=unwind-machine PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$systemd"
`;
