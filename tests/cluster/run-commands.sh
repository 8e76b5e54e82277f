#!/bin/sh
# The command runner of a cluster test guest (the end of guest.sh and
# lio-array.sh): runs /io/cmd/N.sh one at a time, in order, writing the output
# to /io/out/N.out and then the exit status to /io/out/N.rc (by rename: the
# harness's Guest.run waits for it).
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
