"""Which devices every host of a pool sees: three simulated hosts (real
sanlock daemons, real sanpoold each), a file master domain, each host's
report in the master's dom_md/hosts, and block domains on real loop devices.

This machine has no multipath: each host's `multipathd show maps json` is an
INJECTED FAKE, a recorded real output (tests/fixtures/multipath) rewritten
per host and read through SANPOOL_TEST_MULTIPATH_MAPS (a knob for tests only,
docs/design.md). Each fake map names a real loop device as its dm device, so
the agent resolves /dev/loopN to the map's WWID as it resolves /dev/dm-N."""
import copy
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from simhosts import IO_TIMEOUT, SanlockDaemon, start_hosts, stop_hosts, wait_for
from test_block_domain import make_loop

GiB = 1 << 30
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "multipath", "show-maps-json-2maps.json")
SLOT = 16384  # lib/host_report.h


class SharingTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-sharing-")
        self.loops = []
        self.hosts = []
        for i in range(3):
            self.loops.append(make_loop(self.root, 2 * GiB, "lun%d.img" % i))
        # a LUN each loop device stands for, and one LUN no loop device backs
        self.wwid = {loop: "36001405%024x" % (i + 1) for i, loop in enumerate(self.loops)}
        self.everywhere = "36001405%024x" % 0xabc
        self.solo = "36001405%024x" % 0xdef  # a LUN host 1 alone sees
        with open(FIXTURE) as f:
            self.template = json.load(f)["maps"][0]
        self.shared = os.path.join(self.root, "master")
        os.makedirs(self.shared)
        # host 1 sees every LUN; hosts 2 and 3 the first loop device and the other LUN only
        for h in (1, 2, 3):
            self.see(h, self.loops if h == 1 else self.loops[:1])
        self.hosts = start_hosts(self.root, 3, conf_extra="lvm_activation = no\n", env_extra=lambda h: {"SANPOOL_TEST_MULTIPATH_MAPS": self.maps(h)})
        self.h1, self.h2, self.h3 = self.hosts

    def tearDown(self):
        stop_hosts(self.hosts)
        # the VGs live on the loop devices' backing files, which go with the directory
        for loop in self.loops:
            subprocess.run(["losetup", "-d", loop])
        shutil.rmtree(self.root, ignore_errors=True)

    def maps(self, host_id):
        return os.path.join(self.root, "maps%d.json" % host_id)

    def see(self, host_id, loops):
        """What host_id's multipathd shows: a map per loop device, the LUN every host sees, and
        on host 1 the solo LUN."""
        maps = []
        lun = [(self.everywhere, "dm-9")] + ([(self.solo, "dm-8")] if host_id == 1 else [])
        for name, sysfs in lun + [(self.wwid[l], os.path.basename(l)) for l in loops]:
            m = copy.deepcopy(self.template)
            m.update(name=name, uuid=name, sysfs=sysfs)
            maps.append(m)
        tmp = self.maps(host_id) + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"major_version": 0, "minor_version": 1, "maps": maps}, f)
        os.rename(tmp, self.maps(host_id))

    def devices(self, host):
        st, body = host.call("GET", "/v1/devices")
        self.assertEqual(st, 200, body)
        return {d["wwid"]: d for d in body["devices"]}

    def sharing(self, host, wwid):
        d = self.devices(host)[wwid]
        return d["shared"], d["unseen_by"]

    def make_pool(self):
        """Host 1 creates a pool with a file master, hosts 2 and 3 connect; returns its uuid once all joined."""
        st, p = self.h1.call("POST", "/v1/pools", {"name": "p", "master_domain_name": "m", "path": self.shared})
        self.assertEqual(st, 201, p)
        pool = p["uuid"]
        for h in (self.h2, self.h3):
            st, body = h.call("POST", "/v1/pools/%s/connect" % pool, {"kind": "file", "path": self.shared})
            self.assertEqual(st, 200, body)
        for h in self.hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(pool), timeout=60)
        return pool

    def test_shared_devices_and_refusals(self):
        loop1, loop2, loop3 = self.loops
        # in no pool: nobody to compare with
        self.assertEqual(self.sharing(self.h1, self.everywhere), (None, []))

        pool = self.make_pool()
        st, body = self.h1.call("POST", "/v1/pools/%s/spm/start" % pool)
        self.assertEqual(st, 200, body)

        # every host: the LUN all of them see is shared; host 1's own LUNs are not, and it says who lacks them
        for h in self.hosts:
            wait_for("host %d: shared LUN" % h.id,
                     lambda: self.sharing(h, self.everywhere) == (True, []) and
                     self.sharing(h, self.wwid[loop1]) == (True, []), timeout=30)
        wait_for("host 1: its own LUN not shared",
                 lambda: self.sharing(self.h1, self.wwid[loop2]) == (False, [2, 3]), timeout=30)
        self.assertNotIn(self.wwid[loop2], self.devices(self.h2))

        # a block domain in the pool on a LUN hosts 2 and 3 do not see: refused, nothing made
        doms = [d["uuid"] for d in self.h1.call("GET", "/v1/domains")[1]]
        st, err = self.h1.call("POST", "/v1/domains", {"name": "b2", "kind": "block", "pool": pool, "devices": [loop2]})
        self.assertEqual(st, 409, err)
        e = err["error"]
        self.assertEqual((e["code"], e["field"], e["device"], e["wwid"], e["hosts"]),
                         ("device_not_shared", "devices", loop2, self.wwid[loop2], [2, 3]), e)
        self.assertEqual([d["uuid"] for d in self.h1.call("GET", "/v1/domains")[1]], doms)
        # forced, it is made
        st, b2 = self.h1.call("POST", "/v1/domains", {"name": "b2", "kind": "block", "pool": pool,
                                                      "devices": [loop2], "force": True})
        self.assertEqual(st, 201, b2)
        # on the LUN every host sees: no force needed
        st, b1 = self.h1.call("POST", "/v1/domains", {"name": "b1", "kind": "block", "pool": pool, "devices": [loop1]})
        self.assertEqual(st, 201, b1)

        # adding a device: the same check
        add = "/v1/domains/%s/devices" % b1["uuid"]
        size = self.h1.call("GET", "/v1/domains/" + b1["uuid"])[1]["total_bytes"]
        st, err = self.h1.call("POST", add, {"device": loop3})
        self.assertEqual((st, err["error"]["code"], err["error"]["field"], err["error"]["hosts"]),
                         (409, "device_not_shared", "device", [2, 3]), err)
        # hosts 2 and 3 log in to the other targets: their reports change
        for h in (2, 3):
            self.see(h, self.loops)
        wait_for("loop3 shared", lambda: self.sharing(self.h1, self.wwid[loop3]) == (True, []), timeout=30)
        # the in-use check applies to adding a device too (loop2 holds b2's VG)
        st, err = self.h1.call("POST", add, {"device": loop2})
        self.assertEqual((st, err["error"]["code"], err["error"]["field"]), (409, "device_in_use", "device"), err)
        self.assertEqual(self.h1.call("GET", "/v1/domains/" + b1["uuid"])[1]["total_bytes"], size)
        st, body = self.h1.call("POST", add, {"device": loop3})
        self.assertEqual(st, 202, body)
        self.assertGreater(self.h1.call("GET", "/v1/domains/" + b1["uuid"])[1]["total_bytes"], size)

        # host 3 leaves the pool: its report is erased, the others no longer count it
        self.assertEqual(self.sharing(self.h1, self.solo), (False, [2, 3]))
        hosts_area = os.path.join(self.shared, "dom_md", "hosts")
        with open(hosts_area, "rb") as f:
            f.seek(2 * SLOT)
            self.assertEqual(struct.unpack("<I", f.read(4))[0], 0x52485053)  # host 3's report, magic "SPHR"
        st, body = self.h3.call("POST", "/v1/pools/%s/disconnect" % pool)
        self.assertEqual(st, 200, body)
        with open(hosts_area, "rb") as f:
            f.seek(2 * SLOT)
            self.assertEqual(f.read(SLOT), bytes(SLOT))
        wait_for("host 3 not counted", lambda: self.sharing(self.h1, self.solo) == (False, [2]), timeout=60)
        self.assertEqual(self.sharing(self.h3, self.everywhere), (None, []))  # in no pool now

    def sanlock_state(self, observer, host_id):
        """host_id's state (LIVE, FAIL, DEAD, ...) in the lockspaces observer's sanlock daemon has joined."""
        r = subprocess.run(["sanlock", "client", "gets", "-h", "1"], capture_output=True, text=True,
                           env=dict(os.environ, SANLOCK_RUN_DIR=observer.sanlock.run_dir))
        states = {line.split()[-1] for line in r.stdout.splitlines() if line.startswith("h %d " % host_id)}
        return states.pop() if len(states) == 1 else None

    def test_a_dead_host_stops_counting_once_sanlock_deems_it_dead(self):
        """Host 3 dies (its sanlock daemon and agent killed, as with the whole host): its report
        stays on storage, but once sanlock deems it dead (8 io_timeouts + 60 s after its last
        renewal) the others no longer count it; back in the pool, it counts again."""
        pool = self.make_pool()
        self.see(2, self.loops)
        lun = self.wwid[self.loops[1]]  # seen by hosts 1 and 2, not 3
        for h in (self.h1, self.h2):
            wait_for("host %d: the LUN host 3 lacks is not shared" % h.id,
                     lambda: self.sharing(h, lun) == (False, [3]), timeout=30)

        self.h3.sanlock.kill()
        self.h3.d.kill()
        t0 = time.monotonic()
        # failing (no renewal for 8 io_timeouts), not yet dead: still a host of the pool
        wait_for("host 1's sanlock: host 3 failing", lambda: self.sanlock_state(self.h1, 3) == "FAIL", timeout=60)
        for h in (self.h1, self.h2):
            self.assertEqual(self.sharing(h, lun), (False, [3]))
        for h in (self.h1, self.h2):
            wait_for("host %d: host 3 dead, the LUN shared" % h.id,
                     lambda: self.sharing(h, lun) == (True, []), timeout=8 * IO_TIMEOUT + 60 + 60, period=0.5)
        took = time.monotonic() - t0
        sys.stderr.write("a dead host stops counting after %.1f s (io_timeout %d s)\n" % (took, IO_TIMEOUT))
        # not before sanlock's host-dead time: 68 s after the last renewal of host 3's that host 1 saw
        # (renewals every 2 io_timeouts, later under load: the bound leaves them room)
        self.assertGreater(took, 60)
        self.assertEqual(self.sharing(self.h1, self.everywhere), (True, []))

        # host 3 comes back (same host id and name), still without the LUN: not shared again
        self.h3.sanlock = SanlockDaemon(self.h3.sanlock.run_dir, "host3")
        self.h3.start()
        wait_for("host 3 to rejoin", lambda: self.h3.joined(pool), timeout=60)
        for h in (self.h1, self.h2):
            wait_for("host %d: host 3 back, the LUN not shared" % h.id,
                     lambda: self.sharing(h, lun) == (False, [3]), timeout=30)
        # host 3's own view: known once its daemon has read the others' delta leases (a renewal after the join)
        wait_for("host 3: the LUN every host sees shared",
                 lambda: self.sharing(self.h3, self.everywhere) == (True, []), timeout=30)


if __name__ == "__main__":
    unittest.main()
