#!/usr/bin/env python3
"""GET volume throughput on loopback: wrk on
GET /v1/domains/{d}/images/{i}/volumes/{v} (keep-alive), against a store
holding 1,000 volumes (500 raw images with a qcow2 snapshot each; the volume
fetched is a snapshot's top).

    python3 bench/api_get.py [BUILD_DIR]

wrk (Debian package wrk) runs as `wrk -t2 -c32 -d10s --latency URL`; set
SANPOOL_BENCH_WRK="-t2 -c32 -d10s" to change that and SANPOOL_BENCH_IMAGES
to change the size of the store.

Figures: api_get_rps (target >= 10,000/s), api_get_p50_ms, api_get_p99_ms.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Daemon, cleanup, figure, loadavg, note, populate, workdir  # noqa: E402

IMAGES = int(os.environ.get("SANPOOL_BENCH_IMAGES", "500"))
WRK_ARGS = os.environ.get("SANPOOL_BENCH_WRK", "-t2 -c32 -d10s").split()

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError("wrk latency %r" % text)
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def parse_wrk(out):
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
    lat = dict((p, to_ms(v)) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return rps, lat, int(bad.group(1)) if bad else 0, errors.group(0) if errors else ""


def main():
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (scripts/install-deps)")
    wd = workdir("api-get")
    d = Daemon(wd).start()
    try:
        dom = d.default_domain()
        vols = populate(d, dom, IMAGES)
        image, _, top = vols[len(vols) // 2]
        path = "/v1/domains/%s/images/%s/volumes/%s" % (dom, image, top)
        st, v = d.get(path)
        assert st == 200 and v["uuid"] == top, (st, v)
        url = "http://127.0.0.1:%d%s" % (d.port, path)
        cmd = ["wrk"] + WRK_ARGS + ["--latency", url]
        note("load %s before: %s" % (loadavg(), " ".join(cmd)))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rps, lat, bad, errors = parse_wrk(out)
        if bad or errors:
            note("wrk: %d non-2xx responses; %s" % (bad, errors))
            if bad:
                sys.exit("bench: GET volume failed under load:\n" + out)
        note("load %s after; %d volumes in the store" % (loadavg(), 2 * IMAGES))
        figure("api_get_rps", rps, "req/s")
        figure("api_get_p50_ms", lat["50"], "ms")
        figure("api_get_p99_ms", lat["99"], "ms")
        figure("api_get_rss_mib_after", d.rss_kib() / 1024, "MiB")
    finally:
        d.stop()
        cleanup(wd)


if __name__ == "__main__":
    main()
