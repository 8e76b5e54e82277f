#!/bin/sh
# Run by the initramfs (busybox) before it switches to systemd as PID 1
# (Cluster(init="systemd")): $1 is the new root, the outer root filesystem under
# the guest's tmpfs overlay, so everything written here stays in the guest.
# Parameters from the kernel command line: sp_hn host name, sp_runner the
# script the guest's command unit runs (guest-systemd.sh).
set -e
R=$1
E=$R/etc/systemd/system

echo "$sp_hn" > "$R/etc/hostname"
# its own machine id, not the outer machine's (an empty file would make this
# a first boot, where systemd-firstboot prompts on the console)
rm -f "$R/etc/machine-id"
tr -d '-' < /proc/sys/kernel/random/uuid > "$R/etc/machine-id"

# The command channel (Guest.run) as a unit of multi-user.target.
cat > "$E/sanpool-test-guest.service" <<UNIT
[Unit]
Description=sanpool cluster test: the command channel on the io share
[Service]
Environment=sp_hn=$sp_hn
ExecStart=/bin/sh $sp_runner
[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$E/multi-user.target.wants"
ln -sf ../sanpool-test-guest.service "$E/multi-user.target.wants/sanpool-test-guest.service"

# The outer machine is a container image whose policy-rc.d forbids starting
# services from package scripts (exit 101); a Debian host has none, and the
# package's postinst must start its service as it would there.
rm -f "$R/usr/sbin/policy-rc.d"

# /tmp and /var/tmp are the outer machine's, seen through 9p (the build tree
# or the package under test may be there): the boot must not empty them, as
# Debian's tmp.conf ("D") would (it also walked them for a minute).
mkdir -p "$R/etc/tmpfiles.d"
printf 'd /tmp 1777 root root -\nd /var/tmp 1777 root root -\n' > "$R/etc/tmpfiles.d/tmp.conf"

# Units enabled on the outer machine that have no part here (they would only
# take the guest's one emulated CPU, or fail for want of what the outer
# machine has): its database, its iSCSI target and NFS server (the cluster's
# target runs outside), login prompts (the console is the test's log), and
# the timers of a long-lived machine. wdmd: the outer machine runs sanlock
# without a watchdog ("-w 0" in /etc/default/sanlock) and has wdmd disabled
# there (enabled=0), but its unit is enabled; with no /dev/watchdog it fails.
for u in postgresql.service tgt.service nfs-server.service libvirt-guests.service \
	getty@tty1.service serial-getty@ttyS0.service console-getty.service wdmd.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer logrotate.timer man-db.timer; do
	ln -sf /dev/null "$E/$u"
done
