#!/usr/bin/env python3
"""Why the first LVM command after a block-threshold event waits: the latency of a metadata-sized
O_DIRECT read of the PV (and of a real `lvs`) in a cluster guest while a VM writes the same
multipath device, under the guest's queue settings and the alternatives an agent may set.

Boots one TCG guest (tests/cluster/harness.py) with sanlock, libvirtd and sanpoold; makes a pool
with a block master on the LUN; a VM (no OS) gets a thin qcow2 image whose first LV is large
enough that nothing is extended, and HMP qemu-io inside its qemu writes 64 MiB pieces back to
back (as bench/thin_extend.py's writer). Meanwhile the guest times `dd iflag=direct` of 4 KiB at
the PV's start (where LVM reads its label and metadata) and `lvs` of the VG: idle, under the
writer, and under the writer at the real-time I/O class (ionice; the guest's multipath device
and its paths use mq-deadline, which honours it), with the requests in flight on each device
(/sys/block/*/inflight) at each sample; the queue settings and the writer's rate are printed
too. Not in CI, not in bench/run-all (a diagnostic, ~5 min; root):
    python3 bench/thin_queue_probe.py [BUILD_DIR]
Prints `figure probe_<setting>_<what>_p50_ms / _max_ms` lines and notes.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))
from harness import Cluster, GiB, MiB  # noqa: E402
import thinvm  # noqa: E402

SAMPLES = int(os.environ.get("SANPOOL_PROBE_SAMPLES", "6"))


def note(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


WRITER = r"""
off=0; n=0; t0=$(date +%%s)
while [ ! -e /run/probe-stop ]; do
  virsh qemu-monitor-command %s --hmp "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"write -P 0x5a $off %d\"" > /dev/null || break
  off=$(( (off + %d) %% 1073741824 )); n=$((n + 1))
done
echo "$n $(( $(date +%%s) - t0 ))" > /run/probe-writer.done
"""


def with_writer(host, vm, piece, fn):
    """fn() while qemu-io writes pieces back to back inside the VM's qemu: run in the background
    in the guest (its command channel runs one command at a time, so a writer driven through it
    would never overlap the probe)."""
    host.run("rm -f /run/probe-stop /run/probe-writer.done; cat > /run/probe-writer.sh <<'EOF'\n%sEOF\n"
             "setsid sh /run/probe-writer.sh > /run/probe-writer.log 2>&1 < /dev/null &" % (WRITER % (vm, piece, piece)),
             check=True)
    try:
        fn()
    finally:
        host.run("touch /run/probe-stop", check=True)
        done = thinvm.wait_until("writer stopped", lambda: (lambda rc_out: (rc_out[0] == 0, rc_out[1]))(
            host.run("cat /run/probe-writer.done")), timeout=300)
    n, secs = (int(x) for x in done.split())
    note("writer of %d MiB pieces: %d MiB in %d s = %.1f MiB/s" % (piece // MiB, n * piece // MiB, secs,
                                                                 n * piece / MiB / max(secs, 1)))


def probe(host, dev, vg, setting, ionice=""):
    """SAMPLES timings (ms) of a 4 KiB O_DIRECT read of the PV's start and of `lvs VG`, inside the guest."""
    script = r"""
dev=%s; vg=%s
for i in $(seq %d); do
  a=$(date +%%s%%N); %s dd if=$dev of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; b=$(date +%%s%%N)
  %s lvs --noheadings -o lv_name $vg >/dev/null 2>&1; c=$(date +%%s%%N)
  inf=$(for d in /sys/block/dm-* /sys/block/sd*; do printf '%%s:%%s ' ${d##*/} "$(cat $d/inflight | tr -s ' ' ,)"; done)
  echo "sample $(( (b-a)/1000000 )) $(( (c-b)/1000000 )) $inf"
  sleep 1
done
""" % (dev, vg, SAMPLES, ionice, ionice)
    rc, out = host.run(script, timeout=900)
    dd, lvs = [], []
    for line in out.splitlines():
        if line.startswith("sample "):
            parts = line.split()
            dd.append(int(parts[1]))
            lvs.append(int(parts[2]))
            note("%s: dd %s ms, lvs %s ms, inflight %s" % (setting, parts[1], parts[2], " ".join(parts[3:])))
    for what, v in (("dd", dd), ("lvs", lvs)):
        if v:
            v.sort()
            print("figure probe_%s_%s_p50_ms %d ms" % (setting, what, v[len(v) // 2]))
            print("figure probe_%s_%s_max_ms %d ms" % (setting, what, v[-1]))
    sys.stdout.flush()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ.setdefault("SANPOOLD", os.path.abspath(os.path.join(build, "agent", "sanpoold")))
    conf = {"thin_initial_size_mib": 2048, "thin_extend_chunk_mib": 128, "thin_watermark_percent": 20}
    with Cluster(n=1, memory_mib=1536, libvirt=True, conf=conf, sanlock_io_timeout=5, lun_size=8 * GiB) as c:
        h = c.guests[0]
        rc, out = h.run('multipathd show paths format "%w"', check=True)
        dev = "/dev/mapper/" + out.splitlines()[1].split()[0]
        pool, dom = thinvm.pool_with_spm(h, [], dev)
        rc, out = h.run(r"""
for d in /sys/block/dm-* /sys/block/sd*; do
  echo "${d##*/}: sched=$(cat $d/queue/scheduler) nr_requests=$(cat $d/queue/nr_requests) \
max_sectors_kb=$(cat $d/queue/max_sectors_kb) queue_depth=$(cat $d/device/queue_depth 2>/dev/null) \
rq_based=$(cat $d/dm/use_blk_mq 2>/dev/null) name=$(cat $d/dm/name 2>/dev/null)"
done
cat /sys/class/scsi_host/host*/can_queue
iscsiadm -m session -P 3 2>/dev/null | grep -i -E 'depth|cmds|MaxRecv|MaxBurst|FirstBurst|ImmediateData|InitialR2T' | sort | uniq -c
dmsetup table
""")
        note("queues:\n" + out)
        st, acc = h.post("/v1/domains/%s/images" % dom, {"name": "probe", "format": "qcow2", "allocation": "sparse",
                                                          "capacity": 4 * GiB})
        assert st == 202, acc
        assert h.wait_task(acc["task"])["state"] == "finished"
        st, p = h.post("/v1/domains/%s/images/%s/prepare" % (dom, acc["image"]))
        assert st == 200, p
        thinvm.start_vm(h, "probe", p["path"])
        vg = dom

        probe(h, dev, vg, "idle")

        def phases():
            # the paths' SCSI queue depth: how many requests (of up to max_sectors_kb) are past
            # the multipath device's scheduler, where no priority can pass them
            for qd in (32, 4, 1):
                h.run("for d in /sys/block/sd*/device/queue_depth; do echo %d > $d; done" % qd, check=True)
                probe(h, dev, vg, "w64_qd%d" % qd)
                probe(h, dev, vg, "w64_qd%d_ionice_rt" % qd, "ionice -c1 -n0")
        with_writer(h, "probe", 64 * MiB, phases)
        thinvm.remove_vm(h, "probe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
