"""Volume leases with simulated hosts (simhosts.py: real sanlock daemons,
io_timeout 1, and real sanpoolds):

- the SPM gives a volume a lease slot in its domain's leases area;
- a host prepares the image with the exclusive lease; any other host asking
  for it is refused at once with the holder's host id, nothing prepared there;
- kill -9 of the holder's agent: the lease stays held (its holder process
  outlives the agent), the restarted agent finds it again and a teardown frees it;
- live migration: the destination prepares without the lease, the source
  releases and the destination acquires (the lease version grows), a third
  host and the source are refused, the source's teardown leaves the
  destination's lease alone;
- lease loss: the holder's lockspace is removed under it, the API says "lost".

On a file domain (three hosts) and on a block domain on a loop device (two
hosts, LV activation off: prepare is refused there, the lease routes work).
"""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from sanpool import GiB
from simhosts import start_hosts, stop_hosts, wait_for
from test_block_domain import lvm, make_loop


class LeaseHosts:
    """Helpers over hosts of one pool (self.hosts, self.pool, self.dom)."""

    def make_pool(self, body, connect):
        h1 = self.hosts[0]
        st, p = h1.call("POST", "/v1/pools", dict(name="cluster", master_domain_name="master", **body))
        self.assertEqual(st, 201, p)
        self.pool, self.dom = p["uuid"], p["master_domain"]
        for h in self.hosts[1:]:
            st, q = h.call("POST", "/v1/pools/%s/connect" % self.pool, connect)
            self.assertEqual(st, 200, q)
        for h in self.hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(self.pool), timeout=30)
        st, s = h1.call("POST", "/v1/pools/%s/spm/start" % self.pool)
        self.assertEqual((st, s["spm"]["role"]), (200, "spm"), s)

    def create(self, fmt="raw"):
        st, acc = self.hosts[0].call("POST", "/v1/domains/%s/images" % self.dom,
                                     {"name": "vm-disk", "format": fmt, "capacity": GiB})
        self.assertEqual(st, 202, acc)
        task = wait_for("task", lambda: (lambda r: r[1] if r[1]["state"] not in ("queued", "running") else None)(
            self.hosts[0].call("GET", "/v1/tasks/" + acc["task"])))
        self.assertEqual(task["state"], "finished", task)
        self.image, self.vol = acc["image"], acc["volume"]
        self.vpath = "/v1/domains/%s/images/%s/volumes/%s" % (self.dom, self.image, self.vol)
        self.ipath = "/v1/domains/%s/images/%s" % (self.dom, self.image)

    def lease(self, h):
        st, v = h.call("GET", self.vpath)
        self.assertEqual(st, 200, v)
        return v["lease"]

    def refused(self, h, method, path, body=None, holder=None):
        st, err = h.call(method, path, body)
        self.assertEqual((st, err["error"]["code"], err["error"].get("holder_host")), (409, "lease_held", holder), err)

    def spm_lease(self, method):
        """Adds (POST) or removes (DELETE) the volume's lease slot on the SPM: the lease, from the ended task."""
        st, acc = self.hosts[0].call(method, self.vpath + "/lease")
        self.assertEqual(st, 202, acc)
        st, task = self.hosts[0].call("GET", "/v1/tasks/" + acc["task"])
        self.assertEqual((st, task["state"]), (200, "finished"), task)
        return task["result"]["lease"]

    def acquire(self, h):
        st, r = h.call("POST", self.vpath + "/lease/acquire")
        self.assertEqual(st, 200, r)
        self.assertEqual((r["lease"]["state"], r["lease"]["holder_host"]), ("held", h.id), r)
        return r["lease"]["generation"]

    def add_lease(self):
        h1, h2 = self.hosts[0], self.hosts[1]
        self.assertIsNone(self.lease(h1))
        st, err = h2.call("POST", self.vpath + "/lease")  # only the SPM adds a slot
        self.assertEqual((st, err["error"]["code"]), (409, "not_spm"), err)
        st, err = h2.call("POST", self.vpath + "/lease/acquire")  # no slot yet
        self.assertEqual((st, err["error"]["code"]), (409, "no_lease"), err)
        lease = self.spm_lease("POST")
        self.assertEqual((lease["holder_host"], lease["state"], lease["generation"]), (None, "none", 0), lease)
        self.assertEqual(self.spm_lease("POST")["slot"], lease["slot"])  # idempotent
        # every host finds the same slot through the index on storage
        for h in self.hosts:
            self.assertEqual(self.lease(h)["offset"], lease["offset"])
        return lease

    def kill_agent_and_restart(self, h, other):
        """kill -9 of h's agent while it holds the lease: still held across the restart."""
        holders = h.lease_holders()
        self.assertEqual(len(holders), 1)
        h.d.kill()
        self.refused(other, "POST", self.vpath + "/lease/acquire", holder=h.id)
        h.start()
        self.assertEqual(h.lease_holders(), holders)
        lease = self.lease(h)
        self.assertEqual((lease["state"], lease["holder_host"]), ("held", h.id), lease)
        self.refused(other, "POST", self.vpath + "/lease/acquire", holder=h.id)


class FileLeaseTest(LeaseHosts, unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-vlease-")
        self.shared = os.path.join(self.root, "shared", "master")
        os.makedirs(self.shared)
        self.hosts = start_hosts(self.root, 3)

    def tearDown(self):
        stop_hosts(self.hosts, None if os.environ.get("SANPOOL_KEEP_TMP") else self.root)

    def prepared(self, h):
        st, v = h.call("GET", self.vpath)
        return v["prepared"]

    def test_exclusive_prepare_restart_migration_and_loss(self):
        h1, h2, h3 = self.hosts
        self.make_pool({"kind": "file", "path": self.shared}, {"kind": "file", "path": self.shared})
        self.create("qcow2")
        self.add_lease()

        # bad bodies: 400 naming the field, nothing prepared
        for body in ({"lease": "shared"}, {"lease": 1}, {"leases": "exclusive"}):
            st, err = h2.call("POST", self.ipath + "/prepare", body)
            self.assertEqual(st, 400, err)
            self.assertIn(err["error"]["field"], ("lease", "leases"), err)
        self.assertFalse(self.prepared(h2))

        # host 2 runs the VM: prepared with the exclusive lease
        st, p = h2.call("POST", self.ipath + "/prepare", {"lease": "exclusive"})
        self.assertEqual(st, 200, p)
        self.assertEqual((p["lease"]["state"], p["lease"]["holder_host"]), ("held", 2), p)
        g1 = p["lease"]["generation"]
        self.assertGreaterEqual(g1, 1)
        st, again = h2.call("POST", self.ipath + "/prepare", {"lease": "exclusive"})  # idempotent
        self.assertEqual((st, again["lease"]["generation"]), (200, g1), again)
        # host 3 asks for it: refused at once, nothing prepared there
        t0 = time.monotonic()
        self.refused(h3, "POST", self.ipath + "/prepare", {"lease": "exclusive"}, holder=2)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertFalse(self.prepared(h3))
        self.assertEqual(self.lease(h3)["holder_host"], 2)
        self.assertEqual(self.lease(h3)["state"], "none")
        # the SPM cannot take the slot away while it is held
        self.refused(h1, "DELETE", self.vpath + "/lease", holder=2)

        self.kill_agent_and_restart(h2, h3)

        # live migration 2 -> 3: the destination prepares without the lease
        st, p3 = h3.call("POST", self.ipath + "/prepare", {"lease": "none"})
        self.assertEqual((st, p3["lease"]["holder_host"], p3["lease"]["state"]), (200, 2, "none"), p3)
        self.assertTrue(self.prepared(h2) and self.prepared(h3))
        t0 = time.monotonic()
        st, rel = h2.call("POST", self.vpath + "/lease/release")
        t1 = time.monotonic()
        self.assertEqual((st, rel["lease"]["state"], rel["lease"]["holder_host"]), (200, "none", None), rel)
        g2 = self.acquire(h3)
        t2 = time.monotonic()
        print("handover: release %.0f ms, acquire %.0f ms" % ((t1 - t0) * 1000, (t2 - t1) * 1000))
        self.assertGreater(g2, g1)
        self.assertEqual(h2.lease_holders(), [])
        self.refused(h1, "POST", self.vpath + "/lease/acquire", holder=3)  # a third host
        self.refused(h2, "POST", self.ipath + "/prepare", {"lease": "exclusive"}, holder=3)  # the source
        self.assertTrue(self.prepared(h2))  # its preparation without the lease is untouched
        st, td = h2.call("POST", self.ipath + "/teardown")
        self.assertEqual((st, td["prepared"]), (200, False), td)
        lease = self.lease(h1)
        self.assertEqual((lease["holder_host"], lease["generation"]), (3, g2), lease)
        self.assertEqual(self.lease(h3)["state"], "held")

        # the destination's teardown frees it; then the SPM can remove the slot
        st, td = h3.call("POST", self.ipath + "/teardown")
        self.assertEqual(st, 200, td)
        self.assertEqual(h3.lease_holders(), [])
        self.assertIsNone(self.lease(h1)["holder_host"])
        self.assertIsNone(self.spm_lease("DELETE"))
        self.assertIsNone(self.lease(h2))

        # lease loss: host 3 holds it again, its lockspace is removed under it
        slot = self.add_lease()
        self.acquire(h3)
        env = dict(os.environ, SANLOCK_RUN_DIR=h3.sanlock.run_dir)
        status = subprocess.run(["sanlock", "client", "status"], capture_output=True, text=True, env=env).stdout
        ls = [l.split()[1] for l in status.splitlines() if l.startswith("s " + self.dom + ":")][0]
        r = subprocess.run(["sanlock", "client", "rem_lockspace", "-s", ls], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_for("host 3 to report the lease lost", lambda: self.lease(h3)["state"] == "lost", timeout=30)
        self.assertEqual(h3.lease_holders(), [])
        self.assertEqual(self.lease(h3)["slot"], slot["slot"])


class BlockLeaseTest(LeaseHosts, unittest.TestCase):
    """A block domain: the index and the leases at the leases LV's offset on
    the loop device; without activation, prepare is refused (no data access)
    and the lease is taken with the lease routes."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-vlease-block-")
        self.loop = make_loop(self.root, 8 * GiB)
        self.hosts = start_hosts(self.root, 2, conf_extra="lvm_activation = no\n")
        self.dom = None

    def lvm(self, *argv):
        return lvm(os.path.join(self.hosts[0].dir, "run", "lvm"), [self.loop], *argv)

    def tearDown(self):
        stop_hosts(self.hosts, None)
        if self.dom:
            self.lvm("vgremove", "-f", self.dom)
        self.lvm("pvremove", "-y", self.loop)
        subprocess.run(["losetup", "-d", self.loop])
        shutil.rmtree(self.root, ignore_errors=True)

    def test_block_domain_lease(self):
        h1, h2 = self.hosts
        self.make_pool({"kind": "block", "devices": [self.loop]}, {"kind": "block", "devices": [self.loop]})
        self.create()
        lease = self.add_lease()

        st, err = h1.call("POST", self.ipath + "/prepare", {"lease": "exclusive"})
        self.assertEqual((st, err["error"]["code"]), (409, "no_data_access"), err)
        self.assertEqual(h1.lease_holders(), [])

        g1 = self.acquire(h1)
        self.refused(h2, "POST", self.vpath + "/lease/acquire", holder=1)
        self.kill_agent_and_restart(h1, h2)
        # handover 1 -> 2
        st, rel = h1.call("POST", self.vpath + "/lease/release")
        self.assertEqual(st, 200, rel)
        g2 = self.acquire(h2)
        self.assertGreater(g2, g1)
        self.refused(h1, "POST", self.vpath + "/lease/acquire", holder=2)
        self.assertEqual(self.lease(h1)["offset"], lease["offset"])
        st, rel = h2.call("POST", self.vpath + "/lease/release")
        self.assertEqual((st, rel["lease"]["holder_host"]), (200, None), rel)

        # host 1's agent dies after its holder got the lease, before it
        # acknowledged the holder: the holder lets go by itself, nothing is left
        h1.d.kill()
        h1.start(env_extra={"SANPOOL_CRASH_AT": "vlease.before_ack"})
        st, _ = h1.call("POST", self.vpath + "/lease/acquire")
        self.assertIsNone(st)  # no answer: it died
        self.assertEqual(h1.d.proc.wait(timeout=30), -9)
        h1.d.kill()
        wait_for("host 2 to get the lease", lambda: h2.call("POST", self.vpath + "/lease/acquire")[0] == 200,
                 timeout=10)
        self.assertEqual(h1.lease_holders(), [])
        h1.start()
        lease = self.lease(h1)  # recorded, never acknowledged: reported lost until released
        self.assertEqual((lease["state"], lease["holder_host"]), ("lost", 2), lease)
        st, rel = h1.call("POST", self.vpath + "/lease/release")
        self.assertEqual((st, rel["lease"]["state"], rel["lease"]["holder_host"]), (200, "none", 2), rel)
