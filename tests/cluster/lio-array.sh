#!/bin/sh
# The ALUA array of the cluster tier: a guest whose kernel's LIO target
# (target_core_mod, iscsi_target_mod; configured through configfs) exports one
# LUN through two target port groups, as a dual-controller array does:
#   controller A: ALUA target port group 1, iSCSI TPG 1, portals 10.0.2.15:3260,3262
#   controller B: ALUA target port group 2, iSCSI TPG 2, portals 10.0.2.15:3261,3263
# A starts active/optimized, B active/non-optimized (implicit ALUA: only the
# array changes the states; `alua_state GROUP STATE` in a command does it).
# The harness forwards each portal to a loopback port outside, which the host
# guests reach at 10.0.2.2. Run by guest.sh (sp_role=array) after the network
# is up (sourced: its say and fail); ends in the command runner. This machine's kernel has no LIO: the
# guest's (Debian's) has.
# Parameters: sp_array_iqn the target's IQN, sp_array_size the LUN's bytes.
T=/sys/kernel/config/target
D=$T/core/fileio_0/lun0
W=$T/iscsi/$sp_array_iqn

modprobe -a configfs target_core_mod target_core_file iscsi_target_mod || fail "modprobe target"
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config || fail "configfs"

# the LUN: a sparse file on the guest's tmpfs; a fixed serial gives a fixed WWID
mkdir -p $D || fail "fileio"
echo "fd_dev_name=/run/lun0.img,fd_dev_size=$sp_array_size" > $D/control || fail "fileio control"
echo 5a1f0000a1a00001 > $D/wwn/vpd_unit_serial || fail "serial"
echo 1 > $D/enable || fail "fileio enable"

# ALUA target port groups (implicit: the array alone changes them)
g=1
for ctrl in ctrl_a ctrl_b; do
	mkdir -p $D/alua/$ctrl || fail "tg_pt_gp $ctrl"
	echo $g > $D/alua/$ctrl/tg_pt_gp_id || fail "tg_pt_gp_id $ctrl"
	echo 1 > $D/alua/$ctrl/alua_access_type || fail "alua_access_type $ctrl"
	g=$((g + 1))
done
echo 0 > $D/alua/ctrl_a/alua_access_state || fail "ctrl_a optimized"
echo 1 > $D/alua/ctrl_b/alua_access_state || fail "ctrl_b non-optimized"

# one iSCSI TPG per controller, each with the LUN (as LUN 0) and two portals
for tpg in 1 2; do
	P=$W/tpgt_$tpg
	mkdir -p $P/lun/lun_0 || fail "tpgt_$tpg"
	ln -s $D $P/lun/lun_0/lun0 || fail "lun link $tpg"
	[ $tpg = 1 ] && ctrl=ctrl_a || ctrl=ctrl_b
	echo $ctrl > $P/lun/lun_0/alua_tg_pt_gp || fail "lun in $ctrl"
	# ports: TPG 1 -> 3260, 3262; TPG 2 -> 3261, 3263
	for port in $((3259 + tpg)) $((3261 + tpg)); do
		mkdir $P/np/10.0.2.15:$port || fail "portal $port"
	done
	# any initiator, no CHAP: the hosts are told apart by their initiator names
	echo 1 > $P/attrib/generate_node_acls
	echo 1 > $P/attrib/cache_dynamic_acls
	echo 0 > $P/attrib/demo_mode_write_protect
	echo 0 > $P/attrib/authentication
	echo 1 > $P/enable || fail "tpgt_$tpg enable"
done

# alua_state GROUP STATE: GROUP ctrl_a|ctrl_b, STATE 0 active/optimized, 1 active/non-optimized
cat > /usr/sbin/alua_state <<EOF
#!/bin/sh
echo "\$2" > $D/alua/\$1/alua_access_state && cat $D/alua/\$1/alua_access_state
EOF
chmod 755 /usr/sbin/alua_state

say "guest $sp_hn: LIO array up: $(cat $D/alua/ctrl_a/alua_access_state) $(cat $D/alua/ctrl_b/alua_access_state)"
say "SANPOOL-GUEST-READY $sp_hn"
exec /bin/sh "${sp_guest%/*}/run-commands.sh"
