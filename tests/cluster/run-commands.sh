#!/bin/sh
# The command runner every cluster test guest ends in (guest.sh, lio-array.sh,
# guest-systemd.sh):
# /io/cmd/N.sh (N = 1, 2, ...; the harness renames each into place whole) runs
# in turn, in /bin/sh by path (a bare "sh" inside busybox's shell is busybox's,
# which prefers its own cmp, dd...); its output goes to /io/out/N.out, then its
# exit status to /io/out/N.rc in one write (Guest.run waits for it).
# The loop runs in busybox's shell and waits with read -t on a FIFO that no one
# writes to, so an idle turn starts no process (each fork + exec costs an
# emulated CPU ~50 ms; a loop with sleep, mv and rm kept an idle guest half busy).
set +x
mkdir -p /io/cmd /io/out
mkfifo /run/cmd-wait
exec /bin/busybox sh -c '
exec 3<> /run/cmd-wait
n=1
while :; do
	if [ -e /io/cmd/$n.sh ]; then
		/bin/sh /io/cmd/$n.sh > /io/out/$n.out 2>&1 < /dev/null
		echo $? > /io/out/$n.rc
		n=$((n + 1))
	else
		read -t 0.05 -u 3 x
	fi
done'
