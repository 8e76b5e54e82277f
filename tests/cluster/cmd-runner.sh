#!/bin/sh
# The command channel of a cluster test guest, run last by guest.sh and by
# guest-systemd.sh: /io/cmd/N.sh are run, one at a time, with their output in
# /io/out/N.out and then their exit status in /io/out/N.rc (Guest.run).
set +x
mkdir -p /io/cmd /io/out
while :; do
	for f in /io/cmd/*.sh; do
		[ -e "$f" ] || continue
		n=${f##*/}
		n=${n%.sh}
		sh "$f" > "/io/out/$n.out" 2>&1 < /dev/null
		echo $? > "/io/out/$n.rc.tmp"
		mv "/io/out/$n.rc.tmp" "/io/out/$n.rc"
		rm -f "$f"
	done
	sleep 0.1
done
