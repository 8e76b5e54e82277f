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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))
from harness import Cluster, GiB, MiB  # noqa: E402
import thinvm  # noqa: E402

SAMPLES = int(os.environ.get("SANPOOL_PROBE_SAMPLES", "6"))


def note(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


class Writer(threading.Thread):
    """qemu-io writes of `piece` bytes back to back inside the VM's qemu, within the first GiB."""

    def __init__(self, host, vm, piece):
        super().__init__(daemon=True)
        self.host, self.vm, self.piece = host, vm, piece
        self.stop = threading.Event()
        self.written = 0
        self.seconds = 0.0
        self.error = None

    def run(self):
        off = 0
        t0 = time.monotonic()
        try:
            while not self.stop.is_set():
                thinvm.qemu_io(self.host, self.vm, "write -P 0x5a %d %d" % (off, self.piece))
                self.written += self.piece
                off = (off + self.piece) % GiB
        except Exception as e:  # noqa: BLE001 - printed by the main thread
            self.error = repr(e)
        self.seconds = time.monotonic() - t0


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


def with_writer(host, vm, piece, fn):
    w = Writer(host, vm, piece)
    w.start()
    # the writer's queue fills within its first piece; start measuring once a piece is under way
    thinvm.wait_until("writer started", lambda: (w.written > 0 or w.error is not None, w.written), timeout=300)
    try:
        fn()
    finally:
        w.stop.set()
        w.join()
    if w.error:
        raise RuntimeError("writer: " + w.error)
    note("writer of %d MiB pieces: %d MiB in %.0f s = %.1f MiB/s"
         % (piece // MiB, w.written // MiB, w.seconds, w.written / MiB / max(w.seconds, 0.001)))


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
        with_writer(h, "probe", 64 * MiB, lambda: probe(h, dev, vg, "w64"))
        with_writer(h, "probe", 64 * MiB, lambda: probe(h, dev, vg, "w64_ionice_rt", "ionice -c1 -n0"))
        thinvm.remove_vm(h, "probe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
