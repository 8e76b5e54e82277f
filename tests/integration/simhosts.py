"""Simulated hosts on this machine: each a real sanlock daemon (its own
SANLOCK_RUN_DIR, SANLOCK_PRIVILEGED=0, no watchdog) and a real sanpoold with
its own host id, data and run directories, talking to its own daemon. The
"shared storage" is a directory (a file domain) or loop devices all of them see.

Used by the SPM tests (test_spm.py) and the SPM benchmark (bench/spm.py).
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import time

from sanpool import Daemon

IO_TIMEOUT = 1  # seconds: short, so that joins take ~3 s (sanlock's default 10 makes them ~21 s)


def call(port, method, path, body=None, timeout=30):
    """One request on a connection of its own (safe from any thread): (status, JSON) or (None, error)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)
    finally:
        conn.close()


def wait_for(what, fn, timeout=60, period=0.05):
    """Polls fn() until it returns a true value (returned); fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(period)


class SanlockDaemon:
    def __init__(self, run_dir, name):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.log = open(os.path.join(run_dir, "sanlock.log"), "ab")
        env = dict(os.environ, SANLOCK_RUN_DIR=run_dir, SANLOCK_PRIVILEGED="0")
        # -w 0: no watchdog (no wdmd here); -l 0: no mlockall; -U/-G root: keep access to the files
        self.proc = subprocess.Popen(["sanlock", "daemon", "-D", "-w", "0", "-l", "0", "-U", "root", "-G", "root",
                                      "-e", name], stdout=self.log, stderr=self.log, env=env,
                                     start_new_session=True)
        wait_for("sanlock daemon in " + run_dir, self.ready, timeout=20)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("sanlock daemon exited: see %s/sanlock.log" % self.run_dir)
        r = subprocess.run(["sanlock", "client", "status"], capture_output=True,
                           env=dict(os.environ, SANLOCK_RUN_DIR=self.run_dir))
        return r.returncode == 0

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


class Host:
    """sanlock daemon + sanpoold of one simulated host."""

    def __init__(self, root, host_id, conf_extra="", env_extra=None):
        self.id = host_id
        self.dir = os.path.join(root, "host%d" % host_id)
        os.makedirs(self.dir, exist_ok=True)
        self.sanlock = SanlockDaemon(os.path.join(self.dir, "sanlock"), "host%d" % host_id)
        self.d = Daemon(self.dir, bootstrap=False, conf_extra=(
            "sanlock = yes\nsanlock_io_timeout = %d\nhost_id = %d\nrun_dir = %s/run\n%s"
            % (IO_TIMEOUT, host_id, self.dir, conf_extra)))
        self.env_extra = env_extra or {}
        self.start()

    def start(self, env_extra=None):
        env = {"SANLOCK_RUN_DIR": self.sanlock.run_dir, "SANLOCK_PRIVILEGED": "0"}
        env.update(self.env_extra)
        env.update(env_extra or {})
        self.d.start(env_extra=env)

    @property
    def port(self):
        return self.d.port

    def call(self, method, path, body=None):
        return call(self.d.port, method, path, body)

    def call_text(self, path):
        """GET of a text resource: (status, body as str)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def pool(self, pool):
        st, p = self.call("GET", "/v1/pools/" + pool)
        assert st == 200, (st, p)
        return p

    def joined(self, pool):
        """True once every lockspace of the pool is joined on this host."""
        ls = self.pool(pool)["spm"]["lockspaces"]
        return bool(ls) and all(l["state"] == "joined" for l in ls)

    def stop(self):
        if self.d.proc:
            self.d.stop()
        self.sanlock.kill()


def start_hosts(root, n, conf_extra="", env_extra=None):
    """n hosts; env_extra(host_id) gives each daemon's extra environment."""
    hosts = []
    try:
        for i in range(1, n + 1):
            hosts.append(Host(root, i, conf_extra, env_extra(i) if env_extra else None))
    except BaseException:
        for h in hosts:
            h.stop()
        raise
    return hosts


def stop_hosts(hosts, root=None):
    for h in hosts:
        try:
            h.stop()
        except Exception:  # the others must still stop
            pass
    if root:
        shutil.rmtree(root, ignore_errors=True)
