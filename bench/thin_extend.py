#!/usr/bin/env python3
"""Thin provisioning under a sustained writer: extend latency from the block-threshold event to
the LV refreshed on the host whose VM writes, on the SPM (direct) and on another host (mailbox).

Boots its own cluster (tests/cluster/harness.py: 2 qemu TCG guests sharing an iSCSI LUN, each
with sanlock, libvirtd and sanpoold's thin monitor); not in CI (it writes
SANPOOL_BENCH_THIN_EXTENDS x 128 MiB per host through emulated I/O). Host 1 makes a pool and
is its SPM; on each host a VM (no OS) has a thin qcow2 image prepared there as its disk, and
qemu-io inside its qemu writes pieces of SANPOOL_BENCH_THIN_PIECE_MIB back to back, never
waiting for an extend, until the monitor has made the wanted number of extends or the time is
up (first LV 128 MiB, chunk 128 MiB = one extent, the least an extend can add; watermark 20%:
an extend per 128 MiB written, armed with 102 MiB left). Both hosts write at once, so the
extends counted are twice the number per host.

Figures: extend_p50_ms_spm, extend_p99_ms_spm, extend_p50_ms_hsm, extend_p99_ms_hsm,
extend_p99_ms (the worse), thin_extends_spm/hsm (how many), thin_vm_paused_count (pauses for
ENOSPC the monitors saw), thin_writer_mib_s_spm/hsm (the writers' mean rate),
lvm_lvextend_mean_ms_spm and lvm_lvchange_mean_ms_hsm (the mean
time of those LVM commands in the agents, from /metrics) and thin_write_enospc_count (qemu-io writes that failed for lack of
space: HMP qemu-io bypasses the device's error policy, so where a guest would have paused,
the write fails instead). Run as root: python3 bench/thin_extend.py [BUILD_DIR]
Knobs: SANPOOL_BENCH_THIN_EXTENDS (per host, default 50: 100 in all), SANPOOL_BENCH_THIN_MAX_S
(the writers' time limit, default 1800), SANPOOL_BENCH_THIN_PIECE_MIB (default PIECE_MIB),
SANPOOL_BENCH_THIN_PRIO=off (the agents' threads at the VMs' priority: the comparison without
lib/util/prio.c), SANPOOL_BENCH_THIN_WRITER=guest (the writer's loop inside the guest, below).
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))
from harness import Cluster, GiB, MiB  # noqa: E402
import thinvm  # noqa: E402

CHUNK = 128 * MiB
PIECE_MIB = 64


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def note(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def lvm_means(host):
    """{command: (count, mean ms)} of the agent's LVM commands, from its /metrics."""
    st, body = host.get("/metrics")
    assert st == 200, body
    text = body.decode() if isinstance(body, bytes) else str(body)
    sums, counts = {}, {}
    for line in text.splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            head = "sanpool_lvm_command_duration_seconds%s{command=\"" % suffix
            if line.startswith(head):
                cmd, value = line[len(head):].split("\"", 1)
                into[cmd] = float(value.split()[-1])
    return {cmd: (int(counts[cmd]), 1000.0 * sums[cmd] / counts[cmd]) for cmd in counts if counts[cmd]}


def reset_priorities(host):
    """Every thread of the agent back to the VMs' CPU and I/O priority (nice 0, best-effort 4),
    as before lib/util/prio.c raised the extend path's: SANPOOL_BENCH_THIN_PRIO=off, a before/after
    comparison on one binary and one machine state."""
    host.run("for t in /proc/$(cat /run/sanpoold.pid)/task/*; do renice -n 0 -p ${t##*/} >/dev/null && "
             "ionice -c2 -n4 -p ${t##*/} || exit 1; done", check=True)


def cpu_times(host):
    """(busy, idle, iowait) jiffies of the guest's CPU from /proc/stat."""
    rc, out = host.run("head -1 /proc/stat", check=True)
    v = [int(x) for x in out.split()[1:8]]  # user nice system idle iowait irq softirq
    return v[0] + v[1] + v[2] + v[5] + v[6], v[3], v[4]


def extends_made(host, volume):
    """How many extends of volume host's thin monitor has made (its recent extends)."""
    return sum(1 for e in thinvm.thin_state(host)["recent_extends"] if e["volume"] == volume)


# SANPOOL_BENCH_THIN_WRITER=guest: the pieces are written by a loop inside the guest (one
# `virsh qemu-monitor-command` after the other, no round trip through the harness's command
# channel and the API between two pieces), so that smaller pieces (less written data in flight
# for an extend's suspend to drain) keep the writer's rate
WRITER_IN_GUEST = os.environ.get("SANPOOL_BENCH_THIN_WRITER", "channel") == "guest"
GUEST_WRITER = r"""
off=0; t0=$(date +%s.%N)
while [ ! -e /run/{vm}.stop ]; do
  virsh qemu-monitor-command {vm} --hmp "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"write -P 0x5a $off {piece}\"" > /dev/null || break
  off=$((off + {piece}))
done
echo "$off $t0 $(date +%s.%N)" > /run/{vm}.done
"""


def write_in_guest(host, name, volume, wanted, max_s, piece, out):
    """The writer as a loop inside the guest until the monitor made `wanted` extends of the
    volume or max_s passed; out gets what it wrote and in how long (the guest's clock)."""
    script = GUEST_WRITER.format(vm=name, piece=piece)
    host.run("rm -f /run/%s.stop /run/%s.done; cat > /run/%s.sh <<'EOF'\n%sEOF\n"
             "setsid sh /run/%s.sh > /run/%s.log 2>&1 < /dev/null &" % (name, name, name, script, name, name),
             check=True)
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        if extends_made(host, volume) >= wanted:
            break
        time.sleep(0.5)
    host.run("touch /run/%s.stop" % name, check=True)
    done = thinvm.wait_until("%s writer stopped" % name, lambda: (lambda rc_out: (rc_out[0] == 0, rc_out[1]))(
        host.run("cat /run/%s.done" % name)), timeout=300)
    off, t0, t1 = done.split()
    out["written"] = int(off)
    out["write_s"] = float(t1) - float(t0)


def run_vm(host, dom, image, volume, name, wanted, max_s, piece, out):
    try:
        st, p = host.post("/v1/domains/%s/images/%s/prepare" % (dom, image))
        assert st == 200, p
        thinvm.start_vm(host, name, p["path"])
        thinvm.wait_until("%s watched" % name, lambda: (lambda d: (d is not None and d["threshold"] > 0, d))(
            thinvm.drive(host, volume)))
        if WRITER_IN_GUEST:
            write_in_guest(host, name, volume, wanted, max_s, piece, out)
        else:
            t0 = time.monotonic()
            off = 0
            while time.monotonic() - t0 < max_s:
                if extends_made(host, volume) >= wanted:
                    break
                thinvm.qemu_io(host, name, "write -P 0x5a %d %d" % (off, piece))
                off += piece
            out["written"] = off
            out["write_s"] = time.monotonic() - t0
        s = thinvm.wait_until("%s settled" % name, lambda: thinvm.settled(host, volume), timeout=300)
        out["latencies_ms"] = [e["latency_us"] / 1000.0 for e in s["recent_extends"] if e["volume"] == volume]
        out["pauses"] = s["vm_pauses"]
        rc, log = host.run("grep -c 'write failed: No space left' /var/log/libvirt/qemu/%s.log" % name)
        out["enospc_writes"] = int(log.strip().splitlines()[-1]) if log.strip() else 0
        thinvm.remove_vm(host, name)
    except Exception as e:  # reported by the main thread
        out["error"] = repr(e)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    wanted = int(os.environ.get("SANPOOL_BENCH_THIN_EXTENDS", "50"))
    max_s = float(os.environ.get("SANPOOL_BENCH_THIN_MAX_S", "1800"))
    piece = int(os.environ.get("SANPOOL_BENCH_THIN_PIECE_MIB", str(PIECE_MIB))) * MiB
    os.environ.setdefault("SANPOOLD", os.path.abspath(os.path.join(build, "agent", "sanpoold")))
    conf = {"thin_initial_size_mib": CHUNK // MiB, "thin_extend_chunk_mib": CHUNK // MiB,
            "thin_watermark_percent": 20}
    lun = 2 * (wanted + 6) * CHUNK + 2 * GiB
    with Cluster(n=2, memory_mib=1536, libvirt=True, conf=conf, sanlock_io_timeout=5, lun_size=lun) as c:
        h1, h2 = c.guests
        rc, out = h1.run('multipathd show paths format "%w"', check=True)
        dev = "/dev/mapper/" + out.splitlines()[1].split()[0]
        pool, dom = thinvm.pool_with_spm(h1, [h2], dev)
        if os.environ.get("SANPOOL_BENCH_THIN_PRIO", "on") == "off":
            for h in (h1, h2):  # after spm/start: the SPM's mailbox poller exists
                reset_priorities(h)
            note("agents' thread priorities reset to the VMs' (SANPOOL_BENCH_THIN_PRIO=off)")
        results = {"spm": {}, "hsm": {}}
        vols = {}
        for role, name in (("spm", "bench1"), ("hsm", "bench2")):
            st, acc = h1.post("/v1/domains/%s/images" % dom, {"name": name, "format": "qcow2", "allocation": "sparse",
                                                               "capacity": (wanted + 4) * CHUNK})
            assert st == 202, acc
            assert h1.wait_task(acc["task"])["state"] == "finished"
            vols[role] = (acc["image"], acc["volume"], name)
        note("load before writing: %s" % open("/proc/loadavg").read().strip())
        cpu0 = [cpu_times(h) for h in (h1, h2)]
        threads = [threading.Thread(target=run_vm, args=(h, dom, vols[role][0], vols[role][1], vols[role][2], wanted,
                                                         max_s, piece, results[role]))
                   for role, h in (("spm", h1), ("hsm", h2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        note("load after writing: %s" % open("/proc/loadavg").read().strip())
        # is a guest's one vCPU saturated while its VM writes (an LVM command then waits for it)?
        for h, before in zip((h1, h2), cpu0):
            d = [b - a for a, b in zip(before, cpu_times(h))]
            note("%s CPU while writing: busy %.0f%%, idle %.0f%%, iowait %.0f%%"
                 % ((h.name,) + tuple(100.0 * x / max(1, sum(d)) for x in d)))
        worst = 0.0
        total = 0
        for role in ("spm", "hsm"):
            r = results[role]
            if "error" in r:
                note("%s: %s" % (role, r["error"]))
                c.collect_logs("bench failure")
                return 1
            lat = r["latencies_ms"]
            total += len(lat)
            rate = r["written"] / MiB / r["write_s"]
            note("%s: %d extends, %d MiB written in %.0f s (%.1f MiB/s, pieces of %d MiB); latencies ms: %s"
                 % (role, len(lat), r["written"] // MiB, r["write_s"], rate, piece // MiB,
                    " ".join("%.0f" % x for x in lat)))
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            worst = max(worst, p99)
            print("figure extend_p50_ms_%s %.0f ms" % (role, p50))
            print("figure extend_p99_ms_%s %.0f ms" % (role, p99))
            print("figure thin_extends_%s %d count" % (role, len(lat)))
            print("figure thin_writer_mib_s_%s %.1f MiB/s" % (role, rate))
        print("figure extend_p99_ms %.0f ms" % worst)
        print("figure thin_extends_total %d count" % total)
        # where the time goes: the SPM's lvextend resizes (suspends) its active LV, the other
        # host's lvchange --refresh reloads its table (lvchange also counts the prepare's
        # activations)
        for role, h in (("spm", h1), ("hsm", h2)):
            means = lvm_means(h)
            note("%s LVM commands (count, mean ms): %s" % (role, " ".join(
                "%s=%d,%.0f" % (cmd, n, ms) for cmd, (n, ms) in sorted(means.items()))))
        spm, hsm = lvm_means(h1), lvm_means(h2)
        if "lvextend" in spm:
            print("figure lvm_lvextend_mean_ms_spm %.0f ms" % spm["lvextend"][1])
        if "lvchange" in hsm:
            print("figure lvm_lvchange_mean_ms_hsm %.0f ms" % hsm["lvchange"][1])
        print("figure thin_vm_paused_count %d count" % (results["spm"]["pauses"] + results["hsm"]["pauses"]))
        print("figure thin_write_enospc_count %d count"
              % (results["spm"]["enospc_writes"] + results["hsm"]["enospc_writes"]))
        if os.environ.get("SANPOOL_CLUSTER_LOGS"):  # the agents' debug logs: where the time went
            c.collect_logs("bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
