"""Cluster tier: multipath path groups follow the array's ALUA priorities, alike on every host
(issue 6, point 4: no "controller ping-pong").

The array is a guest (Cluster(array="lio"), harness.LioArray, lio-array.sh): Linux's LIO
target exports one LUN through two ALUA target port groups, controller A (group 1, portals
1 and 3) active/optimized and controller B (group 2, portals 2 and 4) active/non-optimized.
Two host guests log in to all four portals at boot. Their multipath.conf carries an
`overrides { path_grouping_policy multibus }`, standing for a host whose own settings
would drive one LUN through both controllers at once: what sanpool's drop-in must undo
for its LUNs.

a. before sanpool manages the LUN: every host sees four paths, two per target port group,
   with the array's states (the API's per-path "alua"), but the host's multibus policy puts
   them all in one path group;
b. each host connects to the array through the API: sanpool's drop-in (group_by_prio,
   prio alua, failback immediate) takes the LUN; on every host the paths form two groups
   by priority, the active group is exactly controller A's two paths, and reads go only
   through them;
c. the array swaps the states (B optimized, A non-optimized): every host moves to B's
   group (multipathd's checker sees the new priorities), reads go through B only; swapped
   back, every host returns to A.

Run by hand: python3 tests/cluster/test_alua.py (root).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ClusterTestCase, LioArray, log, poll  # noqa: E402

AO, ANO = "active/optimized", "active/non-optimized"
HOST_OVERRIDES = "overrides {\n\tpath_grouping_policy multibus\n}\n"


class AluaTest(ClusterTestCase):
    CLUSTER = {"n": 2, "array": "lio", "lun_size": 4 << 30, "multipath_overrides": HOST_OVERRIDES}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.array = cls.cluster.target
        cls.portals = cls.array.portals()

    def device(self, guest):
        st, body = guest.get("/v1/devices")
        self.assertEqual(st, 200, body)
        devs = [d for d in body["devices"] if any(p["target"] == LioArray.IQN for p in d["paths"])]
        self.assertEqual(len(devs), 1, body)
        return devs[0]

    def layout(self, guest):
        """{target port group: (multipath group, group_state, priority, access_state)} of the
        array's LUN on guest, or None while a group's paths disagree (a change in flight)."""
        by_tpg = {}
        for p in self.device(guest)["paths"]:
            if p["alua"] is None or p["state"] != "active":
                return None
            by_tpg.setdefault(p["alua"]["target_port_group"], set()).add(
                (p["group"], p["group_state"], p["priority"], p["alua"]["access_state"]))
        if any(len(v) != 1 for v in by_tpg.values()):
            return None
        return {tpg: v.pop() for tpg, v in by_tpg.items()}

    def active_tpg(self, guest):
        """The one target port group whose paths make up the map's active path group, or None."""
        lay = self.layout(guest)
        if not lay or len({g for g, _, _, _ in lay.values()}) != 2:
            return None
        active = [tpg for tpg, (_, state, _, _) in lay.items() if state == "active"]
        return active[0] if len(active) == 1 else None

    def reads_per_tpg(self, guest, wwid):
        """Reads 4 MiB with O_DIRECT from the map; returns {target port group: reads completed
        on its paths meanwhile} (the block layer's counters; the checkers' SCSI commands do not
        count)."""
        paths = {p["device"]: p["alua"]["target_port_group"] for p in self.device(guest)["paths"]}
        script = ("for d in %s; do echo $d $(cut -c1-16 /sys/block/$d/stat); done; "
                  "dd if=/dev/mapper/%s of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; "
                  "for d in %s; do echo $d $(cut -c1-16 /sys/block/$d/stat); done"
                  % (" ".join(paths), wwid, " ".join(paths)))
        rc, out = guest.run(script, check=True)
        lines = [l.split() for l in out.splitlines() if l.strip()]
        n = len(paths)
        reads = {tpg: 0 for tpg in paths.values()}
        for before, after in zip(lines[:n], lines[n:]):
            reads[paths[before[0]]] += int(after[1]) - int(before[1])
        return reads

    def test_a_host_policy_before_sanpool(self):
        for g in self.g:
            d = self.device(g)
            self.assertEqual(d["vendor"], "LIO-ORG", d)
            self.assertEqual(len(d["paths"]), 4, d)
            tpgs = sorted(p["alua"]["target_port_group"] for p in d["paths"])
            self.assertEqual(tpgs, [1, 1, 2, 2], d)
            lay = poll(lambda: self.layout(g), "%s: every path up with its ALUA state" % g.name, timeout=90)
            self.assertEqual({tpg: v[3] for tpg, v in lay.items()}, {1: AO, 2: ANO}, lay)
            # multibus: one group over both controllers
            self.assertEqual({v[0] for v in lay.values()}, {1}, lay)
            rc, out = g.run("test -e /etc/multipath/conf.d/sanpool.conf")
            self.assertNotEqual(rc, 0, "no drop-in before any connection through the API")

    def test_b_groups_follow_alua(self):
        wwids = set()
        for g in self.g:
            st, c = g.post("/v1/connections", {"kind": "iscsi", "target": LioArray.IQN, "portals": self.portals})
            self.assertEqual(st, 201, c)
            self.assertEqual(sum(len(p["disks"]) for p in c["portals"]), 4, c)
        for g in self.g:
            t0 = time.monotonic()
            self.assertEqual(poll(lambda: self.active_tpg(g), "%s: two path groups by priority" % g.name, timeout=90), 1)
            log("%s: grouped by priority %.1fs after the connection" % (g.name, time.monotonic() - t0))
            lay = self.layout(g)
            (g1, s1, p1, a1), (g2, s2, p2, a2) = lay[1], lay[2]
            self.assertEqual((s1, a1, s2, a2), ("active", AO, "enabled", ANO), lay)
            self.assertGreater(p1, p2, lay)
            self.assertLess(g1, g2, "the optimized group first: %s" % lay)
            rc, conf = g.run("cat /etc/multipath/conf.d/sanpool.conf", check=True)
            wwid = self.device(g)["wwid"]
            wwids.add(wwid)
            entry = conf[conf.index('wwid "%s"' % wwid):]
            entry = entry[:entry.index("}")]
            for line in ("path_grouping_policy group_by_prio", "prio alua", "failback immediate"):
                self.assertIn(line, entry, conf)
            reads = self.reads_per_tpg(g, wwid)
            self.assertGreater(reads[1], 0, reads)
            self.assertEqual(reads[2], 0, "no read through the non-optimized controller: %s" % reads)
        self.assertEqual(len(wwids), 1, "one LUN, one WWID everywhere: %s" % wwids)

    def test_c_array_switches_controllers(self):
        wwid = self.device(self.g[0])["wwid"]
        for new, states in ((2, {"ctrl_a": ANO, "ctrl_b": AO}), (1, {"ctrl_a": AO, "ctrl_b": ANO})):
            self.array.set_states(**states)
            t0 = time.monotonic()
            for g in self.g:
                poll(lambda: self.active_tpg(g) == new, "%s: active group moves to target port group %d" % (g.name, new), timeout=90)
                log("%s: on target port group %d %.1fs after the array's change" % (g.name, new, time.monotonic() - t0))
            for g in self.g:
                lay = self.layout(g)
                self.assertEqual(lay[new][3], AO, lay)
                self.assertEqual(self.active_tpg(g), new, "stays there: %s" % lay)
                reads = self.reads_per_tpg(g, wwid)
                self.assertGreater(reads[new], 0, reads)
                self.assertEqual(reads[3 - new], 0, "no read through the other controller: %s" % reads)


if __name__ == "__main__":
    unittest.main(verbosity=2)
