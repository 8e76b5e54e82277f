#!/usr/bin/env python3
"""Daemon memory with 1,000 volumes in the store (500 raw images with a qcow2
snapshot each): VmRSS right after they were created through the API, and after
a restart that loads them from the domain.

    python3 bench/rss.py [BUILD_DIR]

Figures: rss_mib_empty, rss_mib_1000_volumes, rss_mib_1000_volumes_after_restart
(target <= 20 MiB).
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, cleanup, figure, loadavg, note, populate, workdir  # noqa: E402

IMAGES = 500


def main():
    wd = workdir("rss")
    d = Daemon(wd).start()
    try:
        figure("rss_mib_empty", d.rss_kib() / 1024, "MiB")
        dom = d.default_domain()
        t0 = time.monotonic()
        populate(d, dom, IMAGES)
        note("created %d volumes in %.1f s (load %s)" % (2 * IMAGES, time.monotonic() - t0, loadavg()))
        figure("rss_mib_1000_volumes", d.rss_kib() / 1024, "MiB")
        rc = d.stop()
        assert rc == 0, rc
        d.start()
        figure("rss_mib_1000_volumes_after_restart", d.rss_kib() / 1024, "MiB")
        # the restart did load them all
        st, imgs = d.get("/v1/domains/%s/images" % dom)
        assert st == 200 and len(imgs) == IMAGES, (st, len(imgs))
        assert all(len(i["volumes"]) == 2 for i in imgs)
    finally:
        d.stop()
        cleanup(wd)


if __name__ == "__main__":
    main()
