#!/usr/bin/env python3
"""Thin provisioning when the guest outruns the extends: a VM that pauses for ENOSPC is
extended and resumed, and its writes all land.

HMP qemu-io (bench/thin_extend.py, tests/cluster/test_thin.py) bypasses the virtio device's
error policy, so those VMs never pause. Here the writer is a real guest: the Debian kernel
with a busybox initramfs (built here: virtio_pci, virtio_blk and an /init that writes) boots
inside a libvirt VM in a cluster guest (nested TCG), and writes a 0x5a pattern to its
virtio disk (type=block, error_policy=stop) with O_DIRECT in 4 MiB pieces. sanpoold runs with
`thin_watermark_percent = 100` (no headroom: the block threshold is the LV's end), so every
extend is one the guest's own write ran into: qemu stops the VM with an ENOSPC I/O error,
the thin monitor extends the LV by a chunk (128 MiB) and resumes the VM, the write is
retried. One guest, no sanlock (the agent extends directly); not in CI (the nested boot
alone takes 1-2 minutes).

Figures: thin_enospc_pauses (VM pauses the monitor saw), thin_enospc_resumes (its resumes),
thin_enospc_extends, thin_enospc_had_room (ENOSPC errors that reached the monitor after the
extend that made their room: resumed without another), thin_enospc_written_mib (what the guest
wrote and reported done), thin_enospc_intact_mib (read back with the pattern after the VM
ended), thin_enospc_write_s. Exit 1 unless all was written and reads back, every pause was
resumed (pauses == resumes), and the extends are exactly what the data needs (no chunk past it).
Run as root: python3 bench/thin_enospc.py [BUILD_DIR]; knob SANPOOL_BENCH_ENOSPC_MIB
(default 384: three chunks past the first LV).
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))
from harness import Cluster, HarnessError, MiB, module_paths  # noqa: E402
import thinvm  # noqa: E402

CHUNK = 128 * MiB
PIECE_MIB = 4

WRITER_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /mods/$m; done
mib=$(sed -n 's/.*sp_mib=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
dd if=/dev/zero bs=1M count=%(piece)d 2>/dev/null | tr '\\000' 'Z' > /piece
echo WRITER-START $mib
i=0
while [ $((i * %(piece)d)) -lt $mib ]; do
    dd if=/piece of=/dev/vda bs=%(piece)dM seek=$i oflag=direct conv=notrunc 2>/dev/null || { echo WRITER-FAILED $i; poweroff -f; }
    i=$((i + 1))
done
echo WRITER-DONE $((i * %(piece)d))
poweroff -f
""" % {"piece": PIECE_MIB}

BOOT_XML = """
    <kernel>/boot/vmlinuz-{kver}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 sp_mib={mib}</cmdline>
  """


def note(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def build_writer_initramfs(kver, out):
    """cpio (newc) + gzip: busybox-static, virtio_pci + virtio_blk with their dependencies, /init."""
    tree = tempfile.mkdtemp(prefix="sanpool-writer-")
    try:
        for d in ("bin", "mods", "proc", "sys", "dev"):
            os.makedirs(os.path.join(tree, d))
        shutil.copy("/bin/busybox", os.path.join(tree, "bin", "busybox"))
        names = []
        for path in module_paths(kver, ("virtio_pci", "virtio_blk")):
            shutil.copy(path, os.path.join(tree, "mods"))
            names.append(os.path.basename(path))
        with open(os.path.join(tree, "modules.list"), "w") as f:
            f.write("\n".join(names) + "\n")
        with open(os.path.join(tree, "init"), "w") as f:
            f.write(WRITER_INIT)
        os.chmod(os.path.join(tree, "init"), 0o755)
        files = subprocess.run(["find", "."], cwd=tree, capture_output=True, check=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree, input=files, capture_output=True,
                              check=True)
        with gzip.open(out, "wb", compresslevel=6) as f:
            f.write(cpio.stdout)
    finally:
        shutil.rmtree(tree)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    mib = int(os.environ.get("SANPOOL_BENCH_ENOSPC_MIB", "384"))
    os.environ.setdefault("SANPOOLD", os.path.abspath(os.path.join(build, "agent", "sanpoold")))
    conf = {"thin_initial_size_mib": CHUNK // MiB, "thin_extend_chunk_mib": CHUNK // MiB,
            "thin_watermark_percent": 100}
    with Cluster(n=1, memory_mib=1536, libvirt=True, conf=conf) as c:
        h = c.guests[0]
        build_writer_initramfs(c.kver, os.path.join(h.dir, "writer.gz"))
        rc, out = h.run('multipathd show paths format "%w"', check=True)
        dev = "/dev/mapper/" + out.splitlines()[1].split()[0]
        st, dom = h.post("/v1/domains", {"name": "enospc", "kind": "block", "devices": [dev]})
        assert st == 201, dom
        st, acc = h.post("/v1/domains/%s/images" % dom["uuid"], {"name": "writer", "format": "qcow2",
                                                                  "allocation": "sparse", "capacity": mib * MiB + CHUNK})
        assert st == 202, acc
        assert h.wait_task(acc["task"])["state"] == "finished"
        img = "/v1/domains/%s/images/%s" % (dom["uuid"], acc["image"])
        st, p = h.post(img + "/prepare")
        assert st == 200, p
        console = "/run/writer.console"
        thinvm.start_vm(h, "writer", p["path"], memory_mib=192,
                        boot=BOOT_XML.format(kver=c.kver, initrd="/io/writer.gz", mib=mib),
                        devices="\n    <serial type='file'><source path='%s'/><target port='0'/></serial>" % console)
        t0 = time.monotonic()

        def console_has(word):
            rc, text = h.run("cat %s" % console)
            return word in text, text[-2000:]
        thinvm.wait_until("the writer guest booted", lambda: console_has("WRITER-START"), timeout=900)
        t_start = time.monotonic()
        note("nested guest booted in %.0f s; load %s" % (t_start - t0, open("/proc/loadavg").read().strip()))
        text = thinvm.wait_until("the writer guest done", lambda: (lambda d: (d[0] or "WRITER-FAILED" in d[1], d[1]))(
            console_has("WRITER-DONE")), timeout=1800)
        write_s = time.monotonic() - t_start
        if "WRITER-DONE" not in text:
            c.collect_logs("the writer failed")
            raise HarnessError("the writer guest failed: %s" % text)
        written = int(text.split("WRITER-DONE", 1)[1].split()[0])
        s = thinvm.wait_until("the monitor settled", lambda: thinvm.settled(h, acc["volume"]), timeout=300)
        extends = [e for e in s["recent_extends"] if e["volume"] == acc["volume"]]
        # the first LV plus chunks, until it holds what was written and qcow2's metadata
        needed = (mib * MiB - CHUNK) // CHUNK + 1
        note("extends (from -> to MiB, ms, paused): %s" % " ".join(
            "%d->%d,%.0f,%s" % (e["from"] // MiB, e["to"] // MiB, e["latency_us"] / 1000.0, e.get("vm_paused"))
            for e in extends))
        thinvm.remove_vm(h, "writer")  # its writes are done (O_DIRECT); it may sit halted
        rc, out = h.run("qemu-io -f qcow2 -c 'read -P 0x5a 0 %dM' %s" % (written, p["path"]), timeout=900)
        intact = written if rc == 0 and "Pattern verification failed" not in out and "fail" not in out.lower() else 0
        if not intact:
            note("read back: %s" % out[-1000:])
        note("monitor: %s; %d extends needed" % (
            {k: s[k] for k in ("vm_pauses", "vm_resumes", "enospc_had_room", "extends") if k in s}, needed))
        print("figure thin_enospc_pauses %d count" % s["vm_pauses"])
        print("figure thin_enospc_resumes %d count" % s["vm_resumes"])
        print("figure thin_enospc_extends %d count" % len(extends))
        print("figure thin_enospc_had_room %d count" % s.get("enospc_had_room", 0))
        print("figure thin_enospc_written_mib %d MiB" % written)
        print("figure thin_enospc_intact_mib %d MiB" % intact)
        print("figure thin_enospc_write_s %.0f s" % write_s)
        return 0 if (intact == written == mib and s["vm_resumes"] == s["vm_pauses"] > 0
                     and len(extends) == needed) else 1


if __name__ == "__main__":
    sys.exit(main())
