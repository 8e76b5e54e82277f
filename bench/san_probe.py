#!/usr/bin/env python3
"""How fast is the emulated SAN of the cluster tier, idle: one TCG guest (tests/cluster/harness.py,
no sanlock, no libvirt) logged in to tgtd outside over both portals, multipath on top.

Inside the guest one Python process (no process start per sample: under TCG an exec costs tens of
ms) times: a TCP round trip to an echo server outside (on 127.0.0.1, the guest reaches it at
10.0.2.2, as it reaches tgtd) with a 48-byte request (an iSCSI command PDU's header) answered by
48 bytes and by 4 KiB + 48; a 4 KiB O_DIRECT read on the multipath device and on one path (sdX);
`dd` of the same read (what the earlier probe, bench/thin_queue_probe.py, timed: with the exec);
`lvs` of a VG on the LUN; a sequential O_DIRECT write of 64 MiB in 1 MiB requests (one in flight)
and buffered through the page cache with fsync (writeback keeps many in flight), with the guest's
CPU busy share meanwhile (/proc/stat) and the CPU time qemu, the network helper and tgtd took
outside. Not in CI, not in bench/run-all (a diagnostic, ~2 min; root):
    python3 bench/san_probe.py [BUILD_DIR]          (SANPOOL_CLUSTER_NET=user|passt)
Prints `figure san_<what> VALUE UNIT` lines.
"""
import json
import os
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "cluster"))
from harness import Cluster, GiB  # noqa: E402

# run inside the guest by its python3 (the outer root filesystem, read-only over 9p)
GUEST = r"""
import json, mmap, os, socket, subprocess, sys, time
port, mp, path, vg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
N = 40
res = {}
def ms(t): return round(t * 1000, 2)
def stats(name, v):
    v = sorted(v)
    res[name] = {"p50": ms(v[len(v) // 2]), "max": ms(v[-1]), "min": ms(v[0])}
def cpu():
    with open("/proc/stat") as f:
        x = [int(n) for n in f.readline().split()[1:]]
    return sum(x), x[3] + x[4]
s = socket.create_connection(("10.0.2.2", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for reply in (48, 4096 + 48):
    v = []
    for i in range(N):
        t = time.monotonic()
        s.sendall(reply.to_bytes(4, "big") + b"x" * 44)
        got = 0
        while got < reply:
            got += len(s.recv(65536))
        v.append(time.monotonic() - t)
    stats("rtt_%d" % reply, v)
s.close()
buf = mmap.mmap(-1, 1 << 20)
for name, dev in (("mpath", mp), ("path", path)):
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    v = []
    for i in range(N):
        t = time.monotonic()
        os.preadv(fd, [memoryview(buf)[:4096]], (i * 7919 % 4096) * 65536)
        v.append(time.monotonic() - t)
    os.close(fd)
    stats("read4k_" + name, v)
for name, argv in (("dd", ["dd", "if=" + mp, "of=/dev/null", "bs=4096", "count=1", "iflag=direct"]),
                   ("lvs", ["lvs", "--noheadings", "-o", "lv_name", vg])):
    v = []
    for i in range(8):
        t = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        v.append(time.monotonic() - t)
    stats(name, v)
def write(name, flags, size=64 << 20):
    fd = os.open(mp, os.O_WRONLY | flags)
    c0 = cpu(); t = time.monotonic()
    for off in range(0, size, 1 << 20):
        os.pwritev(fd, [buf], (2 << 30) + off)
    os.fsync(fd)
    dt = time.monotonic() - t; c1 = cpu()
    os.close(fd)
    res["write_" + name] = {"mib_s": round(size / (1 << 20) / dt, 1), "s": round(dt, 2),
                            "guest_cpu_busy_pct": round(100 - 100 * (c1[1] - c0[1]) / max(1, c1[0] - c0[0]), 1)}
write("direct", os.O_DIRECT)
write("buffered", 0)
print("RESULT " + json.dumps(res))
"""


def echo_server():
    """Answers each 48-byte request with the number of bytes its first 4 name."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while True:
                req = b""
                while len(req) < 48:
                    d = conn.recv(48 - len(req))
                    if not d:
                        return
                    req += d
                conn.sendall(b"y" * int.from_bytes(req[:4], "big"))
    threading.Thread(target=serve, daemon=True).start()
    return srv


def cputime(pid):
    """utime + stime of a process and its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ.setdefault("SANPOOLD", os.path.abspath(os.path.join(build, "agent", "sanpoold")))
    srv = echo_server()
    with Cluster(n=1, lun_size=4 * GiB) as c:
        h = c.guests[0]
        rc, out = h.run('multipathd show paths format "%w %d"', check=True)
        wwid, path = out.splitlines()[1].split()[:2]
        mp = "/dev/mapper/" + wwid
        h.run("pvcreate -q %s && vgcreate -q probevg %s && lvcreate -q -L 64m -n a probevg" % (mp, mp),
              check=True)
        with open(os.path.join(h.dir, "probe.py"), "w") as f:
            f.write(GUEST)
        procs = {"qemu": h.proc.pid, "tgtd": c.target.proc.pid}
        if h.passt is not None:
            procs["passt"] = h.passt.pid
        t0 = {k: cputime(p) for k, p in procs.items()}
        rc, out = h.run("python3 /io/probe.py %d %s /dev/%s probevg" % (srv.getsockname()[1], mp, path),
                        timeout=900, check=True)
        t1 = {k: cputime(p) for k, p in procs.items()}
        h.run("vgremove -q -f probevg && pvremove -q %s" % mp)
    res = json.loads(out[out.index("RESULT ") + 7:].splitlines()[0])
    print("# net %s; outside CPU during the probe: %s" % (c.net, ", ".join(
        "%s %.1f s" % (k, t1[k] - t0[k]) for k in sorted(procs))))
    for k, v in sorted(res.items()):
        for what, val in sorted(v.items()):
            unit = {"mib_s": "MiB/s", "s": "s", "guest_cpu_busy_pct": "%"}.get(what, "ms")
            print("figure san_%s_%s_%s %s %s" % (c.net, k, what, val, unit))
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
