"""Shared pieces of the benchmarks: a sanpoold started on loopback (port 0)
with sd_notify readiness on the benchmark's own NOTIFY_SOCKET, a small HTTP
client, and the figure lines.

The daemon is the release build: $SANPOOLD, else BUILD_DIR/agent/sanpoold with
BUILD_DIR from $SANPOOL_BUILD (default: build). Every benchmark is also usable
alone: `python3 bench/NAME.py [BUILD_DIR]`.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GiB = 1 << 30
MiB = 1 << 20


def build_dir():
    """BUILD_DIR from the command line (first argument) or $SANPOOL_BUILD."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    d = args[0] if args else os.environ.get("SANPOOL_BUILD", "build")
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


def sanpoold_path():
    p = os.environ.get("SANPOOLD") or os.path.join(build_dir(), "agent", "sanpoold")
    if not os.access(p, os.X_OK):
        sys.exit("bench: %s is not built (make build)" % p)
    return p


def figure(name, value, unit):
    """Prints one figure line: `figure NAME VALUE UNIT`."""
    if isinstance(value, float):
        value = "%.2f" % value if value < 100 else "%.1f" % value
    print("figure %s %s %s" % (name, value, unit), flush=True)


def note(msg):
    """Context for a human; not a figure (to stderr)."""
    print("# " + msg, file=sys.stderr, flush=True)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


class Daemon:
    """One sanpoold with its own data directory, as it runs in production
    (log_level = info) except for the loopback port 0."""

    def __init__(self, workdir, bootstrap=True, conf_extra="", wrapper=()):
        self.workdir = workdir
        self.wrapper = list(wrapper)  # a command the daemon runs under (valgrind)
        self.data_dir = os.path.join(workdir, "var")
        self.conf = os.path.join(workdir, "sanpoold.conf")
        self.log_path = os.path.join(workdir, "sanpoold.log")
        with open(self.conf, "w") as f:
            f.write("listen_address = 127.0.0.1\nport = 0\n")
            f.write("data_dir = %s\n" % self.data_dir)
            f.write("bootstrap_default = %s\n" % ("yes" if bootstrap else "no"))
            f.write("log_level = info\n")
            f.write("sanlock = no\n")  # one host; bench/spm.py turns it on
            f.write("libvirt = no\n")  # no libvirtd here
            f.write("tls = no\nlocal_socket =\n")  # plain HTTP on loopback, as measured so far
            f.write(conf_extra)
        self.exe = sanpoold_path()
        self.proc = None
        self.port = None
        self.ready_ms = None
        self._conn = None

    def start(self, timeout=30):
        """Starts the daemon and returns once it sent READY=1; self.ready_ms is
        the time from just before the spawn (fork + exec) to READY=1."""
        sock_path = os.path.join(self.workdir, "notify.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = sock_path
        log = open(self.log_path, "ab")
        try:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.wrapper + [self.exe, "--config", self.conf], stdout=log, stderr=log, env=env)
            deadline = t0 + timeout
            while True:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    msg = sock.recv(4096).decode()
                except socket.timeout:
                    self.kill()
                    raise RuntimeError("sanpoold did not become ready; log:\n" + self.read_log()[-4000:])
                if "READY=1" in msg:
                    self.ready_ms = (time.monotonic() - t0) * 1000
                    status = [l for l in msg.split("\n") if l.startswith("STATUS=")][0]
                    self.port = int(status.rsplit(":", 1)[1])
                    break
        finally:
            sock.close()
            log.close()
        self._conn = None
        return self

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60) if self.proc else None
        self.proc = None
        if self._conn:
            self._conn.close()
        self._conn = None
        return rc

    stop = kill

    def rss_kib(self):
        """VmRSS of the daemon, in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    # --- HTTP, one keep-alive connection ---
    def request(self, method, path, body=None):
        raw = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self._conn.request(method, path, body=raw,
                                   headers={"Content-Type": "application/json"} if raw else {})
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        return resp.status, (json.loads(data) if data else None)

    def get(self, path):
        return self.request("GET", path)

    def wait_task(self, task, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, t = self.get("/v1/tasks/%s?wait_ms=10000" % task)
            if st != 200:
                raise RuntimeError("GET task %s: %s %s" % (task, st, t))
            if t["state"] not in ("queued", "running"):
                return t
        raise RuntimeError("task %s did not end" % task)

    def submit(self, method, path, body=None):
        st, acc = self.request(method, path, body)
        if st != 202:
            raise RuntimeError("%s %s: %s %s" % (method, path, st, acc))
        return acc

    def run_task(self, method, path, body=None):
        acc = self.submit(method, path, body)
        t = self.wait_task(acc["task"])
        if t["state"] != "finished":
            raise RuntimeError("%s %s: task %s" % (method, path, t))
        return acc, t

    def default_domain(self):
        st, doms = self.get("/v1/domains")
        if st != 200 or not doms:
            raise RuntimeError("no domain: %s %s" % (st, doms))
        return doms[0]["uuid"]


def populate(d, domain, n_images, fmt="raw", capacity=64 * MiB, batch=32):
    """Creates n_images images with one snapshot each (2 volumes per image),
    submitting a batch of tasks at a time; returns [(image, base, top)]."""
    out = []
    imgs = "/v1/domains/%s/images" % domain
    for start in range(0, n_images, batch):
        accs = [d.submit("POST", imgs, {"name": "bench%d" % i, "format": fmt, "capacity": capacity,
                                        "allocation": "sparse"})
                for i in range(start, min(n_images, start + batch))]
        for a in accs:
            t = d.wait_task(a["task"])
            if t["state"] != "finished":
                raise RuntimeError("create: %s" % t)
        snaps = [d.submit("POST", "%s/%s/snapshots" % (imgs, a["image"])) for a in accs]
        for a, s in zip(accs, snaps):
            t = d.wait_task(s["task"])
            if t["state"] != "finished":
                raise RuntimeError("snapshot: %s" % t)
            out.append((a["image"], a["volume"], s["volume"]))
    return out


def workdir(prefix):
    """A scratch directory under $SANPOOL_BENCH_TMP (default: the system's)."""
    base = os.environ.get("SANPOOL_BENCH_TMP")
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="sanpool-bench-%s-" % prefix, dir=base)


def cleanup(path):
    if not os.environ.get("SANPOOL_BENCH_KEEP"):
        shutil.rmtree(path, ignore_errors=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]
