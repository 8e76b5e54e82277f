"""Test harness: runs the real sanpoold on loopback and talks to it over HTTP.

Readiness is the daemon's own sd_notify READY=1 (received on a socket of the
test's), never a sleep. The port is chosen by the daemon (port = 0) and read
from the STATUS it sends with READY.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANPOOLD = os.environ.get("SANPOOLD", os.path.join(ROOT, "build-asan", "agent", "sanpoold"))
SANPOOLCTL = os.environ.get("SANPOOLCTL", os.path.join(ROOT, "build-asan", "cli", "sanpoolctl"))

GiB = 1 << 30
MiB = 1 << 20


class Daemon:
    """One sanpoold with its own data directory."""

    def __init__(self, workdir, conf_extra="", bootstrap=True):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "var")
        self.conf = os.path.join(workdir, "sanpoold.conf")
        self.log_path = os.path.join(workdir, "sanpoold.log")
        self.sock = os.path.join(workdir, "sanpoold.sock")
        with open(self.conf, "w") as f:
            f.write("listen_address = 127.0.0.1\nport = 0\n")
            f.write("data_dir = %s\n" % self.data_dir)
            f.write("bootstrap_default = %s\n" % ("yes" if bootstrap else "no"))
            f.write("log_level = debug\n")
            f.write("sanlock = no\n")  # one host; the SPM tests turn it on
            f.write("libvirt = no\n")  # no libvirtd here: the thin monitor is the cluster tier's
            # plain HTTP on loopback, as the daemon allows by config; tests of
            # mutual TLS turn it on in conf_extra (test_tls.py)
            f.write("tls = no\n")
            f.write("local_socket = %s\n" % self.sock)
            f.write(conf_extra)
        self.proc = None
        self.port = None
        self._conn = None

    def start(self, env_extra=None, expect_ready=True, timeout=20):
        sock_path = os.path.join(self.workdir, "notify.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(timeout)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = sock_path
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        if env_extra:
            env.update(env_extra)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SANPOOLD, "--config", self.conf], stdout=self.log,
                                     stderr=self.log, env=env)
        try:
            if not expect_ready:
                return
            deadline = time.monotonic() + timeout
            while True:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    msg = sock.recv(4096).decode()
                except socket.timeout:
                    raise AssertionError("sanpoold did not become ready; log:\n" + self.read_log())
                if "READY=1" in msg:
                    status = [l for l in msg.split("\n") if l.startswith("STATUS=")][0]
                    self.port = int(status.rsplit(":", 1)[1])
                    break
        finally:
            sock.close()
        self._conn = None

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, sig=signal.SIGKILL):
        """Kills the daemon (kill -9 by default) and waits for it to be gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60) if self.proc else None
        self.proc = None
        if self._conn:
            self._conn.close()
        self._conn = None
        if self.log:
            self.log.close()
            self.log = None
        return rc

    def stop(self):
        """Clean shutdown (SIGTERM); returns the exit status."""
        return self.kill(signal.SIGTERM)

    # --- HTTP ---
    def request(self, method, path, body=None, raw=None, headers=None):
        """Returns (status, parsed JSON or None)."""
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self._conn.request(method, path, body=raw, headers=headers or {})
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return resp.status, parsed

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body=body)

    def delete(self, path):
        return self.request("DELETE", path)

    def wait_task(self, task, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, t = self.get("/v1/tasks/%s?wait_ms=10000" % task)
            assert st == 200, (st, t)
            if t["state"] not in ("queued", "running"):
                return t
        raise AssertionError("task %s did not end" % task)

    def run_task(self, method, path, body=None, expect="finished"):
        """Submits a change, checks the 202, waits for its task; returns (accepted body, task)."""
        st, acc = self.request(method, path, body=body)
        assert st == 202, (st, acc)
        t = self.wait_task(acc["task"])
        if expect:
            assert t["state"] == expect, t
        return acc, t

    def default_domain(self):
        st, doms = self.get("/v1/domains")
        assert st == 200 and doms, (st, doms)
        return doms[0]["uuid"]

    def create_image(self, domain, fmt="qcow2", capacity=GiB, name="disk", allocation="sparse"):
        acc, _ = self.run_task("POST", "/v1/domains/%s/images" % domain,
                               {"name": name, "format": fmt, "capacity": capacity, "allocation": allocation})
        return acc["image"], acc["volume"]


class DaemonTest(unittest.TestCase):
    """Base: a fresh daemon with the default pool per test, stopped cleanly after."""

    bootstrap = True
    conf_extra = ""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-test-")
        self.d = Daemon(self.tmp, conf_extra=self.conf_extra, bootstrap=self.bootstrap)
        self.d.start()
        self.dom = self.d.default_domain() if self.bootstrap else None

    def tearDown(self):
        if self.d.proc:
            rc = self.d.stop()
            if rc != 0:
                self.fail("sanpoold exited with %s on SIGTERM; log:\n%s" % (rc, self.d.read_log()[-5000:]))
        if not getattr(self, "keep_tmp", False):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def img_path(self, image=""):
        return "/v1/domains/%s/images%s" % (self.dom, ("/" + image) if image else "")


def qemu_img_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], check=True,
                         capture_output=True).stdout
    return json.loads(out)


def qemu_io(path, fmt, cmd):
    """Runs a qemu-io command on an image (real I/O through the chain)."""
    r = subprocess.run(["qemu-io", "-f", fmt, "-c", cmd, path], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower() and "fail" not in r.stdout.lower(), \
        (r.stdout, r.stderr)
    return r.stdout


def tree_snapshot(root):
    """Every file under root with its size and mtime: to assert that nothing changed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out
