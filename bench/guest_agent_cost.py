#!/usr/bin/env python3
"""What the agent costs in a cluster tier guest (TCG), for each sanpoold given: the time of a few
API operations, and the CPU an idle host takes with its agent running and stopped.

For each binary (default: the release tree's and the ASan tree's agent) one TCG guest boots
(tests/cluster/harness.py) with sanlock (io_timeout 5) and that agent; through its API: 50
GET /v1/host, a block domain on the LUN, 4 sparse qcow2 images on LVs, 4 prepare + teardown,
4 image deletes, an agent restart until the API answers. Then a pool with a block master on the
LUN (the lockspace joined), left idle: the guest's qemu's CPU time over 20 s, with the agent
running and SIGSTOPped. Not in CI, not in bench/run-all (a diagnostic, ~2 min per binary; root):
    python3 bench/guest_agent_cost.py [SANPOOLD...]
Prints `figure agent_<what>_s <seconds> s` and `figure idle_guest_cpu_<agent running|stopped>_pct`
lines, each with the binary's tree (`build`, `build-asan`) in the name.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
from harness import Cluster, MiB, poll  # noqa: E402

IDLE_S = 20


def figure(name, value, unit):
    print("figure %s %.2f %s" % (name, value, unit), flush=True)


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def measure(binary):
    tree = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(binary)))).replace("-", "_")
    with Cluster(n=1, sanpoold=binary, sanlock_io_timeout=5) as c:
        g = c.guests[0]

        def ok(st, body, want):
            if st != want:
                raise AssertionError("%s: %s" % (st, body))
            return body

        def done(acc):
            t = g.wait_task(ok(*acc, 202)["task"])
            if t["state"] != "finished":
                raise AssertionError(t)

        wwid = g.run('multipathd show paths format "%w"', check=True)[1].splitlines()[1].split()[0]
        dev = "/dev/mapper/" + wwid
        figure("agent_50_get_host_s_" + tree, timed(lambda: [ok(*g.get("/v1/host"), 200) for _ in range(50)]), "s")
        dom = {}
        figure("agent_block_domain_create_s_" + tree, timed(lambda: dom.update(
            ok(*g.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [dev]}), 201))), "s")
        imgs = "/v1/domains/%s/images" % dom["uuid"]
        made = []

        def create():
            for i in range(4):
                st, acc = g.post(imgs, {"name": "d%d" % i, "format": "qcow2", "capacity": 256 * MiB,
                                        "allocation": "sparse"})
                done((st, acc))
                made.append(acc["image"])
        figure("agent_4_qcow2_images_on_lvs_s_" + tree, timed(create), "s")

        def prepare_teardown():
            for i in made:
                ok(*g.post("%s/%s/prepare" % (imgs, i)), 200)
                ok(*g.post("%s/%s/teardown" % (imgs, i)), 200)
        figure("agent_4_prepare_teardown_s_" + tree, timed(prepare_teardown), "s")
        figure("agent_4_image_deletes_s_" + tree,
               timed(lambda: [done(g.request("DELETE", "%s/%s" % (imgs, i))) for i in made]), "s")
        ok(*g.request("DELETE", "/v1/domains/" + dom["uuid"]), 202)

        figure("agent_restart_to_api_s_" + tree, timed(lambda: g.restart_agent(binary, poll_s=0.05)), "s")

        # idle in a pool: the lockspace joined, nothing asked (the domain's removal is a task)
        poll(lambda: g.get("/v1/domains") == (200, []), "the LUN free again")
        pool = ok(*g.post("/v1/pools", {"name": "p", "master_domain_name": "m", "kind": "block",
                                        "devices": [dev]}), 201)
        poll(lambda: all(ls["state"] == "joined" for ls in g.get("/v1/pools/" + pool["uuid"])[1]["spm"]["lockspaces"]),
             "the pool's lockspace joined", timeout=120)
        tick = os.sysconf("SC_CLK_TCK")

        def cpu_pct():
            def cpu():
                with open("/proc/%d/stat" % g.proc.pid) as f:
                    v = f.read().rsplit(")", 1)[1].split()
                return (int(v[11]) + int(v[12])) / tick  # utime + stime
            a = cpu()
            time.sleep(IDLE_S)
            return (cpu() - a) / IDLE_S * 100
        figure("idle_guest_cpu_agent_running_pct_" + tree, cpu_pct(), "%")
        g.run("kill -STOP $(cat /run/sanpoold.pid)", check=True)
        figure("idle_guest_cpu_agent_stopped_pct_" + tree, cpu_pct(), "%")
        g.run("kill -CONT $(cat /run/sanpoold.pid)", check=True)


def main():
    binaries = sys.argv[1:] or [os.path.join(ROOT, "build", "agent", "sanpoold"),
                                os.path.join(ROOT, "build-asan", "agent", "sanpoold")]
    sys.stderr.write("# load average %s\n" % " ".join(open("/proc/loadavg").read().split()[:3]))
    for b in binaries:
        measure(b)


if __name__ == "__main__":
    main()
