"""The Storage Pool Manager with three simulated hosts (one real sanlock daemon
and one real sanpoold each, see simhosts.py), the pool's master domain in a
directory they all see:

- one host becomes SPM; the others' changes are refused with 409 naming it;
- kill -9 the SPM agent: another host becomes SPM (its sanlock daemon freed the
  lease at once) and work goes on; the restarted agent is not SPM;
- planned handover (stop on one host, start on another);
- a crash in the middle of a create on the SPM is rolled back by the next SPM.

A checker samples every host's role during the tests and fails if two hosts
ever claim the SPM at once (same generation, or an older generation still
claimed after a newer one was seen); writers send changes to hosts that are not
SPM the whole time and fail if one is ever accepted, and the images found at the
end are exactly those the SPMs acknowledged.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from sanpool import GiB
from simhosts import IO_TIMEOUT, SanlockDaemon, call, start_hosts, stop_hosts, wait_for
from test_block_domain import lvm, make_loop


class Checker(threading.Thread):
    """Samples GET /v1/pools/{pool} on every live host, back to back."""

    def __init__(self, hosts, pool):
        super().__init__(daemon=True)
        self.hosts, self.pool = hosts, pool
        self.samples = []  # (t_send, t_recv, host id, generation) of every "spm" claim
        self.stop_flag = threading.Event()
        self.count = 0

    def run(self):
        while not self.stop_flag.is_set():
            for h in self.hosts:
                t0 = time.monotonic()
                st, p = call(h.port, "GET", "/v1/pools/" + self.pool, timeout=5) if h.d.proc else (None, None)
                t1 = time.monotonic()
                self.count += 1
                if st == 200 and p["spm"]["role"] == "spm":
                    self.samples.append((t0, t1, h.id, p["spm"]["generation"]))

    def violations(self):
        bad = []
        by_gen = {}
        for t0, t1, host, gen in self.samples:
            if by_gen.setdefault(gen, host) != host:
                bad.append("generation %d claimed by hosts %d and %d" % (gen, by_gen[gen], host))
        for a in self.samples:
            for b in self.samples:
                # b's newer claim was answered before a's older claim was even asked
                if b[3] > a[3] and b[1] < a[0] and b[2] != a[2]:
                    bad.append("host %d still SPM (gen %d) after host %d became SPM (gen %d)" % (a[2], a[3], b[2], b[3]))
                    break
        return bad


class Writers(threading.Thread):
    """Sends image creations to the hosts in self.targets (never the SPM)."""

    def __init__(self, domain):
        super().__init__(daemon=True)
        self.domain = domain
        self.targets = []
        self.accepted = []  # (host id, answer) of every change a non-SPM host accepted
        self.refused = 0
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            with self.lock:
                targets = list(self.targets)
            for h in targets:
                n += 1
                st, body = call(h.port, "POST", "/v1/domains/%s/images" % self.domain,
                                {"name": "w%d" % n, "format": "raw", "capacity": 1 << 20}, timeout=10)
                if st in (200, 201, 202):
                    self.accepted.append((h.id, body))
                elif st == 409 and body["error"]["code"] == "not_spm":
                    self.refused += 1
            time.sleep(0.01)  # pacing only: the checks do not depend on it

    def aim(self, hosts):
        with self.lock:
            self.targets = list(hosts)


class SpmTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-spm-")
        self.shared = os.path.join(self.root, "shared", "master")
        os.makedirs(self.shared)
        self.hosts = start_hosts(self.root, 3)
        self.h1, self.h2, self.h3 = self.hosts
        self.checker = None
        self.writers = None

    def tearDown(self):
        for t in (self.checker, self.writers):
            if t:
                t.stop_flag.set()
                t.join()
        # SANPOOL_KEEP_TMP=1 keeps the hosts' logs and storage for a look after a failure
        stop_hosts(self.hosts, None if os.environ.get("SANPOOL_KEEP_TMP") else self.root)

    def make_pool(self):
        st, p = self.h1.call("POST", "/v1/pools", {"name": "cluster", "master_domain_name": "master",
                                                   "kind": "file", "path": self.shared})
        self.assertEqual(st, 201, p)
        self.assertEqual(p["spm"]["role"], "none")
        self.assertEqual(p["spm"]["host_id"], 1)
        self.pool, self.dom = p["uuid"], p["master_domain"]
        for h in (self.h2, self.h3):
            for _ in range(2):  # connecting again changes nothing
                st, q = h.call("POST", "/v1/pools/%s/connect" % self.pool, {"kind": "file", "path": self.shared})
                self.assertEqual(st, 200, q)
                self.assertEqual((q["uuid"], q["master_domain"], q["domains"]), (self.pool, self.dom, [self.dom]))
        for h in self.hosts:
            wait_for("host %d to join the lockspace" % h.id, lambda: h.joined(self.pool), timeout=30)

    def start_spm(self, h):
        st, p = h.call("POST", "/v1/pools/%s/spm/start" % self.pool)
        self.assertEqual(st, 200, p)
        self.assertEqual(p["spm"]["role"], "spm")
        self.assertEqual(p["spm"]["spm_host"], h.id)
        return p["spm"]["generation"]

    def take_over(self, h):
        """spm/start on h until the dead SPM's lease is freed by its sanlock
        daemon (it notices the process is gone: milliseconds, not at once)."""
        wait_for("host %d to become SPM" % h.id,
                 lambda: h.call("POST", "/v1/pools/%s/spm/start" % self.pool)[0] == 200, timeout=10)
        return self.start_spm(h)

    def create(self, h, name):
        st, acc = h.call("POST", "/v1/domains/%s/images" % self.dom,
                         {"name": name, "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202, acc)
        task = wait_for("task", lambda: (lambda r: r[1] if r[1]["state"] not in ("queued", "running") else None)(
            h.call("GET", "/v1/tasks/" + acc["task"])))
        self.assertEqual(task["state"], "finished", task)
        return acc["image"]

    def spm_generations(self, h, image):
        """The SPM generation every volume of the image was last written with."""
        st, vols = h.call("GET", "/v1/domains/%s/images/%s/volumes" % (self.dom, image))
        self.assertEqual(st, 200, vols)
        return {v["spm_generation"] for v in vols}

    def images(self, h):
        st, imgs = h.call("GET", "/v1/domains/%s/images" % self.dom)
        self.assertEqual(st, 200, imgs)
        return {i["uuid"] for i in imgs}

    def assert_refused(self, h, spm_host):
        st, err = h.call("POST", "/v1/domains/%s/images" % self.dom, {"name": "no", "format": "raw", "capacity": 1 << 20})
        self.assertEqual(st, 409, err)
        self.assertEqual(err["error"]["code"], "not_spm")
        self.assertEqual(err["error"].get("spm_host"), spm_host, err)

    def start_threads(self):
        self.checker = Checker(self.hosts, self.pool)
        self.checker.start()
        self.writers = Writers(self.dom)
        self.writers.start()

    def finish_threads(self):
        for t in (self.checker, self.writers):
            t.stop_flag.set()
            t.join()
        self.assertEqual(self.writers.accepted, [], "a host that is not SPM accepted a change")
        self.assertGreater(self.writers.refused, 0)
        self.assertGreater(self.checker.count, 20)
        self.assertEqual(self.checker.violations(), [])

    def test_one_spm_refusals_and_takeover_after_the_agent_is_killed(self):
        self.make_pool()
        self.start_threads()
        self.assert_refused(self.h2, None)  # nobody is SPM yet
        self.writers.aim([self.h2, self.h3])
        g1 = self.start_spm(self.h1)
        self.assertGreaterEqual(g1, 1)

        st, err = self.h2.call("POST", "/v1/pools/%s/spm/start" % self.pool)
        self.assertEqual((st, err["error"]["code"], err["error"].get("spm_host")), (409, "lease_held", 1), err)
        self.assert_refused(self.h2, 1)
        # host 3 learns who holds the lease from storage (its monitor reads it)
        wait_for("host 3 to see host 1 as SPM", lambda: self.h3.pool(self.pool)["spm"]["spm_host"] == 1)
        self.assert_refused(self.h3, 1)
        st, err = self.h3.call("POST", "/v1/domains", {"name": "more", "pool": self.pool})
        self.assertEqual((st, err["error"]["code"]), (409, "not_spm"), err)

        disk1 = self.create(self.h1, "disk1")
        made = {disk1}
        self.assertEqual(self.images(self.h2), made)  # the others read what the SPM wrote
        self.assertEqual(self.spm_generations(self.h2, disk1), {g1})  # and which SPM wrote it

        # the SPM agent dies; its sanlock daemon frees the lease at once
        self.writers.aim([self.h3])  # host 2 is about to become SPM
        self.h1.d.kill()
        t0 = time.monotonic()
        g2 = wait_for("host 2 to become SPM", lambda: (lambda r: r[1]["spm"]["generation"] if r[0] == 200 else None)(
            self.h2.call("POST", "/v1/pools/%s/spm/start" % self.pool)), timeout=30)
        took = time.monotonic() - t0
        self.assertGreater(g2, g1)
        self.assertLess(took, 3.0, "takeover after an agent kill took %.2f s" % took)
        self.assertEqual(self.images(self.h2), made)
        disk2 = self.create(self.h2, "disk2")
        made.add(disk2)
        self.assertEqual(self.spm_generations(self.h1 if self.h1.d.proc else self.h3, disk2), {g2})

        self.h1.start()
        self.assertEqual(self.h1.pool(self.pool)["spm"]["role"], "none")
        wait_for("host 1 to rejoin", lambda: self.h1.joined(self.pool), timeout=30)
        self.writers.aim([self.h1, self.h3])
        wait_for("host 1 to see host 2 as SPM", lambda: self.h1.pool(self.pool)["spm"]["spm_host"] == 2)
        self.assert_refused(self.h1, 2)
        self.assertEqual(self.images(self.h1), made)
        self.finish_threads()
        self.assertEqual(self.images(self.h2), made)

    def test_planned_handover_and_disconnect(self):
        self.make_pool()
        self.start_threads()
        self.writers.aim([self.h3])
        g1 = self.start_spm(self.h1)
        st, err = self.h1.call("POST", "/v1/pools/%s/disconnect" % self.pool)
        self.assertEqual((st, err["error"]["code"]), (409, "conflict"), err)
        st, p = self.h1.call("POST", "/v1/pools/%s/spm/stop" % self.pool)
        self.assertEqual((st, p["spm"]["role"]), (200, "none"), p)
        self.assert_refused(self.h1, None)
        self.writers.aim([self.h1, self.h3])
        g2 = self.start_spm(self.h2)
        self.assertEqual(g2, g1 + 1)
        # the lease states in /metrics (the host id lease's as the monitor last saw it: 500 ms)
        for h, spm in ((self.h1, "free"), (self.h2, "held")):
            lines = ['sanpool_lease_state{lockspace="%s",resource="SPM",state="%s"} 1' % (self.dom, spm),
                     'sanpool_lease_state{lockspace="%s",resource="",state="held"} 1' % self.dom]
            wait_for("host %d's lease states in /metrics" % h.id,
                     lambda: all(l in h.call_text("/metrics")[1] for l in lines), timeout=10)
        self.create(self.h2, "after-handover")
        self.finish_threads()

        # host 3 leaves the pool: it forgets it, storage stays
        st, _ = self.h3.call("POST", "/v1/pools/%s/disconnect" % self.pool)
        self.assertEqual(st, 200)
        self.assertEqual(self.h3.call("GET", "/v1/pools")[1], [])
        self.assertEqual(self.h3.call("GET", "/v1/domains")[1], [])
        self.assertEqual(len(self.images(self.h2)), 1)

    def test_host_death_stops_its_spm_and_another_host_takes_over_after_the_host_dead_time(self):
        """Host 1's sanlock daemon dies (as with the whole host): its agent stops
        writing at once; the lease stays its until sanlock deems host 1 dead."""
        self.make_pool()
        self.start_threads()
        self.writers.aim([self.h3])
        g1 = self.start_spm(self.h1)
        self.h1.sanlock.kill()
        t0 = time.monotonic()
        wait_for("host 1 to stop being SPM", lambda: self.h1.pool(self.pool)["spm"]["role"] == "none", timeout=10)
        self.writers.aim([self.h1, self.h3])
        st, err = self.h1.call("POST", "/v1/domains/%s/images" % self.dom, {"name": "x", "format": "raw", "capacity": 1 << 20})
        self.assertEqual((st, err["error"]["code"]), (409, "not_spm"), err)
        # the lease is still host 1's: nobody may take it before host 1 is dead
        st, err = self.h2.call("POST", "/v1/pools/%s/spm/start" % self.pool)
        self.assertEqual((st, err["error"]["code"], err["error"].get("spm_host")), (409, "lease_held", 1), err)
        g2 = wait_for("host 2 to become SPM", lambda: (lambda r: r[1]["spm"]["generation"] if r[0] == 200 else None)(
            self.h2.call("POST", "/v1/pools/%s/spm/start" % self.pool)), timeout=240, period=0.2)
        took = time.monotonic() - t0
        sys.stderr.write("takeover after host death (io_timeout %d s): %.1f s\n" % (IO_TIMEOUT, took))
        self.assertGreater(g2, g1)
        # sanlock's host-dead time is its renewal failure time (8 io_timeouts) plus
        # the 60 s it allows a watchdog to fire: over a minute, and not much more
        self.assertGreater(took, 8 * IO_TIMEOUT)
        self.assertLess(took, 8 * IO_TIMEOUT + 60 + 3 + 20, "takeover after host death took %.1f s" % took)
        self.create(self.h2, "after-host-death")
        self.finish_threads()

    def test_the_agent_waits_for_its_sanlock_daemon(self):
        """An agent started while its host's sanlock daemon is down serves the API,
        refuses SPM start clearly, and joins its pools once the daemon is back."""
        self.make_pool()
        self.h2.d.stop()
        self.h2.sanlock.kill()
        self.h2.start()  # no sanlock daemon: still up
        st, err = self.h2.call("POST", "/v1/pools/%s/spm/start" % self.pool)
        self.assertEqual((st, err["error"]["code"]), (409, "conflict"), err)
        self.assertIn("sanlock daemon", err["error"]["message"])
        self.assertEqual(self.images(self.h2), set())
        self.h2.sanlock = SanlockDaemon(self.h2.sanlock.run_dir, "host2")
        wait_for("host 2 to join once its daemon is back", lambda: self.h2.joined(self.pool), timeout=30)
        self.take_over(self.h2)

    def crash_spm_during(self, h, crash_at, method, path, body=None):
        """Restarts h's agent with a crash point, makes it SPM, and sends the change that hits it."""
        h.d.kill()
        h.start(env_extra={"SANPOOL_CRASH_AT": crash_at})
        wait_for("host %d to rejoin" % h.id, lambda: h.joined(self.pool), timeout=30)
        self.take_over(h)  # its killed self may have held the lease a moment ago
        st, acc = h.call(method, path, body)
        self.assertEqual(st, 202, acc)
        self.assertEqual(h.d.proc.wait(timeout=30), -9)  # the crash point killed it
        h.d.kill()  # reaped: forgets the process, closes its log
        return acc

    def test_a_crash_in_a_create_or_a_delete_is_recovered_by_the_next_spm(self):
        self.make_pool()
        acc = self.crash_spm_during(self.h1, "create.after_data", "POST", "/v1/domains/%s/images" % self.dom,
                                    {"name": "cut", "format": "qcow2", "capacity": GiB})
        # host 2 sees the half-made volume (ILLEGAL) until an SPM recovers the journal
        vols = wait_for("the ILLEGAL volume", lambda: self.h2.call(
            "GET", "/v1/domains/%s/images/%s/volumes" % (self.dom, acc["image"]))[1], timeout=10)
        self.assertEqual([v["legality"] for v in vols], ["ILLEGAL"])
        self.take_over(self.h2)  # rolls the create back before it answers
        st, _ = self.h2.call("GET", "/v1/domains/%s/images/%s" % (self.dom, acc["image"]))
        self.assertEqual(st, 404)
        self.assertEqual(os.listdir(os.path.join(self.shared, "images")), [])
        self.assertEqual(os.listdir(os.path.join(self.shared, "dom_md", "journal")), [])

        victim = self.create(self.h2, "victim")
        keep = self.create(self.h2, "keep")
        self.crash_spm_during(self.h2, "delete.after_illegal", "DELETE",
                              "/v1/domains/%s/images/%s" % (self.dom, victim))
        self.take_over(self.h3)  # the delete was acknowledged: it is finished
        self.assertEqual(self.images(self.h3), {keep})
        self.assertEqual(sorted(os.listdir(os.path.join(self.shared, "images"))), [keep])
        self.assertEqual(os.listdir(os.path.join(self.shared, "dom_md", "journal")), [])


class BlockSpmTest(unittest.TestCase):
    """The same on a block master domain: a VG on a loop device that the three
    hosts see, LV activation off (no device-mapper here). sanlock reads and
    writes the lockspace and the SPM lease on the device at the ids and leases
    LVs' offsets; the pool record is in the journal LV."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-spm-block-")
        self.loop = make_loop(self.root, 8 * GiB)
        self.hosts = start_hosts(self.root, 2, conf_extra="lvm_activation = no\n")
        self.h1, self.h2 = self.hosts
        self.vg = None

    def lvm(self, *argv):
        return lvm(os.path.join(self.h1.dir, "run", "lvm"), [self.loop], *argv)

    def tearDown(self):
        stop_hosts(self.hosts, None)
        if self.vg:
            self.lvm("vgremove", "-f", self.vg)
        self.lvm("pvremove", "-y", self.loop)
        subprocess.run(["losetup", "-d", self.loop])
        shutil.rmtree(self.root, ignore_errors=True)

    def lv_names(self):
        r = self.lvm("lvs", "--reportformat", "json", "-o", "lv_name", self.vg)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {lv["lv_name"] for lv in json.loads(r.stdout)["report"][0]["lv"]}

    def test_spm_on_a_block_master(self):
        st, p = self.h1.call("POST", "/v1/pools", {"name": "san", "master_domain_name": "lun1", "kind": "block",
                                                   "devices": [self.loop]})
        self.assertEqual(st, 201, p)
        pool, self.vg = p["uuid"], p["master_domain"]
        st, q = self.h2.call("POST", "/v1/pools/%s/connect" % pool, {"kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 200, q)
        self.assertEqual(q["domains"], [self.vg])
        for h in self.hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(pool), timeout=30)
        st, s1 = self.h1.call("POST", "/v1/pools/%s/spm/start" % pool)
        self.assertEqual((st, s1["spm"]["role"]), (200, "spm"), s1)
        st, err = self.h2.call("POST", "/v1/pools/%s/spm/start" % pool)
        self.assertEqual((st, err["error"]["code"], err["error"].get("spm_host")), (409, "lease_held", 1), err)

        lvs = self.lv_names()
        st, err = self.h2.call("POST", "/v1/domains/%s/images" % self.vg, {"name": "x", "format": "raw", "capacity": GiB})
        self.assertEqual((st, err["error"]["code"], err["error"].get("spm_host")), (409, "not_spm", 1), err)
        self.assertEqual(self.lv_names(), lvs)
        st, acc = self.h1.call("POST", "/v1/domains/%s/images" % self.vg, {"name": "d", "format": "raw", "capacity": GiB})
        self.assertEqual(st, 202, acc)
        wait_for("the volume on host 2", lambda: [v for v in (self.h2.call(
            "GET", "/v1/domains/%s/images/%s/volumes" % (self.vg, acc["image"]))[1] or [])
            if isinstance(v, dict) and v["legality"] == "LEGAL"], timeout=30)
        self.assertIn(acc["volume"], self.lv_names())
        # the generation is in the LV's tags, on storage
        r = self.lvm("lvs", "--reportformat", "json", "-o", "lv_tags", "%s/%s" % (self.vg, acc["volume"]))
        self.assertIn("sp.w=%d" % s1["spm"]["generation"], r.stdout)

        # handover: the pool record on the journal LV gets the new generation
        st, _ = self.h1.call("POST", "/v1/pools/%s/spm/stop" % pool)
        self.assertEqual(st, 200)
        st, s2 = self.h2.call("POST", "/v1/pools/%s/spm/start" % pool)
        self.assertEqual((st, s2["spm"]["generation"]), (200, s1["spm"]["generation"] + 1), s2)
        st, acc2 = self.h2.call("DELETE", "/v1/domains/%s/images/%s" % (self.vg, acc["image"]))
        self.assertEqual(st, 202, acc2)
        wait_for("the LV to go", lambda: acc["volume"] not in self.lv_names(), timeout=30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
