"""The thin monitor without libvirtd: the agent starts, serves and stops as if it were not there.

With libvirt = yes (the packaged default) and libvirtd absent, or hung, sanpoold must still
become ready, answer /v1/host at once (the monitor's state says it is not connected, and why)
and stop on SIGTERM. A hung libvirtd is a unix socket that listens and never answers: libvirt's
open has no timeout, so the monitor's connecting thread stays blocked in it (a fault a real
libvirtd does not produce on demand; nothing else is faked). Everything the monitor does with
a real libvirtd is the cluster tier's (tests/cluster/test_thin.py).
"""
import os
import shutil
import socket
import tempfile
import time
import unittest

from sanpool import Daemon


class ThinMonitorWithoutLibvirtd(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sanpool-thinmon-")
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None and self.daemon.proc is not None:
            self.daemon.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, sock):
        self.daemon = Daemon(self.dir, conf_extra="libvirt = yes\nlibvirt_uri = qemu:///system?socket=%s\n" % sock)
        self.daemon.start()
        return self.daemon

    def check_serves_and_stops(self, d, error_part):
        # /v1/host answers at once, the monitor not connected, with the reason once it tried
        deadline = time.monotonic() + 10
        while True:
            t0 = time.monotonic()
            st, host = d.get("/v1/host")
            self.assertEqual(st, 200, host)
            self.assertLess(time.monotonic() - t0, 2.0)
            tm = host["thin_monitor"]
            self.assertTrue(tm["enabled"], tm)
            self.assertFalse(tm["connected"], tm)
            if error_part is None or error_part in tm.get("last_error", ""):
                break
            self.assertLess(time.monotonic(), deadline, tm)
            time.sleep(0.1)
        st, thin = d.get("/v1/host/thin")
        self.assertEqual(st, 200, thin)
        self.assertEqual((thin["drives"], thin["recent_extends"], thin["watched_drives"]), ([], [], 0), thin)
        # the rest of the API is unaffected
        st, doms = d.get("/v1/domains")
        self.assertEqual(st, 200, doms)
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0, d.read_log())
        self.assertLess(time.monotonic() - t0, 30, d.read_log())

    def test_absent(self):
        sock = os.path.join(self.dir, "no-libvirtd.sock")
        d = self.start(sock)
        self.check_serves_and_stops(d, sock)
        self.assertIn("thin monitor: cannot connect to libvirtd", d.read_log())

    def test_hung(self):
        sock = os.path.join(self.dir, "hung-libvirtd.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sock)
        s.listen(8)  # never accepted, never answered
        try:
            d = self.start(sock)
            self.check_serves_and_stops(d, None)
            # it was stuck in libvirt's open, and the shutdown went on without it
            self.assertIn("stuck in a call to libvirtd", d.read_log())
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
