"""Cluster tier: real hosts (qemu guests) sharing one iSCSI LUN. One 3-guest
cluster serves every scenario of the file, in order (each builds on the last:
one boot instead of one per file keeps the tier short).

1. (a) every host sees the same LUN (same WWID) through multipath with two ready paths;
2. (b) a block domain created through host 1's API on /dev/mapper/<wwid>, and a
   raw image on it, are seen by every other host's LVM (vgs / lvs in the guest);
3. a pool on the LUN (that domain removed first), every host connected (each
   guest runs its sanlock daemon), host 1 SPM, host 2 refused a change (409
   naming host 1);
4. (c) a thin qcow2 image on the master domain, made through host 1, is
   prepared on host 2 and written with qemu-io (a pattern into the base), torn
   down; host 1 takes a snapshot; host 2 prepares it again (it reads the new
   chain from the VG) and writes a second pattern into the snapshot; host 3
   prepares it and reads both back byte for byte; its agent restarts and finds
   the image still prepared. Then host 1 extends the top volume's LV and host 3
   sees the new size only after a refresh. Every teardown leaves no
   device-mapper device of the image and no link behind;
5. snapshot, merge, resize, template, clone, copy and a preallocated qcow2 on
   real LVs on the SPM, which keeps no volume active after them unless prepared;
6. host 2 prepares an image with its volume's write lease (host 3 refused) and
   extends a thin volume it has prepared through the pool's mailbox (its
   device grows);
7. (d) host 1's guest is killed; host 2 becomes SPM within sanlock's host-dead
   time (+ slack for emulated guests) and work goes on.

Run by hand: python3 tests/cluster/test_cluster.py  (root; SANPOOL_CLUSTER_GUESTS=N,
SANPOOLD=path to the daemon; default build/agent/sanpoold).
"""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTestCase, GiB, HarnessError, MiB  # noqa: E402


def lvm_config(dev):
    """--config limiting an LVM command in a guest to the shared LUN (no devices file, no udev list)."""
    return ("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] use_devicesfile = 0 "
            "obtain_device_list_from_udev = 0 }" % dev)


# sanlock's io_timeout in the guests: a dead host's lease is free after
# 8 * IO_TIMEOUT (renewal failure) + 60 s (the time sanlock allows a watchdog)
IO_TIMEOUT = 5  # 3 made sanlock's own disk I/O time out now and then in the emulated guests
HOST_DEAD_S = 8 * IO_TIMEOUT + 60
PAT_BASE, PAT_TOP = 0x5A, 0xA5
CHUNK = 4 * MiB
# a volume's device-mapper name after its VG's prefix ('-' doubled): volumes' LVs are
# named by uuid; the domain's special LVs (ids, leases, inbox...) stay active in a pool
VOLUME_DM = re.compile(r"^[0-9a-f]{8}(--[0-9a-f]{4}){3}--[0-9a-f]{12}$")


class ClusterTest(ClusterTestCase):
    CLUSTER = {"sanlock_io_timeout": IO_TIMEOUT}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if len(cls.g) < 3:
            raise unittest.SkipTest("the scenarios need 3 hosts")

    def paths(self, guest):
        """WWID -> sorted [(path device, checker state)] of the guest's multipath paths."""
        rc, out = guest.run('multipathd show paths format "%w %d %T"', check=True)
        maps = {}
        for line in out.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3:
                maps.setdefault(f[0], []).append((f[1], f[2]))
        return {w: sorted(p) for w, p in maps.items()}

    def wwid(self):
        maps = self.paths(self.g[0])
        self.assertEqual(len(maps), 1, maps)
        return next(iter(maps))

    def task(self, host, st, acc):
        self.assertEqual(st, 202, acc)
        t = host.wait_task(acc["task"])
        self.assertEqual(t["state"], "finished", t)
        return acc

    def img(self, suffix="", image=None):
        return "/v1/domains/%s/images/%s%s" % (self.dom, image or self.image, suffix)

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
        """The device-mapper devices of the domain's volumes on host (dm escapes '-' as '--')."""
        rc, out = host.run("dmsetup ls", check=True)
        prefix = self.dom.replace("-", "--") + "-"
        names = [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]
        return [n for n in names if VOLUME_DM.match(n[len(prefix):])]

    def qemu_io(self, host, path, cmd):
        rc, out = host.run("qemu-io -f qcow2 -c '%s' %s" % (cmd, path), timeout=300)
        self.assertEqual(rc, 0, "%s: qemu-io %s: %s" % (host.name, cmd, out))
        self.assertNotIn("fail", out.lower(), "%s: qemu-io %s: %s" % (host.name, cmd, out))
        return out

    def restart_agent(self, host):
        """Restarts sanpoold on host without its run-time links; returns once its API answers."""
        try:
            host.restart_agent(forget_links=True)
        except HarnessError as e:
            self.fail(str(e))

    def getsize(self, host, path):
        rc, out = host.run("blockdev --getsize64 %s" % path, check=True)
        return int(out.strip().splitlines()[-1])

    def volume(self, host, volume):
        st, v = host.get(self.img("/volumes/" + volume))
        self.assertEqual(st, 200, v)
        return v

    def test_1_same_lun_two_paths_everywhere(self):
        wwid = self.wwid()
        for g in self.g:
            maps = self.paths(g)
            self.assertEqual(list(maps), [wwid], "%s: %s" % (g.name, maps))
            self.assertEqual(len(maps[wwid]), 2, "%s: %s" % (g.name, maps))
            self.assertEqual({s for _, s in maps[wwid]}, {"ready"}, "%s: %s" % (g.name, maps))
            rc, out = g.run("ls /dev/mapper; multipath -ll %s" % wwid, check=True)
            self.assertIn(wwid, out.split(), "%s: %s" % (g.name, out))
            self.assertEqual(out.count("active ready running"), 2, "%s: %s" % (g.name, out))

    def test_2_block_domain_seen_by_other_hosts(self):
        dev = "/dev/mapper/" + self.wwid()
        h1 = self.g[0]
        st, dom = h1.post("/v1/domains", {"name": "sanblk", "kind": "block", "devices": [dev]})
        self.assertEqual(st, 201, dom)
        self.assertEqual(dom["kind"], "block")
        vg = dom["uuid"]
        t0 = time.monotonic()
        st, acc = h1.post("/v1/domains/%s/images" % vg,
                          {"name": "rawdisk", "format": "raw", "capacity": 256 * MiB, "allocation": "sparse"})
        self.assertEqual(st, 202, acc)
        task = h1.wait_task(acc["task"])
        self.assertEqual(task["state"], "finished", task)
        sys.stderr.write("raw image on the block domain: %.1fs\n" % (time.monotonic() - t0))
        cfg = lvm_config(dev)
        for g in self.g[1:]:
            rc, out = g.run("vgs --config '%s' --reportformat json -o vg_name,vg_tags,pv_count %s"
                            % (cfg, vg), check=True)
            vgs = json.loads(out[out.index("{"):])["report"][0]["vg"]
            self.assertEqual([v["vg_name"] for v in vgs], [vg], out)
            self.assertIn("sp.kind=block", vgs[0]["vg_tags"], out)
            rc, out = g.run("lvs --config '%s' --reportformat json -o lv_name,lv_size,lv_tags --units b --nosuffix %s"
                            % (cfg, vg), check=True)
            lvs = {lv["lv_name"]: lv for lv in json.loads(out[out.index("{"):])["report"][0]["lv"]}
            self.assertIn(acc["volume"], lvs, "%s: %s" % (g.name, out))
            self.assertGreaterEqual(int(lvs[acc["volume"]]["lv_size"]), 256 * MiB)
            self.assertIn("sp.i=" + acc["image"], lvs[acc["volume"]]["lv_tags"], out)
            for special in ("ids", "leases", "inbox", "outbox", "journal"):
                self.assertIn(special, lvs, "%s: %s" % (g.name, out))

    def test_3_pool_spm_and_a_refused_change(self):
        dev = "/dev/mapper/" + self.wwid()
        h1, h2, h3 = self.g[:3]
        # the LUN is free again: scenario 2's domain goes
        for dom in h1.get("/v1/domains")[1]:
            for img in h1.get("/v1/domains/%s/images" % dom["uuid"])[1]:
                st, acc = h1.request("DELETE", "/v1/domains/%s/images/%s" % (dom["uuid"], img["uuid"]))
                self.assertEqual(st, 202, acc)
                self.assertEqual(h1.wait_task(acc["task"])["state"], "finished")
            st, acc = h1.request("DELETE", "/v1/domains/" + dom["uuid"])
            self.assertEqual(st, 202, acc)
        st, p = h1.post("/v1/pools", {"name": "cluster", "master_domain_name": "lun", "kind": "block",
                                      "devices": [dev]})
        self.assertEqual(st, 201, p)
        pool, master = p["uuid"], p["master_domain"]
        for g in (h2, h3):
            st, q = g.post("/v1/pools/%s/connect" % pool, {"kind": "block", "devices": [dev]})
            self.assertEqual(st, 200, q)
        deadline = time.monotonic() + 180
        for g in (h1, h2, h3):
            while True:
                ls = g.get("/v1/pools/" + pool)[1]["spm"]["lockspaces"]
                if ls and all(l["state"] == "joined" for l in ls):
                    break
                self.assertLess(time.monotonic(), deadline, "%s did not join: %s" % (g.name, ls))
                time.sleep(0.5)
        st, s1 = h1.post("/v1/pools/%s/spm/start" % pool)
        self.assertEqual((st, s1["spm"]["role"]), (200, "spm"), s1)
        # host 2 learns who holds the lease from storage (its lease monitor reads it every 2 s)
        deadline = time.monotonic() + 30
        while h2.get("/v1/pools/" + pool)[1]["spm"]["spm_host"] != 1:
            self.assertLess(time.monotonic(), deadline, "host 2 never saw host 1 as SPM")
            time.sleep(0.2)
        st, err = h2.post("/v1/domains/%s/images" % master, {"name": "no", "format": "raw", "capacity": 64 << 20})
        self.assertEqual((st, err["error"]["code"], err["error"].get("spm_host")), (409, "not_spm", 1), err)

        cls = type(self)
        cls.pool, cls.dom, cls.dev, cls.spm1 = pool, master, dev, s1

    def test_4_image_moves_between_hosts(self):
        h1, h2, h3 = self.g[0], self.g[1], self.g[2]
        t0 = time.monotonic()
        st, acc = h1.post("/v1/domains/%s/images" % self.dom,
                          {"name": "vm1", "format": "qcow2", "capacity": 2 * GiB, "allocation": "sparse"})
        self.task(h1, st, acc)
        self.image, base = acc["image"], acc["volume"]
        # creating formatted the LV on host 1 and left nothing active there
        self.assertEqual(self.dm_devices(h1), [])

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
        # the image goes
        st, acc = h1.request("DELETE", self.img())
        self.task(h1, st, acc)
        sys.stderr.write("scenario c: %.1fs\n" % (time.monotonic() - t0))

    def test_5_operations_on_active_lvs(self):
        """Snapshot, merge, resize, template, clone and copy format and read real LVs on the SPM
        (host 1), which keeps nothing active after them unless prepared."""
        h1 = self.g[0]
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

    def test_6_volume_lease_and_an_extend_through_the_mailbox(self):
        h1, h2, h3 = self.g[:3]
        master = self.dom
        # a volume's write lease on the LUN, with real activation: host 2 runs
        # the VM (its LV active, the lease held); host 3 is refused, nothing prepared there
        st, vm = h1.post("/v1/domains/%s/images" % master, {"name": "vm", "format": "raw", "capacity": 64 << 20})
        self.assertEqual(st, 202, vm)
        self.assertEqual(h1.wait_task(vm["task"])["state"], "finished")
        img = "/v1/domains/%s/images/%s" % (master, vm["image"])
        vol = img + "/volumes/" + vm["volume"]
        st, add = h1.post(vol + "/lease")
        self.assertEqual(st, 202, add)
        self.assertEqual(h1.wait_task(add["task"])["state"], "finished")
        st, p2 = h2.post(img + "/prepare", {"lease": "exclusive"})
        self.assertEqual((st, p2["lease"]["state"], p2["lease"]["holder_host"]), (200, "held", 2), p2)
        self.assertTrue(h2.get(vol)[1]["active"])
        st, err = h3.post(img + "/prepare", {"lease": "exclusive"})
        self.assertEqual((st, err["error"]["code"], err["error"].get("holder_host")), (409, "lease_held", 2), err)
        self.assertFalse(h3.get(vol)[1]["prepared"])

        # host 2 extends a thin volume it has prepared: through the mailbox (host 1
        # runs the lvextend), then host 2's device shows the new size (refreshed)
        st, acc = h1.post("/v1/domains/%s/images" % master, {"name": "thin", "format": "qcow2", "capacity": 2 << 30})
        self.assertEqual(st, 202, acc)
        self.assertEqual(h1.wait_task(acc["task"])["state"], "finished")
        thin = "/v1/domains/%s/images/%s" % (master, acc["image"])
        st, prep = h2.post(thin + "/prepare")
        self.assertEqual(st, 200, prep)

        def size():
            return int(h2.run("blockdev --getsize64 " + prep["path"], check=True)[1].split()[-1])
        before = size()
        st, v = h2.post(thin + "/volumes/%s/extend" % acc["volume"])
        self.assertEqual(st, 200, v)
        self.assertEqual((v["extend"]["from"], v["lv_size"]), (before, size()))
        self.assertGreater(v["lv_size"], before)
        self.assertEqual([(e["via"], e["host"], e["to"]) for e in v["extend_history"]],
                         [("mailbox", 2, v["lv_size"])])
        sys.stderr.write("extend through the mailbox in the guests: %.0f ms\n" % v["extend"]["latency_ms"])
        self.assertEqual(h2.post(thin + "/teardown")[0], 200)
        st, acc = h1.request("DELETE", thin)
        self.assertEqual(st, 202, acc)
        self.assertEqual(h1.wait_task(acc["task"])["state"], "finished")
        type(self).lease_vol = vol

    def test_7_kill_the_spm_guest_and_another_host_takes_over(self):
        h1, h2, h3 = self.g[:3]
        pool, master, s1, vol = self.pool, self.dom, self.spm1, self.lease_vol
        before = sorted(i["uuid"] for i in h3.get("/v1/domains/%s/images" % master)[1])
        h1.stop()  # the whole host dies: qemu is gone, with its sanlock daemon
        t0 = time.monotonic()
        while True:
            st, s2 = h2.post("/v1/pools/%s/spm/start" % pool)
            if st == 200:
                break
            # lease_held until host 1 is dead; an emulated guest's sanlock may also time out on I/O
            self.assertIn(s2["error"]["code"], ("lease_held", "lease_error"), s2)
            self.assertLess(time.monotonic() - t0, HOST_DEAD_S + 60, "no takeover: %s" % s2)
            time.sleep(0.5)
        took = time.monotonic() - t0
        sys.stderr.write("takeover after the SPM guest died (io_timeout %d s, host-dead %d s): %.1f s\n"
                         % (IO_TIMEOUT, HOST_DEAD_S, took))
        self.assertGreater(s2["spm"]["generation"], s1["spm"]["generation"])
        # the lease was the dead host's until sanlock deemed it dead; then at once
        # (slack: emulated guests run sanlock's timers late)
        self.assertGreater(took, 8 * IO_TIMEOUT)
        self.assertLess(took, HOST_DEAD_S + 3 + 15)
        st, acc = h2.post("/v1/domains/%s/images" % master, {"name": "after", "format": "raw", "capacity": 64 << 20})
        self.assertEqual(st, 202, acc)
        self.assertEqual(h2.wait_task(acc["task"])["state"], "finished")
        imgs = h3.get("/v1/domains/%s/images" % master)[1]
        self.assertEqual(sorted(i["uuid"] for i in imgs), sorted(before + [acc["image"]]))
        # the SPM's host died, the VM's lease on host 2 did not move
        lease = h3.get(vol)[1]["lease"]
        self.assertEqual((lease["holder_host"], lease["state"]), (2, "none"), lease)
        self.assertEqual(h2.get(vol)[1]["lease"]["state"], "held")


if __name__ == "__main__":
    unittest.main(verbosity=2)
