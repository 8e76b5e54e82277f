"""Cluster tier, first scenarios: real hosts (qemu guests) sharing one iSCSI LUN.

a. every host sees the same LUN (same WWID) through multipath with two ready paths;
b. a block domain created through host 1's API on /dev/mapper/<wwid>, and a raw
   image on it, are seen by every other host's LVM (vgs / lvs in the guest);
d. a pool on the LUN, every host connected (each guest runs its sanlock daemon),
   host 1 SPM; host 2 prepares an image with its volume's write lease (host 3
   refused) and extends a thin volume it has prepared through the pool's
   mailbox (its device grows); kill host 1's guest; host 2 becomes SPM within sanlock's
   host-dead time (+ slack for emulated guests) and work goes on.

Run by hand: python3 tests/cluster/test_cluster.py  (root; SANPOOL_CLUSTER_GUESTS=N,
SANPOOLD=path to the daemon; default build/agent/sanpoold).
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTestCase, MiB  # noqa: E402


def lvm_config(dev):
    """--config limiting an LVM command in a guest to the shared LUN (no devices file, no udev list)."""
    return ("devices { filter = [ \"a|^%s$|\", \"r|.*|\" ] use_devicesfile = 0 "
            "obtain_device_list_from_udev = 0 }" % dev)


# sanlock's io_timeout in the guests: a dead host's lease is free after
# 8 * IO_TIMEOUT (renewal failure) + 60 s (the time sanlock allows a watchdog)
IO_TIMEOUT = 5  # 3 made sanlock's own disk I/O time out now and then in the emulated guests
HOST_DEAD_S = 8 * IO_TIMEOUT + 60


class ClusterTest(ClusterTestCase):
    CLUSTER = {"sanlock_io_timeout": IO_TIMEOUT}

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


    def test_3_kill_the_spm_guest_and_another_host_takes_over(self):
        dev = "/dev/mapper/" + self.wwid()
        h1, h2, h3 = self.g[:3]
        # the LUN is free again: scenario b's domain goes
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
        self.assertEqual(sorted(i["uuid"] for i in imgs), sorted([vm["image"], acc["image"]]))
        # the SPM's host died, the VM's lease on host 2 did not move
        lease = h3.get(vol)[1]["lease"]
        self.assertEqual((lease["holder_host"], lease["state"]), (2, "none"), lease)
        self.assertEqual(h2.get(vol)[1]["lease"]["state"], "held")


if __name__ == "__main__":
    unittest.main(verbosity=2)
