"""systemd's watchdog: sanpoold pings (WATCHDOG=1 on $NOTIFY_SOCKET) only while
its API answers. The API is made not to answer for real: every connection slot
of the local socket's server is taken by idle clients."""
import os
import shutil
import socket
import tempfile
import time
import unittest

from sanpool import Daemon

PERIOD_US = 1500000  # WatchdogSec=1.5: a probe and ping every 0.5 s, probes time out after 0.5 s


class WatchdogTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-test-")
        self.d = Daemon(self.tmp)
        self.d.start(env_extra={"WATCHDOG_USEC": str(PERIOD_US)})
        # the harness closed its notify socket after READY: listen there again
        path = os.path.join(self.tmp, "notify.sock")
        os.unlink(path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(path)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.notify.close()
        rc = self.d.stop()
        if rc != 0:
            self.fail("sanpoold exited with %s on SIGTERM; log:\n%s" % (rc, self.d.read_log()[-5000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pings_within(self, seconds):
        """Counts the WATCHDOG=1 messages received during the next seconds."""
        n = 0
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return n
            self.notify.settimeout(left)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                return n
            n += msg.split("\n").count("WATCHDOG=1")

    def drain(self):
        self.notify.setblocking(False)
        try:
            while True:
                self.notify.recv(4096)
        except BlockingIOError:
            pass
        self.notify.setblocking(True)

    def wait_log(self, text, since=0, timeout=20):
        """Waits for text in the log after its first since characters."""
        deadline = time.monotonic() + timeout
        while text not in self.d.read_log()[since:]:
            self.assertLess(time.monotonic(), deadline, "no %r in the log:\n%s" % (text, self.d.read_log()[-3000:]))
            time.sleep(0.05)

    def test_pings_while_the_api_answers(self):
        self.wait_log("watchdog: pinging every 500 ms while the API answers on %s" % self.d.sock)
        # 0.5 s apart: 6 expected in 3 s; at least 3 even on a loaded machine
        self.assertGreaterEqual(self.pings_within(3.0), 3)

    def test_no_ping_while_the_api_does_not_answer(self):
        self.assertGreater(self.pings_within(2.0), 0)
        mark = len(self.d.read_log())
        # the local socket's server takes 64 connections: hold them all, idle
        for _ in range(64):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(self.d.sock)
            self.clients.append(c)
        self.wait_log("watchdog: the API does not answer on %s" % self.d.sock, since=mark)
        self.drain()
        # over two whole periods no ping: systemd would restart the agent
        self.assertEqual(self.pings_within(2 * PERIOD_US / 1e6), 0)
        for c in self.clients:
            c.close()
        self.clients = []
        self.wait_log("watchdog: the API answers again on %s" % self.d.sock, since=mark)
        self.assertGreater(self.pings_within(2.0), 0)


class NoWatchdogTest(unittest.TestCase):
    def test_no_pings_unless_asked(self):
        tmp = tempfile.mkdtemp(prefix="sanpool-test-")
        try:
            d = Daemon(tmp)
            d.start()
            self.assertNotIn("watchdog", d.read_log())
            self.assertEqual(d.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
