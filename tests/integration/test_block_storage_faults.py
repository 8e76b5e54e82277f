"""Block domains whose storage fails: a full VG and an LVM command that does
not return. On a loop device, LV activation off (the fast tier).

A full VG: a volume whose first LV does not fit in the free extents is
refused at submission (507 no_space naming the field), an extend that does
not fit too, and neither changes anything; when the space goes between the
check and the task's lvcreate (another writer took it), the task fails with
no_space and is rolled back.

A stuck command: a real device whose I/O blocks needs device-mapper, which
this machine lacks, so the LVM worker is stalled by an explicit fake
(SANPOOL_TEST_STALL, lib/util/stallpoint.h) just before it runs the named
command, as a command blocked on a dead LUN would be. Calls queued behind it
give up after lvm_timeout_s with 503 storage_timeout naming the domain (a
task fails with that code) and are never run; reads of what the daemon
holds keep answering; /metrics shows the stuck worker; once the command
returns everything works and nothing was half-done."""
import os
import re
import time
import unittest

from sanpool import GiB, MiB, Daemon
from test_block_domain import EXTENT, BlockTest, make_loop

TIMEOUT_S = 2
# ASan build on a shared 2-core machine: what a timely answer may take beyond the deadline
SLACK_S = 3


class BlockStorageFaultTest(BlockTest):
    def setUp(self):
        super().setUp()
        self.stall = os.path.join(self.tmp, "stall")

    def tearDown(self):
        if os.path.exists(self.stall):  # a failed test must not leave the worker stuck for the shutdown
            os.unlink(self.stall)
        super().tearDown()

    def start(self, size, conf=""):
        self.d.stop()
        self.d = Daemon(self.tmp, conf_extra="lvm_activation = no\nrun_dir = %s/run\n%s" % (self.tmp, conf),
                        bootstrap=False)
        self.d.start(env_extra={"SANPOOL_TEST_STALL": self.stall})
        self.loop = make_loop(self.tmp, size)
        st, dom = self.d.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 201, dom)
        self.dom = self.vg = dom["uuid"]

    def stall_lvm(self, command):
        with open(self.stall, "w") as f:
            f.write("lvm.%s\n" % command)

    def release_lvm(self):
        os.unlink(self.stall)

    def metric(self, name):
        st, text = self.d.get("/metrics")
        self.assertEqual(st, 200)
        text = text.decode() if isinstance(text, bytes) else text
        m = re.search(r"^%s (\S+)$" % name, text, re.M)
        self.assertTrue(m, name)
        return float(m.group(1))

    def assert_refused_no_space(self, st, body, field):
        self.assertEqual(st, 507, body)
        self.assertEqual((body["error"]["code"], body["error"]["field"]), ("no_space", field), body)
        self.assertIn(self.dom, body["error"]["message"])
        self.assertIn("ENOSPC", body["error"]["message"])

    def assert_clean(self):
        """The model equals LVM, no marker and no journal record is left, the checker finds nothing."""
        self.assert_model_equals_lvm()
        st, report = self.d.get("/v1/domains/%s/check" % self.dom)
        self.assertEqual(st, 200, report)
        self.assertEqual(report["problems"], [], report)

    def test_full_vg(self):
        # 128 MiB of PV metadata and 5 special LVs of one extent: 3 extents free
        self.start(1280 * MiB, "thin_initial_size_mib = 128\n")
        free = self.api_domain()["free_bytes"]
        self.assertEqual(free, 3 * EXTENT)
        imgs = self.img_path()
        # a raw volume (preallocated or not: its LV is its full size) one byte too large
        for alloc in ("preallocated", "sparse"):
            st, body = self.d.post(imgs, {"name": "big", "format": "raw", "allocation": alloc, "capacity": free + 512})
            self.assert_refused_no_space(st, body, "capacity")
        before = self.lvs()
        raw, _ = self.d.create_image(self.dom, fmt="raw", capacity=free - EXTENT, allocation="preallocated")
        thin, thin_vol = self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)
        self.assertEqual(self.api_domain()["free_bytes"], 0)
        self.assertEqual(len(self.lvs()), len(before) + 2)
        # full: not even a thin volume's first LV fits, nor a snapshot's, nor a clone's
        self.d.run_task("POST", self.img_path(raw) + "/template")
        lvs = self.lvs()
        st, body = self.d.post(imgs, {"name": "thin", "format": "qcow2", "capacity": 10 * GiB})
        self.assert_refused_no_space(st, body, "capacity")
        st, body = self.d.post(self.img_path(thin) + "/snapshots")
        self.assert_refused_no_space(st, body, "capacity")
        st, body = self.d.post(self.img_path(raw) + "/clone", {"name": "clone"})
        self.assert_refused_no_space(st, body, "capacity")
        # an extend of the thin volume's LV past the VG's end
        st, body = self.d.post(self.img_path(thin) + "/volumes/%s/extend" % thin_vol)
        self.assert_refused_no_space(st, body, "size")
        self.assertIn(thin_vol, body["error"]["message"])
        self.assertEqual(self.lvs(), lvs)  # nothing changed
        self.assert_clean()

        # the space goes between the check and the task's lvcreate (another
        # writer took it): the task fails with no_space and is rolled back
        self.d.run_task("DELETE", self.img_path(thin))
        self.stall_lvm("lvcreate")
        st, acc = self.d.post(imgs, {"name": "late", "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202, acc)
        deadline = time.monotonic() + 60
        while self.metric("sanpool_lvm_running_seconds") == 0:  # the worker is at the lvcreate
            self.assertLess(time.monotonic(), deadline)
        r = self.lvm("lvcreate", "--activate", "n", "--zero", "n", "-l", "1", "-n", "taken", self.vg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.release_lvm()
        t = self.d.wait_task(acc["task"])
        self.assertEqual((t["state"], t["error"]["code"]), ("failed", "no_space"), t)
        self.assertIn(self.dom, t["error"]["message"])
        self.assertIn("ENOSPC", t["error"]["message"])
        st, _ = self.d.get(self.img_path(acc["image"]))
        self.assertEqual(st, 404)
        self.assertNotIn(acc["volume"], self.lvs())
        r = self.lvm("lvremove", "-f", "%s/taken" % self.vg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.run_task("POST", "/v1/domains/%s/resize" % self.dom)  # reads the VG again (changed by hand)
        self.assert_clean()
        # space again: creates work
        self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)

    def test_stuck_lvm_command(self):
        self.start(40 * GiB, "lvm_timeout_s = %d\n" % TIMEOUT_S)
        base, base_vol = self.d.create_image(self.dom, fmt="raw", capacity=GiB)
        domain = self.api_domain()  # LVM's reports are held from here on
        st, vol = self.d.get(self.img_path(base) + "/volumes/" + base_vol)
        self.assertEqual(st, 200, vol)

        # a create whose lvcreate does not return
        self.stall_lvm("lvcreate")
        st, stuck = self.d.post(self.img_path(), {"name": "stuck", "format": "raw", "capacity": GiB})
        self.assertEqual(st, 202, stuck)
        deadline = time.monotonic() + 60
        while self.metric("sanpool_lvm_running_seconds") == 0:
            self.assertLess(time.monotonic(), deadline)

        # a create queued behind it: its task fails after the deadline, its lvcreate never ran
        t0 = time.monotonic()
        st, late = self.d.post(self.img_path(), {"name": "late", "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202, late)
        t = self.d.wait_task(late["task"])
        self.assertLess(time.monotonic() - t0, TIMEOUT_S + SLACK_S)
        self.assertEqual((t["state"], t["error"]["code"]), ("failed", "storage_timeout"), t)
        self.assertIn(self.dom, t["error"]["message"])
        self.assertIn("not answering", t["error"]["message"])
        # a change done while the request waits: 503 naming the domain, at once now
        t0 = time.monotonic()
        st, body = self.d.post("/v1/domains/%s/resize" % self.dom)
        self.assertLess(time.monotonic() - t0, TIMEOUT_S + SLACK_S)
        self.assertEqual(st, 503, body)
        self.assertEqual((body["error"]["code"], body["error"]["domain"]), ("storage_timeout", self.dom), body)
        self.assertIn("lvm lvcreate %s/%s" % (self.dom, stuck["volume"]), body["error"]["message"])
        # reads of what the daemon holds answer, without waiting
        t0 = time.monotonic()
        self.assertEqual(self.api_domain()["free_bytes"], domain["free_bytes"])
        st, again = self.d.get(self.img_path(base) + "/volumes/" + base_vol)
        self.assertEqual((st, again["lv_size"]), (200, vol["lv_size"]), again)
        self.assertLess(time.monotonic() - t0, TIMEOUT_S)
        st, running = self.d.get("/v1/tasks/" + stuck["task"])
        self.assertEqual(running["state"], "running", running)
        # the stuck worker, in /metrics
        self.assertGreaterEqual(self.metric("sanpool_lvm_running_seconds"), TIMEOUT_S)
        self.assertGreaterEqual(self.metric("sanpool_lvm_timeouts_total"), 2)

        # the command returns: it completes, the rest works, nothing half-done
        self.release_lvm()
        self.assertEqual(self.d.wait_task(stuck["task"])["state"], "finished")
        st, _ = self.d.get(self.img_path(late["image"]))
        self.assertEqual(st, 404)
        lvs = self.lvs()
        self.assertIn(stuck["volume"], lvs)
        self.assertNotIn(late["volume"], lvs)
        self.assertEqual(self.metric("sanpool_lvm_running_seconds"), 0)
        self.assert_clean()
        self.d.run_task("POST", "/v1/domains/%s/resize" % self.dom)
        self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)
        self.assert_clean()


def load_tests(loader, standard_tests, pattern):
    """This file's tests only, not those of BlockTest, whose helpers it uses."""
    return unittest.TestSuite(BlockStorageFaultTest(name) for name in loader.getTestCaseNames(BlockStorageFaultTest)
                              if name in BlockStorageFaultTest.__dict__)


if __name__ == "__main__":
    unittest.main()
