#!/usr/bin/env python3
"""SPM failover and handover with three simulated hosts (a real sanlock daemon
and a real sanpoold each, tests/integration/simhosts.py), the master domain
in a directory they all see, sanlock io_timeout 1 s.

- takeover after the SPM agent is killed (kill -9; its host's sanlock daemon
  lives on and frees the lease): from the kill to the first 200 of
  spm/start on the next host, which a client sends back to back;
- planned handover: spm/stop on the SPM, then spm/start on the next host;
- takeover after the SPM's host dies (agent and sanlock daemon killed): the
  lease is free once sanlock deems the host dead (8 io_timeouts without
  renewal plus the 60 s it allows a watchdog to fire).

    python3 bench/spm.py [BUILD_DIR]

Figures (median and max of ROUNDS): spm_takeover_after_agent_kill_s (target
< 3 s), spm_planned_handover_s (target < 2 s); spm_io_timeout_s says which
io_timeout they were measured with; spm_takeover_after_host_death_s (one
round; target: sanlock's host-dead time + < 3 s).
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

ROUNDS = 5


def start_spm(h, pool):
    st, p = h.call("POST", "/v1/pools/%s/spm/start" % pool)
    return st == 200 and p["spm"]["role"] == "spm"


def main():
    root = tempfile.mkdtemp(prefix="sanpool-bench-spm-")
    shared = os.path.join(root, "shared")
    os.makedirs(shared)
    hosts = start_hosts(root, 3, conf_extra="log_level = info\n")
    try:
        st, p = hosts[0].call("POST", "/v1/pools", {"name": "bench", "master_domain_name": "master", "path": shared})
        assert st == 201, (st, p)
        pool = p["uuid"]
        for h in hosts[1:]:
            st, q = h.call("POST", "/v1/pools/%s/connect" % pool, {"kind": "file", "path": shared})
            assert st == 200, (st, q)
        for h in hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(pool), timeout=60)
        assert start_spm(hosts[0], pool)
        spm = 0

        takeovers = []
        for _ in range(ROUNDS):
            nxt = (spm + 1) % len(hosts)
            hosts[spm].d.kill()
            t0 = time.monotonic()
            wait_for("takeover", lambda: start_spm(hosts[nxt], pool), timeout=60, period=0)
            takeovers.append(time.monotonic() - t0)
            hosts[spm].start()
            wait_for("host to rejoin", lambda: hosts[spm].joined(pool), timeout=60)
            spm = nxt
        note("takeover after kill -9 of the SPM agent: %s s (load %s)"
             % (" ".join("%.3f" % t for t in takeovers), loadavg()))

        handovers = []
        for _ in range(ROUNDS):
            nxt = (spm + 1) % len(hosts)
            t0 = time.monotonic()
            st, q = hosts[spm].call("POST", "/v1/pools/%s/spm/stop" % pool)
            assert st == 200 and q["spm"]["role"] == "none", (st, q)
            assert start_spm(hosts[nxt], pool)
            handovers.append(time.monotonic() - t0)
            spm = nxt
        note("planned handover (stop + start): %s s" % " ".join("%.3f" % t for t in handovers))

        # the SPM's host dies (its sanlock daemon with it): once, it takes over a minute
        nxt = (spm + 1) % len(hosts)
        hosts[spm].sanlock.kill()
        hosts[spm].d.kill()
        t0 = time.monotonic()
        wait_for("takeover after host death", lambda: start_spm(hosts[nxt], pool), timeout=300, period=0.1)
        host_death = time.monotonic() - t0

        figure("spm_io_timeout_s", IO_TIMEOUT, "s")
        figure("spm_takeover_after_agent_kill_s", median(takeovers), "s")
        figure("spm_takeover_after_agent_kill_max_s", max(takeovers), "s")
        figure("spm_planned_handover_s", median(handovers), "s")
        figure("spm_planned_handover_max_s", max(handovers), "s")
        figure("spm_takeover_after_host_death_s", host_death, "s")
    finally:
        stop_hosts(hosts, root)


if __name__ == "__main__":
    main()
