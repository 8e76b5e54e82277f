#!/usr/bin/env python3
"""Start-up time: from the spawn (fork + exec) of sanpoold to the READY=1 it
sends to the benchmark's own NOTIFY_SOCKET. Median of several starts, with an
empty store (a bootstrapped default pool with no image) and with 1,000
volumes (500 raw images with a qcow2 snapshot each).

    python3 bench/ready.py [BUILD_DIR]

Figures: ready_ms, ready_ms_1000_volumes (median; target <= 100 ms), and the
slowest start of each (ready_ms_max, ready_ms_1000_volumes_max).
"""
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, cleanup, figure, loadavg, median, note, populate, workdir  # noqa: E402

STARTS = 11
IMAGES = 500


def starts(d, n):
    out = []
    for _ in range(n):
        d.start()
        out.append(d.ready_ms)
        rc = d.stop()
        assert rc == 0, rc
    # the daemon's own view (main() to READY, in whole ms), for comparison
    own = [int(x) for x in re.findall(r"ready in (\d+) ms", d.read_log())[-n:]]
    note("daemon's own 'ready in' (main to READY): median %s ms" % median(own))
    return out


def main():
    wd = workdir("ready")
    d = Daemon(wd)
    try:
        d.start()  # first start bootstraps the default pool; not counted
        dom = d.default_domain()
        d.stop()
        t = starts(d, STARTS)
        note("empty store: %s ms (load %s)" % (" ".join("%.1f" % x for x in t), loadavg()))
        figure("ready_ms", median(t), "ms")
        figure("ready_ms_max", max(t), "ms")

        d.start()
        populate(d, dom, IMAGES)
        d.stop()
        t = starts(d, STARTS)
        note("1000 volumes: %s ms (load %s)" % (" ".join("%.1f" % x for x in t), loadavg()))
        figure("ready_ms_1000_volumes", median(t), "ms")
        figure("ready_ms_1000_volumes_max", max(t), "ms")
        # the last start did load them all
        d.start()
        st, imgs = d.get("/v1/domains/%s/images" % dom)
        assert st == 200 and len(imgs) == IMAGES, (st, len(imgs))
    finally:
        d.stop()
        cleanup(wd)


if __name__ == "__main__":
    main()
