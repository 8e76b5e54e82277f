#!/bin/busybox sh
# /init of the cluster guests' initramfs: mounts the outer root filesystem
# (9p, read-only) under a tmpfs overlay and runs the guest script on it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod "/mods/$m" || echo "init: insmod $m failed"; done
mkdir -p /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower || { echo "SANPOOL-GUEST-FAILED 9p root"; poweroff -f; }
mount -t tmpfs -o size=384m tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || { echo "SANPOOL-GUEST-FAILED overlay"; poweroff -f; }
if [ "$sp_init" = systemd ]; then
	# systemd as PID 1 (Cluster(init="systemd")): the prepare script writes the
	# guest's units into the overlay (the outer root is seen at /newroot too)
	/bin/sh "/newroot$sp_prep" /newroot || { echo "SANPOOL-GUEST-FAILED systemd prepare"; poweroff -f; }
	umount /proc /sys /dev
	exec switch_root /newroot /lib/systemd/systemd
fi
umount /proc /sys /dev
exec switch_root /newroot /bin/sh "$sp_guest"
