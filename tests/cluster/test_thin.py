"""Cluster tier, issue 7: a VM writes a thin volume and its LV grows before the guest fills it.

Two guests, each running virtlogd + libvirtd and sanpoold with its thin monitor
on (Cluster(libvirt=True)) and sanlock (io_timeout 5): host 1 makes a pool with
a block master domain on the LUN and becomes its SPM, host 2 connects. The
scenario runs on host 1 (the SPM extends directly) and then on host 2 (its
extends go to the SPM through the pool's mailbox, as the volume's extend history
says; there libvirtd restarts under the running VM first, and the monitor
reconnects and keeps watching). A thin qcow2 image (capacity 6 GiB, first LV 256 MiB, chunk 256 MiB,
watermark 20%) on the master domain is prepared on the host,
a libvirt domain (type qemu, no OS: SeaBIOS finds nothing to boot and waits)
gets the prepared path as its virtio disk (type=block, error_policy=stop),
and writes are made inside that qemu with HMP qemu-io, 32 MiB at a time, well
past the first LV size. Asserted: the monitor watches the drive (its threshold
set), the LV grew chunk by chunk (the monitor's extends: from -> to, each one
chunk), every write succeeded, each piece's pattern reads back (qemu-io read -P),
the volume's API shows lv_size and qemu's allocation, and the VM runs at the
end (if it paused for ENOSPC, it was resumed).

Run by hand: python3 tests/cluster/test_thin.py  (root; see test_cluster.py).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IQN, ClusterTestCase, GiB, MiB  # noqa: E402
import thinvm  # noqa: E402

INITIAL = 256 * MiB
CHUNK = 256 * MiB
PIECE = 32 * MiB
WRITTEN = 384 * MiB  # 1.5x the first LV: two extends
CONF = {"thin_initial_size_mib": INITIAL // MiB, "thin_extend_chunk_mib": CHUNK // MiB}

def pattern(i):
    return 0x11 + i % 0xee


class ThinTest(ClusterTestCase):
    SHARE = "two_hosts"  # after test_devices.py's DevicesTest (ctest), on the LUN it leaves free
    CLUSTER = {"n": 2, "memory_mib": 1536, "libvirt": True, "conf": CONF, "sanlock_io_timeout": 5}

    # --- helpers ---------------------------------------------------------------------
    def wwid(self, host):
        """The boot LUN's (target 1, which every guest logs in to at boot): test_devices.py,
        which runs first on this cluster, connects more LUNs."""
        st, body = host.get("/v1/devices")
        self.assertEqual(st, 200, body)
        wwids = {d["wwid"] for d in body["devices"] if any(p["target"] == IQN for p in d["paths"])}
        self.assertEqual(len(wwids), 1, body)
        return wwids.pop()

    def task(self, host, st, acc):
        self.assertEqual(st, 202, acc)
        t = host.wait_task(acc["task"])
        self.assertEqual(t["state"], "finished", t)
        return t

    def read_back(self, host, path):
        """Each piece's pattern at its first and last MiB (a piece lost reads as zeros), read
        outside the VM with qemu-io on the prepared path: reading all of it through the emulated
        iSCSI path would take minutes."""
        cmds = " ".join("-c 'read -P 0x%02x %d %d'" % (pattern(i), i * PIECE + off, MiB)
                        for i in range(WRITTEN // PIECE) for off in (0, PIECE - MiB))
        rc, out = host.run("qemu-io -r -f qcow2 %s %s" % (cmds, path), timeout=300)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count("read %d/%d bytes" % (MiB, MiB)), 2 * WRITTEN // PIECE, out)
        self.assertNotIn("fail", out.lower(), out)

    # --- the scenario ------------------------------------------------------------------
    def scenario(self, host, name, via, restart_libvirtd=False):
        """The VM on host: prepared image, libvirt domain, writes past the first LV size."""
        if not hasattr(type(self), "dom"):
            # host 1 makes the pool and is its SPM, host 2 connects
            dev = "/dev/mapper/" + self.wwid(self.g[0])
            type(self).pool, type(self).dom = thinvm.pool_with_spm(self.g[0], self.g[1:], dev)
        st, acc = self.g[0].post("/v1/domains/%s/images" % self.dom,
                                 {"name": name, "format": "qcow2", "capacity": 6 * GiB, "allocation": "sparse"})
        self.task(self.g[0], st, acc)
        image = acc["image"]
        st, p = host.post("/v1/domains/%s/images/%s/prepare" % (self.dom, image))
        self.assertEqual(st, 200, p)
        volume = p["chain"][-1]["volume"]
        path = p["path"]
        vol_url = "/v1/domains/%s/images/%s/volumes/%s" % (self.dom, image, volume)
        st, v = host.get(vol_url)
        self.assertEqual(st, 200, v)
        self.assertEqual(v["lv_size"], INITIAL, v)

        t0 = time.monotonic()
        thinvm.start_vm(host, name, path)
        # the monitor finds the drive (lifecycle event) and arms its threshold
        d = thinvm.wait_until("drive watched with a threshold",
                              lambda: (lambda d: (d is not None and d["threshold"] > 0, d))(thinvm.drive(host, volume)))
        self.assertEqual(d["drive"], "vda")
        self.assertEqual(d["path"], path)
        self.assertEqual(d["lv_size"], INITIAL)
        self.assertLess(d["threshold"], INITIAL)
        sys.stderr.write("[thin] %s: VM started and watched after %.1fs\n" % (name, time.monotonic() - t0))
        if restart_libvirtd:
            # libvirtd restarts under the running VM: the monitor reconnects and keeps watching
            connects = thinvm.thin_state(host)["connects"]
            host.run("pid=$(cat /run/libvirtd.pid); kill $pid; while [ -e /proc/$pid ]; do sleep 0.1; done; "
                     "libvirtd -d --pid-file /run/libvirtd.pid; "
                     "until virsh version >/dev/null 2>&1; do sleep 0.1; done", check=True, timeout=180)
            thinvm.wait_until("monitor reconnected", lambda: (lambda s: (
                s["connected"] and s["connects"] == connects + 1, s))(thinvm.thin_state(host)), timeout=60)
            d = thinvm.wait_until("drive still watched", lambda: (lambda d: (
                d is not None and d["threshold"] > 0, d))(thinvm.drive(host, volume)))

        # a writer well past the first LV size, piece by piece: it never waits for the extends
        t0 = time.monotonic()
        for i in range(WRITTEN // PIECE):
            thinvm.qemu_io(host, name, "write -P 0x%02x %d %d" % (pattern(i), i * PIECE, PIECE))
        sys.stderr.write("[thin] %s: %d MiB written in %.1fs\n" % (name, WRITTEN // MiB, time.monotonic() - t0))

        # the extends the writes caused end; the LV is then past what was written
        s = thinvm.wait_until("extends settled", lambda: thinvm.settled(host, volume))
        ext = [e for e in s["recent_extends"] if e["volume"] == volume]
        self.assertGreaterEqual(len(ext), 2, ext)
        size = INITIAL
        for e in ext:  # chunk by chunk, each from where the last ended
            self.assertEqual(e["from"], size, ext)
            self.assertEqual(e["to"], size + CHUNK, ext)
            size = e["to"]
        self.assertGreater(size, WRITTEN, ext)
        lat = sorted(e["latency_us"] / 1000.0 for e in ext)
        sys.stderr.write("[thin] %s: %d extends, latency ms %s, VM paused %d times\n"
                         % (name, len(ext), ["%.0f" % x for x in lat], s["vm_pauses"]))

        # the API: LV size and qemu's allocation, side by side
        st, v = host.get(vol_url)
        self.assertEqual(st, 200, v)
        self.assertEqual(v["lv_size"], size, v)
        self.assertGreater(v["qemu_allocation"], WRITTEN, v)
        self.assertLessEqual(v["qemu_allocation"], size, v)
        self.assertEqual(v["vm"]["name"], name, v)
        # the extend history (lib/extend.c) of the host that asked: how each went
        hist = v["extend_history"]
        self.assertEqual([(e["from"], e["to"]) for e in hist if not e.get("error")],
                         [(e["from"], e["to"]) for e in ext], hist)
        self.assertEqual({e["via"] for e in hist}, {via}, hist)
        rc, out = host.run("lvs --noheadings --units b --nosuffix -o lv_size %s/%s" % (self.dom, volume), check=True)
        self.assertEqual(int(out.split()[0]), size, out)

        rc, out = host.run("virsh domstate %s --reason; virsh domblkerror %s" % (name, name), check=True)
        self.assertIn("running", out.splitlines()[0], out)
        self.assertIn("No errors found", out)
        # the VM goes, its drive with it; the data reads back intact
        thinvm.remove_vm(host, name)
        thinvm.wait_until("drive forgotten", lambda: (thinvm.drive(host, volume) is None, None))
        self.read_back(host, path)
        st, p = host.post("/v1/domains/%s/images/%s/teardown" % (self.dom, image))
        self.assertEqual(st, 200, p)

    def test_a_vm_on_the_spm(self):
        self.scenario(self.g[0], "thin1", "direct")

    def test_b_vm_on_another_host_extends_through_the_mailbox(self):
        self.scenario(self.g[1], "thin2", "mailbox", restart_libvirtd=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
