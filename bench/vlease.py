#!/usr/bin/env python3
"""Volume write-lease handover, as in a live migration, with two simulated
hosts (a real sanlock daemon and a real sanpoold each,
tests/integration/simhosts.py), a file domain they both see, sanlock
io_timeout 1 s. The volume's lease goes back and forth: release on the
holder, then acquire on the other host, sent back to back.

    python3 bench/vlease.py [BUILD_DIR]

Figures (median and max of ROUNDS):
- vlease_handover_ms: from sending the release to the acquire's answer;
- vlease_acquire_after_release_ms: from the release's answer (the lease is
  free) to the acquire's answer (the destination holds it), which includes
  starting the destination's lease-holder process;
- vlease_refusal_ms: a third request for the held lease, refused (409).
"""
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import figure, loadavg, median, note, sanpoold_path  # noqa: E402

os.environ["SANPOOLD"] = sanpoold_path()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from simhosts import IO_TIMEOUT, start_hosts, stop_hosts, wait_for  # noqa: E402

ROUNDS = 20


def main():
    root = tempfile.mkdtemp(prefix="sanpool-bench-vlease-")
    shared = os.path.join(root, "shared")
    os.makedirs(shared)
    hosts = start_hosts(root, 2, conf_extra="log_level = info\n")
    try:
        st, p = hosts[0].call("POST", "/v1/pools", {"name": "bench", "master_domain_name": "master", "path": shared})
        assert st == 201, (st, p)
        pool, dom = p["uuid"], p["master_domain"]
        st, q = hosts[1].call("POST", "/v1/pools/%s/connect" % pool, {"kind": "file", "path": shared})
        assert st == 200, (st, q)
        for h in hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(pool), timeout=60)
        st, s = hosts[0].call("POST", "/v1/pools/%s/spm/start" % pool)
        assert st == 200, (st, s)
        st, acc = hosts[0].call("POST", "/v1/domains/%s/images" % dom, {"name": "vm", "format": "raw", "capacity": 1 << 20})
        assert st == 202, (st, acc)
        wait_for("the volume", lambda: hosts[0].call("GET", "/v1/tasks/" + acc["task"])[1]["state"] == "finished")
        vpath = "/v1/domains/%s/images/%s/volumes/%s" % (dom, acc["image"], acc["volume"])
        st, a = hosts[0].call("POST", vpath + "/lease")
        assert st == 202, (st, a)
        st, r = hosts[0].call("POST", vpath + "/lease/acquire")
        assert st == 200, (st, r)
        holder = 0

        handovers, gaps, refusals = [], [], []
        for _ in range(ROUNDS):
            nxt = 1 - holder
            t0 = time.monotonic()
            st, r = hosts[nxt].call("POST", vpath + "/lease/acquire")
            refusals.append(time.monotonic() - t0)
            assert st == 409 and r["error"]["holder_host"] == hosts[holder].id, (st, r)
            t0 = time.monotonic()
            st, r = hosts[holder].call("POST", vpath + "/lease/release")
            t1 = time.monotonic()
            assert st == 200, (st, r)
            st, r = hosts[nxt].call("POST", vpath + "/lease/acquire")
            t2 = time.monotonic()
            assert st == 200 and r["lease"]["holder_host"] == hosts[nxt].id, (st, r)
            handovers.append(t2 - t0)
            gaps.append(t2 - t1)
            holder = nxt
        note("handover (release + acquire): %s s (load %s)" % (" ".join("%.3f" % t for t in handovers), loadavg()))
        hosts[holder].call("POST", vpath + "/lease/release")

        figure("vlease_io_timeout_s", IO_TIMEOUT, "s")
        figure("vlease_handover_ms", 1000 * median(handovers), "ms")
        figure("vlease_handover_max_ms", 1000 * max(handovers), "ms")
        figure("vlease_acquire_after_release_ms", 1000 * median(gaps), "ms")
        figure("vlease_refusal_ms", 1000 * median(refusals), "ms")
    finally:
        stop_hosts(hosts, root)


if __name__ == "__main__":
    main()
