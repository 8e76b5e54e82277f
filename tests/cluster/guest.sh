#!/bin/sh
# PID 1 of a cluster test guest (run by the initramfs on the overlay root).
# Parameters come from the kernel command line, as environment variables:
#   sp_hn host name, sp_hid sanpoold host_id, sp_iqn target IQN,
#   sp_ports the target's portal ports (at 10.0.2.2; comma-separated), sp_bin sanpoold,
#   sp_mpconf the project's multipath.conf, sp_pki the cluster's certificates
#   (scripts/make-certs: the API is mutual TLS, as on a real host),
#   sp_sanlock the sanlock io_timeout (seconds; 0: no sanlock daemon, leases off),
#   sp_libvirt 1: virtlogd + libvirtd run and sanpoold watches the VMs (libvirt = yes),
#   sp_conf more sanpoold.conf keys: key:value,key:value (Cluster(conf=...)),
#   sp_mtu eth0's MTU (what the harness's network takes),
#   sp_san "QD:KB:NR" the emulated SAN's queues (below; SANPOOL_CLUSTER_SAN),
#   sp_role "array": this guest is the cluster's ALUA array (lio-array.sh), not a host.
# The harness's per-guest directory is mounted read-write at /io (9p tag "io"):
# sanpoold.log and guest.log go there, and /io/cmd/N.sh are run, one at a time,
# with their output in /io/out/N.out and exit status in /io/out/N.rc.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LVM_SUPPRESS_FD_WARNINGS=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
# no tmpfs on /tmp: the build tree (and a CI clone) may live under the outer
# /tmp, which the guest must see; writes land in the overlay's tmpfs anyway
mkdir -p /run/lock /io
say() { echo "$*" > /dev/console; }
fail() { say "SANPOOL-GUEST-FAILED $*"; sleep 2; echo 1 > /proc/sys/kernel/sysrq; echo o > /proc/sysrq-trigger; sleep 60; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 io /io || fail "io mount"
exec >/io/guest.log 2>&1
# each traced command with the guest's uptime: where a slow boot spends its time
# (read, a builtin: no exec per line, which costs an emulated CPU ~50 ms)
PS4='+$(read u _ < /proc/uptime; echo $u) '
set -x
# scsi_dh_alua before any SCSI scan: it attaches to ALUA LUNs as they appear
modprobe -a virtio_net dm-mod dm-multipath iscsi_tcp sd_mod scsi_dh_alua || fail "modprobe"
hostname "$sp_hn"
ip link set lo up
ip link set eth0 up || fail "no eth0"
# sp_mtu: the harness's network takes frames this large (passt: 65520; slirp: 1500)
[ "${sp_mtu:-1500}" != 1500 ] && { ip link set eth0 mtu "$sp_mtu" || fail "mtu $sp_mtu"; }
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
say "guest $sp_hn: network up"
[ "$sp_role" = array ] && . "${sp_guest%/*}/lio-array.sh"

/lib/systemd/systemd-udevd --daemon || fail "udevd"
# coldplug only what the guest uses: the disks and maps come later, as live events;
# every other device's modules (floppy, ata_piix, psmouse...) cost seconds of emulated CPU
udevadm trigger --action=add --subsystem-match=block --subsystem-match=net
udevadm settle --timeout=60

echo "InitiatorName=iqn.2026-11.org.sanpool.test:$sp_hn" > /etc/iscsi/initiatorname.iscsi
iscsid || fail "iscsid"
for p in $(echo "$sp_ports" | tr ',' ' '); do
	iscsiadm -m node -o new -T "$sp_iqn" -p "10.0.2.2:$p" || fail "iscsi node $p"
done
# sp_san "QD:KB:NR": the emulated SAN's queues (QD commands per path, requests of at most
# KB KiB, NR requests queued on the multipath map; empty: the kernel's defaults). KB below
# 1024 made sanlock's 1 MiB reads fail in the guests (tests/cluster/README.md)
IFS=: read -r san_qd san_kb san_nr <<EOF
$sp_san
EOF
[ -n "$san_qd" ] && { iscsiadm -m node -o update -n node.session.queue_depth -v "$san_qd" || fail "queue depth"; }
iscsiadm -m node -L all || fail "iscsi login"
say "guest $sp_hn: iscsi logged in"

cp "$sp_mpconf" /etc/multipath.conf || fail "multipath.conf"
# the request size through multipathd, which sets it on the paths before it makes or
# reloads the map (a map's request larger than a path's limit fails)
[ -n "$san_kb" ] && { sed -i "s/^defaults {/defaults {\n\tmax_sectors_kb $san_kb/" /etc/multipath.conf || fail "max_sectors_kb"; }
multipathd || fail "multipathd"
udevadm settle --timeout=60
i=0
while :; do
	n=$(multipathd show paths format "%w %T" 2>/dev/null | grep -c " ready")
	[ "$n" -ge "$(echo "$sp_ports" | tr ',' '\n' | grep -c .)" ] && [ -n "$(ls /dev/mapper | grep -v '^control$')" ] && break
	i=$((i + 1))
	[ $i -ge 300 ] && fail "multipath map with every path ready"
	sleep 0.2
done
udevadm settle --timeout=60
[ -n "$sp_san" ] && for d in /sys/block/dm-* /sys/block/sd*; do
	case $d in */dm-*) [ -n "$san_nr" ] && { echo "$san_nr" > "$d/queue/nr_requests" || fail "nr_requests ${d##*/}"; } ;; esac
	echo "${d##*/}: $(cat $d/queue/scheduler) qd=$(cat $d/device/queue_depth 2>/dev/null) kb=$(cat $d/queue/max_sectors_kb) nr=$(cat $d/queue/nr_requests)"
done
say "guest $sp_hn: multipath ready"

sanlock_conf="sanlock = no"
if [ "${sp_sanlock:-0}" -gt 0 ]; then
	# the host's sanlock daemon: -w 0 no watchdog (no wdmd in the guest), -l 0 no mlockall
	mkdir -p /run/sanlock
	sanlock daemon -w 0 -l 0 -U root -G root -e "$sp_hn" || fail "sanlock daemon"
	i=0
	until sanlock client status > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 300 ] && fail "sanlock daemon not answering"
		sleep 0.1
	done
	sanlock_conf="sanlock = yes
sanlock_io_timeout = $sp_sanlock"
	say "guest $sp_hn: sanlock daemon up"
fi

libvirt_conf="libvirt = no"
if [ "${sp_libvirt:-0}" = 1 ]; then
	# the VMs run as root here (the overlay's own qemu.conf): the guest's
	# devices are its own, nothing to confine
	mkdir -p /run/libvirt /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt
	printf 'user = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
	virtlogd -d || fail "virtlogd"
	libvirtd -d --pid-file /run/libvirtd.pid || fail "libvirtd"
	i=0
	until virsh -c qemu:///system version > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 600 ] && fail "libvirtd not answering"
		sleep 0.1
	done
	libvirt_conf="libvirt = yes"
	say "guest $sp_hn: libvirtd up"
fi

cat > /run/sanpoold.conf <<CONF
listen_address = 10.0.2.15
port = 7447
data_dir = /var/lib/sanpool
run_dir = /run/sanpool
host_id = $sp_hid
lvm_activation = yes
$sanlock_conf
$libvirt_conf
log_level = debug
tls = yes
tls_cert = $sp_pki/server.pem
tls_key = $sp_pki/server.key
tls_ca = $sp_pki/ca.pem
CONF
[ -n "$sp_conf" ] && echo "$sp_conf" | tr ',' '\n' | sed 's/:/ = /' >> /run/sanpoold.conf
mkdir -p /var/lib/sanpool
"$sp_bin" --config /run/sanpoold.conf > /io/sanpoold.log 2>&1 &
echo $! > /run/sanpoold.pid
say "SANPOOL-GUEST-READY $sp_hn"

exec /bin/sh "${sp_guest%/*}/run-commands.sh"
