#!/bin/sh
# The command channel of a cluster test guest booted with systemd as PID 1
# (Cluster(init="systemd")), run by the unit systemd-prepare.sh writes. Unlike
# guest.sh it starts nothing: the guest's services are systemd's (the outer
# machine's enabled units, a few masked), and sanpoold is for the test to
# install. It mounts the io share, waits for the boot to end and prints the
# ready marker with systemd's verdict on it (running or degraded) and the
# failed units, if any.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "$*" > /dev/console; }
mkdir -p /io
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 io /io || { say "SANPOOL-GUEST-FAILED io mount"; exit 1; }
exec >/io/guest.log 2>&1
state=$(systemctl is-system-running --wait)
systemctl --failed --no-legend --plain
say "SANPOOL-GUEST-READY $sp_hn $state"
exec /bin/sh "${0%/*}/run-commands.sh"
