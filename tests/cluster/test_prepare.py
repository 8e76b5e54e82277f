"""Cluster tier, scenario c: one image used by VMs on different hosts.

A thin qcow2 image on the shared block domain, made through host 1, is
prepared on host 2 and written with qemu-io (a pattern into the base), torn
down; host 1 takes a snapshot; host 2 prepares it again (it reads the new
chain from the VG) and writes a second pattern into the snapshot; host 3
prepares it and reads both back byte for byte; its agent restarts and finds
the image still prepared. Then host 1 extends the top volume's LV and host 3
sees the new size only after a refresh. Every teardown
leaves no device-mapper device of the domain and no link behind.

Run by hand: python3 tests/cluster/test_prepare.py  (root; see test_cluster.py).
"""
import http.client
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTestCase, GiB, MiB  # noqa: E402

PAT_BASE, PAT_TOP = 0x5A, 0xA5
CHUNK = 4 * MiB


class PrepareTest(ClusterTestCase):
    CLUSTER = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if len(cls.g) < 3:
            raise unittest.SkipTest("scenario c needs 3 hosts")

    # --- helpers ---------------------------------------------------------------------
    def wwid(self):
        rc, out = self.g[0].run('multipathd show paths format "%w"', check=True)
        wwids = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
        self.assertEqual(len(wwids), 1, out)
        return wwids.pop()

    def task(self, host, st, acc):
        self.assertEqual(st, 202, acc)
        t = host.wait_task(acc["task"])
        self.assertEqual(t["state"], "finished", t)
        return acc

    def img(self, suffix="", image=None):
        return "/v1/domains/%s/images/%s%s" % (self.dom, image or self.image, suffix)

    def domain(self):
        """The shared block domain, made through host 1 at the first call."""
        cls = type(self)
        if getattr(cls, "dom", None) is None:
            cls.dev = "/dev/mapper/" + self.wwid()
            st, dom = self.g[0].post("/v1/domains", {"name": "sanblk", "kind": "block", "devices": [cls.dev]})
            self.assertEqual(st, 201, dom)
            cls.dom = dom["uuid"]
        return cls.dom

    def prepare(self, host):
        st, p = host.post(self.img("/prepare"))
        self.assertEqual(st, 200, "%s: %s" % (host.name, p))
        rc, out = host.run("test -b %s && readlink %s" % (p["path"], p["path"]), check=True)
        self.assertEqual(out.strip(), "/dev/%s/%s" % (self.dom, p["chain"][-1]["volume"]), out)
        return p

    def teardown(self, host):
        st, t = host.post(self.img("/teardown"))
        self.assertEqual(st, 200, "%s: %s" % (host.name, t))
        self.assertFalse(t["prepared"])
        self.assertEqual(self.dm_devices(host), [], host.name)
        rc, out = host.run("ls /run/sanpool/storage/%s/%s" % (self.dom, self.image))
        self.assertNotEqual(rc, 0, "%s: links left: %s" % (host.name, out))

    def dm_devices(self, host):
        """The device-mapper devices of the domain's VG on host (dm escapes '-' as '--')."""
        rc, out = host.run("dmsetup ls", check=True)
        prefix = self.dom.replace("-", "--") + "-"
        return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]

    def qemu_io(self, host, path, cmd):
        rc, out = host.run("qemu-io -f qcow2 -c '%s' %s" % (cmd, path), timeout=300)
        self.assertEqual(rc, 0, "%s: qemu-io %s: %s" % (host.name, cmd, out))
        self.assertNotIn("fail", out.lower(), "%s: qemu-io %s: %s" % (host.name, cmd, out))
        return out

    def restart_agent(self, host):
        """Stops sanpoold on host (SIGTERM, as systemd would), removes its run-time links, and
        starts it again; returns once its API answers."""
        script = ("pid=$(cat /run/sanpoold.pid); kill -TERM $pid; "
                  "while kill -0 $pid 2>/dev/null; do sleep 0.1; done; "
                  "rm -rf /run/sanpool/storage; "
                  "setsid %s --config /run/sanpoold.conf >> /io/sanpoold.log 2>&1 < /dev/null & "
                  "echo $! > /run/sanpoold.pid" % self.cluster.sanpoold)
        host.run(script, check=True)
        host._close()
        deadline = time.monotonic() + 120
        while True:
            try:
                if host.get("/v1/host")[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                host._close()
            self.assertLess(time.monotonic(), deadline, "%s: sanpoold not back" % host.name)
            time.sleep(0.2)

    def getsize(self, host, path):
        rc, out = host.run("blockdev --getsize64 %s" % path, check=True)
        return int(out.strip().splitlines()[-1])

    def volume(self, host, volume):
        st, v = host.get(self.img("/volumes/" + volume))
        self.assertEqual(st, 200, v)
        return v

    # --- the scenario ----------------------------------------------------------------
    def test_c_image_moves_between_hosts(self):
        h1, h2, h3 = self.g[0], self.g[1], self.g[2]
        t0 = time.monotonic()
        self.domain()
        dev = self.dev
        st, acc = h1.post("/v1/domains/%s/images" % self.dom,
                          {"name": "vm1", "format": "qcow2", "capacity": 2 * GiB, "allocation": "sparse"})
        self.task(h1, st, acc)
        self.image, base = acc["image"], acc["volume"]
        # creating formatted the LV on host 1 and left nothing active there
        self.assertEqual(self.dm_devices(h1), [])
        for h in (h2, h3):
            st, d = h.post("/v1/domains/attach", {"kind": "block", "devices": [dev]})
            self.assertEqual(st, 200, "%s: %s" % (h.name, d))
            self.assertEqual(d["uuid"], self.dom)

        # host 2: the base
        p = self.prepare(h2)
        self.assertEqual([c["volume"] for c in p["chain"]], [base])
        self.assertTrue(self.volume(h2, base)["prepared"])
        self.assertFalse(self.volume(h3, base)["prepared"])
        self.qemu_io(h2, p["path"], "write -P 0x%x 0 %d" % (PAT_BASE, CHUNK))
        self.teardown(h2)

        # host 1: a snapshot over it
        st, acc = h1.post(self.img("/snapshots"), {"parent": base})
        top = self.task(h1, st, acc)["volume"]
        self.assertEqual(self.dm_devices(h1), [])

        # host 2 again: it learns the new chain from the VG
        p = self.prepare(h2)
        self.assertEqual([c["volume"] for c in p["chain"]], [base, top])
        self.assertEqual(p["path"], "/run/sanpool/storage/%s/%s/%s" % (self.dom, self.image, top))
        self.assertEqual(len(self.dm_devices(h2)), 2)
        self.qemu_io(h2, p["path"], "write -P 0x%x %d %d" % (PAT_TOP, CHUNK, CHUNK))
        self.teardown(h2)

        # host 3: everything reads back, byte for byte, through the chain
        p = self.prepare(h3)
        self.assertEqual([c["volume"] for c in p["chain"]], [base, top])
        self.qemu_io(h3, p["path"], "read -P 0x%x 0 %d" % (PAT_BASE, CHUNK))
        self.qemu_io(h3, p["path"], "read -P 0x%x %d %d" % (PAT_TOP, CHUNK, CHUNK))
        self.qemu_io(h3, p["path"], "read -P 0 %d %d" % (2 * CHUNK, CHUNK))
        # the base alone holds only its own pattern
        self.qemu_io(h3, p["chain"][0]["path"], "read -P 0 %d %d" % (CHUNK, CHUNK))

        # the agent restarts under the running "VM": the links come back, the image stays prepared
        self.restart_agent(h3)
        rc, out = h3.run("readlink %s" % p["path"], check=True)
        self.assertEqual(out.strip(), "/dev/%s/%s" % (self.dom, top))
        self.assertTrue(self.volume(h3, top)["prepared"])
        self.assertEqual(len(self.dm_devices(h3)), 2)

        # host 1 grows the top's LV; host 3 sees it after a refresh only
        before = self.getsize(h3, p["path"])
        self.assertEqual(before, self.volume(h3, top)["lv_size"])
        st, v = h1.post(self.img("/volumes/%s/extend" % top))
        self.assertEqual(st, 200, v)
        grown = v["lv_size"]
        self.assertGreater(grown, before)
        self.assertEqual(self.dm_devices(h1), [])
        self.assertEqual(self.getsize(h3, p["path"]), before)
        st, v = h3.post(self.img("/volumes/%s/refresh" % top))
        self.assertEqual(st, 200, v)
        self.assertEqual(v["lv_size"], grown)
        self.assertTrue(v["active"])
        self.assertEqual(self.getsize(h3, p["path"]), grown)
        # the data is still there after the refresh
        self.qemu_io(h3, p["path"], "read -P 0x%x %d %d" % (PAT_TOP, CHUNK, CHUNK))
        self.teardown(h3)
        self.assertFalse(self.volume(h3, top)["active"])
        # the image goes (its LVs free the VG for the next scenario)
        st, acc = h1.request("DELETE", self.img())
        self.task(h1, st, acc)
        sys.stderr.write("scenario c: %.1fs\n" % (time.monotonic() - t0))

    def test_d_operations_on_active_lvs(self):
        """Snapshot, merge, resize, template, clone and copy format and read real LVs on the SPM
        (host 1), which keeps nothing active after them unless prepared."""
        h1 = self.g[0]
        self.domain()
        t0 = time.monotonic()
        st, acc = h1.post("/v1/domains/%s/images" % self.dom,
                          {"name": "ops", "format": "qcow2", "capacity": 256 * MiB, "allocation": "sparse"})
        self.image, base = self.task(h1, st, acc)["image"], acc["volume"]
        # a thin LV never larger than a full qcow2 of its capacity needs (3 extents here)
        self.assertEqual(self.volume(h1, base)["lv_size"], 3 * 128 * MiB)
        st, acc = h1.post(self.img("/snapshots"))
        top = self.task(h1, st, acc)["volume"]
        p = self.prepare(h1)
        self.assertEqual([c["volume"] for c in p["chain"]], [base, top])
        self.qemu_io(h1, p["path"], "write -P 0x11 0 1M")
        self.qemu_io(h1, p["path"], "write -P 0x22 1M 1M")
        self.teardown(h1)
        # merge the top into the base (qemu-img commit), then grow the image
        st, acc = h1.request("DELETE", self.img("/snapshots/" + top))
        self.task(h1, st, acc)
        st, acc = h1.post(self.img("/resize"), {"capacity": 384 * MiB})
        self.task(h1, st, acc)
        self.assertEqual(self.dm_devices(h1), [])
        # template and clone: the clone's chain starts in the template, whose base now holds the data
        st, acc = h1.post(self.img("/template"))
        self.task(h1, st, acc)
        st, acc = h1.post(self.img("/clone"), {"name": "vm2"})
        clone, cvol = self.task(h1, st, acc)["image"], acc["volume"]
        st, p = h1.post(self.img("/prepare", clone))
        self.assertEqual(st, 200, p)
        self.assertEqual([(c["image"], c["volume"]) for c in p["chain"]], [(self.image, base), (clone, cvol)])
        self.qemu_io(h1, p["path"], "read -P 0x11 0 1M")
        self.qemu_io(h1, p["path"], "read -P 0x22 1M 1M")
        rc, out = h1.run("qemu-img info -U --output=json %s" % p["path"], check=True)
        self.assertIn('"virtual-size": %d' % (384 * MiB), out)
        st, t = h1.post(self.img("/teardown", clone))
        self.assertEqual(st, 200, t)
        self.assertEqual(self.dm_devices(h1), [])
        # copy the clone (collapsed) to a file domain on host 1
        st, fdom = h1.post("/v1/domains", {"name": "local"})
        self.assertEqual(st, 201, fdom)
        st, acc = h1.post(self.img("/copy", clone), {"domain": fdom["uuid"]})
        self.task(h1, st, acc)
        st, v = h1.get("/v1/domains/%s/images/%s/volumes/%s" % (fdom["uuid"], acc["image"], acc["volume"]))
        self.assertEqual(st, 200, v)
        self.qemu_io(h1, v["path"], "read -P 0x11 0 1M")
        self.qemu_io(h1, v["path"], "read -P 0x22 1M 1M")
        # a preallocated qcow2 volume is formatted on its LV too
        st, acc = h1.post("/v1/domains/%s/images" % self.dom,
                          {"name": "pre", "format": "qcow2", "capacity": 64 * MiB, "allocation": "preallocated"})
        self.task(h1, st, acc)
        self.assertEqual(self.dm_devices(h1), [])
        sys.stderr.write("operations on active LVs: %.1fs\n" % (time.monotonic() - t0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
