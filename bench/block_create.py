#!/usr/bin/env python3
"""Volume create latency on a block domain through the API, side by side with
bare `lvcreate` commands, at 10, 100, 1,000 and 5,000 LVs in the VG.
SANPOOL_BENCH_BLOCK_SIZES="10 100" replaces the list of sizes,
SANPOOL_BENCH_BLOCK_SAMPLES (default 100) the samples per size,
SANPOOL_BENCH_BLOCK_CALLGRIND (default 5; 0: none) the creates counted
instruction by instruction under callgrind at the largest N.

Root only. Two loop devices on sparse files in the scratch directory:
- the agent's: a block domain made through the API (POST /v1/domains, kind
  block), the daemon running with `lvm_activation = no` (no device-mapper
  here) and its run_dir in the scratch directory;
- the baseline's: a VG of the same shape (PV metadata area 128 MiB, extents
  128 MiB, the same VG tags and the same five 1-extent special LVs) made with
  the system's LVM commands and default /etc/lvm/lvm.conf.

One sample of the agent: POST /v1/domains/{d}/images (thin qcow2, 10 GiB), then
GET /v1/tasks/{t}?wait_ms=10000 until the task has ended; the volume is then
LEGAL with its tags (an LV of 1 GiB, the thin initial size). One sample of the
baseline: one `lvcreate` process with the default lvm.conf plus
`--driverloaded n` (no device-mapper), the same options the agent passes
(--activate n --zero n --wipesignatures n, 1 GiB) and 9 tags of the same
lengths as the agent's volume LVs (lib/block_tags.c: sp.i sp.n sp.f sp.a sp.c
sp.l sp.s sp.g sp.t). The two alternate, one after the other.

N is the number of LVs in each VG, the five special LVs included. Filling:
one volume is made the way it is measured on each side (through the API; one
`lvcreate`), then each VG is filled to N by copying that LV in the VG's
metadata text (bench/vg_fill.py: vgcfgbackup, N - count copies with new
names, LV ids, tags and extents, vgcfgrestore; the agent's with the daemon
stopped, which is started again afterwards and reads the volumes back). What
the VGs then hold is checked with `lvs`: N LVs, a filled LV's tags as the
template's. At each N, SAMPLES samples are taken and each sampled
volume/LV is removed again (untimed: DELETE of the image through the API,
`lvremove`), so every sample sees exactly N LVs.

Then, at the largest N, where the agent's time goes: the daemon is restarted
with `log_level = debug` (it logs each LVM command it runs and LVM's own
"created"/"changed" line at its end) and ANALYSIS_SAMPLES more creates are
split into their steps; `qemu-img measure` is timed alone.

    python3 bench/block_create.py [BUILD_DIR]

Figures: block_create_p50_ms_N, block_create_p99_ms_N, lvcreate_p50_ms_N,
lvcreate_p99_ms_N for each N; block_create_vs_lvcreate_ratio (agent p50 /
bare p50 at the largest N); block_create_p99_ms_5000_lvs when 5,000 is
measured; and the analysis (block_create_step_*_ms).

Everything made is removed at the end, also on failure or Ctrl-C: both VGs
(vgremove -f, each with its own LVM_SYSTEM_DIR and a filter that admits only
its loop device), the loop devices, the scratch directory, and the baseline
VG's files in /etc/lvm/archive and /etc/lvm/backup (which the default
lvm.conf makes every lvcreate write; they are also pruned during the run).
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import GiB, MiB, Daemon, cleanup, figure, loadavg, median, note, percentile, workdir  # noqa: E402
import vg_fill  # noqa: E402

SIZES = [int(x) for x in os.environ.get("SANPOOL_BENCH_BLOCK_SIZES", "10 100 1000 5000").split()]
SAMPLES = int(os.environ.get("SANPOOL_BENCH_BLOCK_SAMPLES", "100"))
ANALYSIS_SAMPLES = 30
# creates counted instruction by instruction under callgrind at the largest N
# (0: none): a measure the other users of a shared machine do not disturb
CALLGRIND_SAMPLES = int(os.environ.get("SANPOOL_BENCH_BLOCK_CALLGRIND", "5"))
CAPACITY = 10 * GiB
LV_SIZE = GiB            # thin_initial_size_mib default: what the agent's LV gets
EXTENT = 128 * MiB       # lib/domain_block.c EXTENT_SIZE
PV_METADATA = 128 * MiB  # lib/domain_block.c PV_METADATA_SIZE
SPECIAL = ["ids", "leases", "inbox", "outbox", "journal"]
ARCHIVE_DIR, BACKUP_DIR = "/etc/lvm/archive", "/etc/lvm/backup"


def run(argv, env=None, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv[:3]), r.returncode, r.stderr.strip()[-2000:]))
    return r


def filter_config(dev):
    return 'devices { filter = [ "a|^%s$|", "r|.*|" ] }' % dev


class Bare:
    """The baseline: the system's LVM commands with the default lvm.conf."""

    def __init__(self, dev, vg):
        self.dev, self.vg = dev, vg
        self.env = {k: v for k, v in os.environ.items() if k != "LVM_SYSTEM_DIR"}
        self.env["LVM_SUPPRESS_FD_WARNINGS"] = "1"
        self.made = False
        self.creates = 0

    def cmd(self, argv, check=True):
        return run(argv, env=self.env, check=check)

    def make(self, vg_tags):
        self.cmd(["pvcreate", "--metadatasize", "%db" % PV_METADATA, self.dev])
        argv = ["vgcreate", "--physicalextentsize", "%dk" % (EXTENT // 1024)]
        for t in vg_tags:
            argv += ["--addtag", t]
        self.cmd(argv + [self.vg, self.dev])
        self.made = True
        for name in SPECIAL:
            self.lvcreate(name, EXTENT, [], contiguous=True)

    def lvcreate(self, name, size, tags, contiguous=False, wrapper=()):
        argv = list(wrapper) + ["lvcreate", "--driverloaded", "n", "--activate", "n", "--zero", "n", "--wipesignatures", "n"]
        if contiguous:
            argv.append("--alloc=contiguous")
        argv.append("--size=%db" % size)
        for t in tags:
            argv += ["--addtag", t]
        self.cmd(argv + ["--name", name, self.vg])
        self.creates += 1
        if self.creates % 200 == 0:
            self.prune_archive()

    def lvremove(self, name):
        self.cmd(["lvremove", "--driverloaded", "n", "--force", "%s/%s" % (self.vg, name)])

    def prune_archive(self):
        """The default lvm.conf archives the VG metadata before every change
        (kept 30 days): keep /etc/lvm from filling up with ours."""
        for p in glob.glob(os.path.join(ARCHIVE_DIR, "%s_*.vg" % self.vg)):
            try:
                os.unlink(p)
            except OSError:
                pass

    def lv_tags(self):
        r = self.cmd(["lvs", "--config", filter_config(self.dev), "--reportformat", "json", "-o", "lv_name,lv_tags",
                      self.vg])
        return {lv["lv_name"]: lv["lv_tags"].split(",") if lv["lv_tags"] else []
                for lv in json.loads(r.stdout)["report"][0]["lv"]}


def agent_lvm(wd, dev, argv, check=True):
    """An LVM command the way the integration test runs one: the daemon's
    private lvm.conf (LVM_SYSTEM_DIR=<run_dir>/lvm) and a filter with only the
    agent's loop device."""
    env = dict(os.environ, LVM_SYSTEM_DIR=os.path.join(wd, "run", "lvm"), LVM_SUPPRESS_FD_WARNINGS="1")
    return run([argv[0], "--config", filter_config(dev)] + argv[1:], env=env, check=check)


def agent_lvs(wd, dev, vg):
    r = agent_lvm(wd, dev, ["lvs", "--reportformat", "json", "-o", "lv_name,lv_tags", vg])
    return {lv["lv_name"]: lv["lv_tags"].split(",") if lv["lv_tags"] else []
            for lv in json.loads(r.stdout)["report"][0]["lv"]}


def bare_tags(name):
    """The tags lib/block_tags.c gives a new thin qcow2 image's volume once
    LEGAL: same keys, same value lengths."""
    return ["sp.i=%s" % uuid.uuid4(), "sp.n=%s" % name, "sp.f=qcow2", "sp.a=s", "sp.c=%d" % CAPACITY,
            "sp.l=L", "sp.s=0", "sp.g=0", "sp.t=%d" % int(time.time())]


class Agent:
    def __init__(self, d, dom):
        self.d, self.dom = d, dom
        self.imgs = "/v1/domains/%s/images" % dom

    def create(self, name):
        """Returns (latency ms, submit ms, image, volume)."""
        t0 = time.monotonic()
        acc = self.d.submit("POST", self.imgs, {"name": name, "format": "qcow2", "capacity": CAPACITY,
                                                "allocation": "sparse"})
        t1 = time.monotonic()
        t = self.d.wait_task(acc["task"])
        t2 = time.monotonic()
        if t["state"] != "finished":
            raise RuntimeError("create %s: %s" % (name, t))
        return (t2 - t0) * 1000, (t1 - t0) * 1000, acc["image"], acc["volume"]

    def delete(self, image):
        self.d.run_task("DELETE", "%s/%s" % (self.imgs, image))


def measure(agent, bare, n, samples, seq):
    """samples creates on each side with n LVs in each VG, each removed again."""
    lat_a, sub_a, lat_b = [], [], []
    for k in range(samples):
        name = "b%06d" % seq
        seq += 1
        order = (0, 1) if k % 2 == 0 else (1, 0)  # neither side always runs first
        for side in order:
            if side == 0:
                ms, sub, image, _ = agent.create(name)
                lat_a.append(ms)
                sub_a.append(sub)
            else:
                lv = str(uuid.uuid4())
                t0 = time.monotonic()
                bare.lvcreate(lv, LV_SIZE, bare_tags(name))
                lat_b.append((time.monotonic() - t0) * 1000)
        agent.delete(image)
        bare.lvremove(lv)
    return lat_a, sub_a, lat_b, seq


def fill(ctx, count, n, seq):
    """Both VGs to n LVs: the first volume of each made the measured way, the
    rest copied from it in the metadata (bench/vg_fill.py), the agent's with
    its daemon stopped and started again. Returns (count, seq)."""
    if count >= n:
        return count, seq
    wd, dev, bare = ctx["wd"], ctx["dev"], ctx["bare"]
    a_lvs, b_lvs = agent_lvs(wd, dev, ctx["dom"]), bare.lv_tags()
    a_tmpl = next((name for name in a_lvs if name not in SPECIAL), None)
    b_tmpl = next((name for name in b_lvs if name not in SPECIAL), None)
    if a_tmpl is None:
        name = "b%06d" % seq
        seq += 1
        ctx["agent"].create(name)
        bare.lvcreate(str(uuid.uuid4()), LV_SIZE, bare_tags(name))
        count += 1
        a_lvs, b_lvs = agent_lvs(wd, dev, ctx["dom"]), bare.lv_tags()
        a_tmpl = next(name for name in a_lvs if name not in SPECIAL)
        b_tmpl = next(name for name in b_lvs if name not in SPECIAL)
    if count >= n:
        return count, seq
    names = ["b%06d" % (seq + k) for k in range(n - count)]
    seq += n - count
    a_tags = a_lvs[a_tmpl]

    def agent_lv(k):
        # the template's tags with the copy's own image uuid and image name
        tags = [("sp.i=%s" % uuid.uuid4()) if t.startswith("sp.i=") else
                ("sp.n=%s" % names[k]) if t.startswith("sp.n=") else t for t in a_tags]
        return str(uuid.uuid4()), tags

    ctx["d"].stop()
    vg_fill.fill(lambda argv: agent_lvm(wd, dev, argv), ctx["dom"], a_tmpl, count, n, agent_lv, wd)
    ctx["d"] = Daemon(wd, bootstrap=False, conf_extra=ctx["conf"]).start()
    ctx["agent"] = Agent(ctx["d"], ctx["dom"])
    vg_fill.fill(lambda argv: bare.cmd([argv[0], "--config", filter_config(bare.dev)] + argv[1:]), bare.vg, b_tmpl,
                 count, n, lambda k: (str(uuid.uuid4()), bare_tags(names[k])), wd)
    bare.prune_archive()
    # the filled VGs are what n creates leave: n LVs, each filled LV's tags
    # those of a volume made through the API, and the agent sees them all
    a_lvs, b_lvs = agent_lvs(wd, dev, ctx["dom"]), bare.lv_tags()
    assert len(a_lvs) == n and len(b_lvs) == n, (len(a_lvs), len(b_lvs), n)
    filled = next(t for name, t in a_lvs.items() if name not in SPECIAL and name != a_tmpl)
    assert sorted(t.split("=")[0] for t in filled) == sorted(t.split("=")[0] for t in a_tags), (filled, a_tags)
    st, images = ctx["d"].request("GET", "/v1/domains/%s/images" % ctx["dom"])
    assert st == 200 and len(images) == n - len(SPECIAL), (st, len(images or []), n)
    return n, seq


STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")


def stamp_ms(line):
    m = STAMP.match(line)
    if not m:
        return None
    h, mi, s, ms = (int(x) for x in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def analyse(log_text, volumes):
    """Splits each create of `volumes` into its steps from the debug log:
    from the task's submit to LVM's lvcreate command line (journal record,
    the ILLEGAL marker, queueing), the lvcreate (to LVM's "created" line),
    and from there to the task's end (the lvcreate's tail, the marker's
    removal - the LEGAL step -, the journal record removed); and counts the
    LVM commands run per create (one lvcreate; a build that makes the volume
    LEGAL with an lvchange runs two, counted the same way)."""
    lines = log_text.splitlines()
    steps = {"before_lvcreate": [], "lvcreate": [], "after_lvcreate": [], "lvm_commands": []}

    def after(start, pred):
        return next((i for i in range(start, len(lines)) if pred(lines[i])), None)

    for vol in volumes:
        cre = after(0, lambda l: "lvm: run lvcreate" in l and vol in l)
        if cre is None:
            continue
        end = after(cre + 1, lambda l: "(create_volume) finished in" in l)
        cre_end = after(cre + 1, lambda l: "lvm: Logical volume" in l)
        if end is None or cre_end is None or cre_end > end:
            continue
        # the end of the previous task (the delete before this create), if any
        prev = next((i for i in range(cre - 1, -1, -1) if "finished in" in lines[i]), -1)
        steps["lvm_commands"].append(sum(1 for i in range(prev + 1, end + 1) if "lvm: run " in lines[i]))
        t_end = stamp_ms(lines[end])
        t_start = t_end - int(re.search(r"finished in (\d+) ms", lines[end]).group(1))
        t_cre, t_cre_end = stamp_ms(lines[cre]), stamp_ms(lines[cre_end])
        steps["before_lvcreate"].append(t_cre - t_start)
        steps["lvcreate"].append(t_cre_end - t_cre)
        steps["after_lvcreate"].append(t_end - t_cre_end)
    return steps, lines


def callgrind_total(path):
    """The instruction count (Ir) of a callgrind output file."""
    with open(path) as f:
        for line in f:
            # "summary:" is 0 in a dump taken with instrumentation off
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("%s: no totals line" % path)


def count_instructions(ctx, seq, samples):
    """Instructions per create on each side, load-independent: the daemon
    runs under callgrind with instrumentation off, switched on for each create
    alone (callgrind_control -i on/off, then a dump per create; the deletes in
    between are not counted); each bare lvcreate process runs under callgrind
    whole (exec, dynamic loading and all, as it runs in the latency samples).
    Returns (agent counts, bare counts, seq)."""
    wd, bare = ctx["wd"], ctx["bare"]
    out = os.path.join(wd, "cg.daemon")
    ctx["d"].stop()
    d = ctx["d"] = Daemon(wd, bootstrap=False, conf_extra=ctx["conf"],
                          wrapper=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                   "--callgrind-out-file=" + out]).start(timeout=900)
    agent = Agent(d, ctx["dom"])
    pid = str(d.proc.pid)
    a, b = [], []
    for k in range(samples):
        name = "b%06d" % seq
        seq += 1
        run(["callgrind_control", "-i", "on", pid])
        _, _, image, _ = agent.create(name)
        run(["callgrind_control", "-i", "off", pid])
        run(["callgrind_control", "-d", pid])
        agent.delete(image)
        lv = str(uuid.uuid4())
        cg = os.path.join(wd, "cg.bare.%d" % k)
        bare.lvcreate(lv, LV_SIZE, bare_tags(name),
                      wrapper=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg])
        b.append(callgrind_total(cg))
        bare.lvremove(lv)
    dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    a = [callgrind_total(p) for p in dumps[-samples:]]
    d.stop()
    ctx["d"] = Daemon(wd, bootstrap=False, conf_extra=ctx["conf"]).start(timeout=300)
    ctx["agent"] = Agent(ctx["d"], ctx["dom"])
    return a, b, seq


def interrupt(*_):
    raise KeyboardInterrupt()


def main():
    if os.geteuid() != 0:
        note("block_create skipped: needs root (loop devices, LVM)")
        return
    # SIGTERM is an interrupt like Ctrl-C: the finally below cleans up
    signal.signal(signal.SIGTERM, interrupt)
    wd = workdir("block")
    loops, d, bare, dom, ctx = [], None, None, None, {}
    conf = "lvm_activation = no\nrun_dir = %s/run\n" % wd
    try:
        per_vg = (max(SIZES) + 16) * LV_SIZE + PV_METADATA + 8 * GiB
        for i in range(2):
            path = os.path.join(wd, "lun%d.img" % i)
            with open(path, "wb") as f:
                f.truncate(per_vg)
            loops.append(run(["losetup", "-f", "--show", path]).stdout.strip())
        note("loop devices %s (agent) and %s (baseline), %d GiB sparse each" % (loops[0], loops[1], per_vg // GiB))

        d = Daemon(wd, bootstrap=False, conf_extra=conf).start()
        st, body = d.request("POST", "/v1/domains", {"name": "blk", "kind": "block", "devices": [loops[0]]})
        if st != 201:
            raise RuntimeError("POST /v1/domains: %s %s" % (st, body))
        dom = body["uuid"]
        r = agent_lvm(wd, loops[0], ["vgs", "--noheadings", "-o", "vg_tags", dom])
        vg_tags = [t for t in r.stdout.strip().split(",") if t]

        bare = Bare(loops[1], "spbench_bare_%d" % os.getpid())
        bare.make(vg_tags)
        ctx = {"wd": wd, "dev": loops[0], "dom": dom, "bare": bare, "conf": conf, "d": d, "agent": Agent(d, dom)}
        count, seq = len(SPECIAL), 0
        note("agent VG %s, baseline VG %s; %d samples per size; sizes %s"
             % (dom, bare.vg, SAMPLES, ", ".join(map(str, SIZES))))

        results = {}
        t_all = time.monotonic()
        for n in SIZES:
            t0 = time.monotonic()
            count, seq = fill(ctx, count, n, seq)
            d, agent = ctx["d"], ctx["agent"]
            t1 = time.monotonic()
            la0 = loadavg()
            lat_a, sub_a, lat_b, seq = measure(agent, bare, n, SAMPLES, seq)
            # the sample is what it claims: n LVs in each VG, tags of the same lengths
            a_lvs, b_lvs = agent_lvs(wd, loops[0], dom), bare.lv_tags()
            assert len(a_lvs) == n and len(b_lvs) == n, (len(a_lvs), len(b_lvs), n)
            a_vol = next(t for name, t in a_lvs.items() if name not in SPECIAL)
            b_vol = next(t for name, t in b_lvs.items() if name not in SPECIAL)
            assert "sp.l=L" in a_vol, a_vol
            assert sorted(len(t) for t in a_vol) == sorted(len(t) for t in b_vol), (a_vol, b_vol)
            note("N=%d: filled in %.1f s, measured in %.1f s, load %s -> %s; submit (POST alone) p50 %.1f ms"
                 % (n, t1 - t0, time.monotonic() - t1, la0, loadavg(), percentile(sub_a, 50)))
            note("N=%d agent ms: %s" % (n, " ".join("%.0f" % x for x in lat_a)))
            note("N=%d bare  ms: %s" % (n, " ".join("%.0f" % x for x in lat_b)))
            results[n] = (lat_a, lat_b)
            figure("block_create_p50_ms_%d" % n, percentile(lat_a, 50), "ms")
            figure("block_create_p99_ms_%d" % n, percentile(lat_a, 99), "ms")
            figure("lvcreate_p50_ms_%d" % n, percentile(lat_b, 50), "ms")
            figure("lvcreate_p99_ms_%d" % n, percentile(lat_b, 99), "ms")
        note("sizes %s measured in %.1f s" % (SIZES, time.monotonic() - t_all))
        top = SIZES[-1]
        figure("block_create_vs_lvcreate_ratio", percentile(results[top][0], 50) / percentile(results[top][1], 50), "x")
        if 5000 in results:
            figure("block_create_p99_ms_5000_lvs", percentile(results[5000][0], 99), "ms")

        # --- where the agent's time goes, at the largest N: the daemon with debug logs
        d.stop()
        d = ctx["d"] = Daemon(wd, bootstrap=False, conf_extra=conf + "log_level = debug\n").start()
        log_start = len(d.read_log())
        agent = Agent(d, dom)
        vols = []
        for k in range(ANALYSIS_SAMPLES):
            _, _, image, vol = agent.create("b%06d" % seq)
            seq += 1
            vols.append(vol)
            agent.delete(image)
        steps, _ = analyse(d.read_log()[log_start:], vols)
        if steps["lvcreate"]:
            for key in ("before_lvcreate", "lvcreate", "after_lvcreate"):
                figure("block_create_step_%s_p50_ms_%d" % (key, top), percentile(steps[key], 50), "ms")
            figure("block_create_lvm_commands_per_create", percentile(steps["lvm_commands"], 50), "commands")
        else:
            note("analysis: no create found in the debug log")
        alone = []
        for _ in range(ANALYSIS_SAMPLES):
            t0 = time.monotonic()
            run(["qemu-img", "measure", "-O", "qcow2", "--size", str(CAPACITY)])
            alone.append((time.monotonic() - t0) * 1000)
        figure("block_create_qemu_img_measure_alone_p50_ms", percentile(alone, 50), "ms")

        if CALLGRIND_SAMPLES and shutil.which("callgrind_control"):
            ir_a, ir_b, seq = count_instructions(ctx, seq, CALLGRIND_SAMPLES)
            d = ctx["d"]
            note("N=%d instructions per create, agent: %s; bare lvcreate: %s"
                 % (top, " ".join(str(x) for x in ir_a), " ".join(str(x) for x in ir_b)))
            figure("block_create_instructions_%d" % top, median(ir_a) / 1e6, "Minstr")
            figure("lvcreate_instructions_%d" % top, median(ir_b) / 1e6, "Minstr")
            figure("block_create_vs_lvcreate_instructions_ratio", median(ir_a) / median(ir_b), "x")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        d = ctx.get("d", d)  # fill and count_instructions restart the daemon
        if d:
            try:
                d.stop()
            except Exception as e:  # noqa: BLE001
                note("stopping sanpoold: %s" % e)
        if loops:
            # the agent's VG, whatever it is called (the domain POST may not have answered)
            vgs = agent_lvm(wd, loops[0], ["pvs", "--noheadings", "-o", "vg_name", loops[0]], check=False)
            for vg in set(vgs.stdout.split()):
                r = agent_lvm(wd, loops[0], ["vgremove", "-f", vg], check=False)
                if r.returncode:
                    note("vgremove %s: %s" % (vg, r.stderr.strip()))
        if bare and bare.made:
            r = bare.cmd(["vgremove", "--driverloaded", "n", "--config", filter_config(bare.dev), "-f", bare.vg],
                         check=False)
            if r.returncode:
                note("vgremove %s: %s" % (bare.vg, r.stderr.strip()))
        if bare:
            bare.prune_archive()
            for p in glob.glob(os.path.join(BACKUP_DIR, bare.vg)):
                os.unlink(p)
        for dev in loops:
            r = run(["losetup", "-d", dev], check=False)
            if r.returncode:
                note("losetup -d %s: %s" % (dev, r.stderr.strip()))
        cleanup(wd)


if __name__ == "__main__":
    main()
