#!/usr/bin/env python3
"""Clone-from-template latency through the API: POST
/v1/domains/{d}/images/{tmpl}/clone, then GET /v1/tasks/{t}?wait_ms=... until
the task has ended, one clone after the other, 1,000 clones of one template.

The template is a real raw image of 1 GiB, fully written with data, so the
figure shows that a clone (a qcow2 overlay backed by the template) does not
depend on the template's size.

    python3 bench/clone_template.py [BUILD_DIR]

Figures: clone_template_p50_ms, clone_template_p99_ms (target <= 100 ms),
clone_template_max_ms; where the time goes: the POST alone
(clone_template_submit_*), the task's run as the daemon logs it
(clone_template_task_run_*), and the same `qemu-img create` run alone, without
the daemon (clone_template_qemu_img_alone_*); and the p50 of the first and of the last 100 clones
(to show whether the latency grows with the number of volumes in the store).
"""
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import GiB, MiB, Daemon, cleanup, figure, loadavg, note, percentile, workdir  # noqa: E402

CLONES = int(os.environ.get("SANPOOL_BENCH_CLONES", "1000"))
TEMPLATE_SIZE = GiB
QEMU_IMG_RUNS = 200


def fill(path, size):
    """Writes size bytes of non-zero data over the whole file."""
    chunk = bytes((i * 7 + 1) & 0xFF for i in range(4 * MiB))
    with open(path, "r+b") as f:
        for off in range(0, size, len(chunk)):
            f.write(chunk[: min(len(chunk), size - off)])
        f.flush()
        os.fsync(f.fileno())


def main():
    wd = workdir("clone")
    d = Daemon(wd).start()
    try:
        dom = d.default_domain()
        imgs = "/v1/domains/%s/images" % dom
        acc, _ = d.run_task("POST", imgs, {"name": "tmpl", "format": "raw", "capacity": TEMPLATE_SIZE,
                                           "allocation": "sparse"})
        tmpl, base = acc["image"], acc["volume"]
        st, vol = d.get("%s/%s/volumes/%s" % (imgs, tmpl, base))
        assert st == 200, (st, vol)
        fill(vol["path"], TEMPLATE_SIZE)
        blocks = os.stat(vol["path"]).st_blocks * 512
        assert blocks >= TEMPLATE_SIZE, blocks
        note("template %s: raw, %d MiB allocated" % (tmpl, blocks // MiB))
        d.run_task("POST", "%s/%s/template" % (imgs, tmpl))

        lat, submit = [], []
        clone_url = "%s/%s/clone" % (imgs, tmpl)
        t_all = time.monotonic()
        for i in range(CLONES):
            t0 = time.monotonic()
            acc = d.submit("POST", clone_url, {"name": "vm%d" % i})
            submit.append((time.monotonic() - t0) * 1000)
            t = d.wait_task(acc["task"])
            lat.append((time.monotonic() - t0) * 1000)
            if t["state"] != "finished":
                raise RuntimeError("clone %d: %s" % (i, t))
        note("%d clones in %.1f s (load %s)" % (CLONES, time.monotonic() - t_all, loadavg()))

        # a clone is real: a qcow2 overlay on the template's volume
        st, img = d.get("%s/%s" % (imgs, acc["image"]))
        assert st == 200 and img["template_source"] == {"image": tmpl, "volume": base}, img

        figure("clone_template_p50_ms", percentile(lat, 50), "ms")
        figure("clone_template_p99_ms", percentile(lat, 99), "ms")
        figure("clone_template_max_ms", max(lat), "ms")
        # where the time goes: the POST alone (validation + journal record),
        # and the task's run as the daemon logs it (qemu-img create + metadata)
        figure("clone_template_submit_p50_ms", percentile(submit, 50), "ms")
        figure("clone_template_submit_p99_ms", percentile(submit, 99), "ms")
        run = [int(x) for x in re.findall(r"\(create_volume\) finished in (\d+) ms", d.read_log())][-CLONES:]
        if len(run) == CLONES:
            figure("clone_template_task_run_p50_ms", percentile(run, 50), "ms")
            figure("clone_template_task_run_p99_ms", percentile(run, 99), "ms")
        # the floor: qemu-img create of the same overlay run alone, without the daemon
        path = vol["path"]
        scratch = os.path.join(wd, "overlay.qcow2")
        alone = []
        for _ in range(QEMU_IMG_RUNS):
            t0 = time.monotonic()
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-b", path, "-F", "raw",
                            scratch, str(TEMPLATE_SIZE)], check=True)
            alone.append((time.monotonic() - t0) * 1000)
            os.unlink(scratch)
        figure("clone_template_qemu_img_alone_p50_ms", percentile(alone, 50), "ms")
        figure("clone_template_qemu_img_alone_p99_ms", percentile(alone, 99), "ms")
        n = min(100, len(lat))
        figure("clone_template_first100_p50_ms", percentile(lat[:n], 50), "ms")
        figure("clone_template_last100_p50_ms", percentile(lat[-n:], 50), "ms")
    finally:
        d.stop()
        cleanup(wd)


if __name__ == "__main__":
    main()
