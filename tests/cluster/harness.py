"""Cluster test harness: real hosts in qemu guests sharing one iSCSI LUN over two paths.

Outside (this machine): an iSCSI target (tgtd) with two portals on 127.0.0.1 and a
LUN backed by a sparse file; N qemu TCG guests booting Debian's kernel with a tiny
busybox initramfs that mounts this machine's root filesystem read-only (9p) under a
tmpfs overlay. Inside each guest (tests/cluster/guest.sh): udev, iscsid logged in to
both portals (10.0.2.2 is this machine's loopback as the guest sees it), multipathd
with tests/cluster/multipath.conf, and sanpoold from the build tree with its own
host_id, data_dir and run_dir on the guest's tmpfs. Each guest's API is forwarded to
127.0.0.1:<port> outside; a per-guest directory shared read-write over 9p carries
its logs and a command channel (Guest.run). With Cluster(array="lio") the LUN comes
from an ALUA array guest instead of tgtd (LioArray: Linux's LIO target in a guest, two
target port groups, four portals).

Nothing is installed here: missing Debian packages are reported (scripts/install-deps
installs them). Every process and file made is removed by Cluster.stop(), which also
runs at exit and on SIGTERM; on failure the guests' logs are copied to a directory
that is printed (SANPOOL_CLUSTER_LOGS, default /tmp/sanpool-cluster-logs-<time>).
"""
import atexit
import ctypes
import glob
import gzip
import http.client
import json
import lzma
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGES = ["qemu-system-x86", "linux-image-amd64", "busybox-static", "tgt", "open-iscsi",
            "multipath-tools", "lvm2"]
IQN = "iqn.2026-11.org.sanpool.test:lun"
IQN_PREFIX = "iqn.2026-11.org.sanpool.test:"
READY = "SANPOOL-GUEST-READY"
FAILED = "SANPOOL-GUEST-FAILED"
GiB = 1 << 30
MiB = 1 << 20


class HarnessError(Exception):
    pass


# Hooks of beside.py, which starts its side modules at one of these moments (a booting
# cluster takes every core by itself): called once each, with the cluster, when a
# cluster of this process is up; called with its name as each scenario starts.
CLUSTER_UP = []
SCENARIO_START = []


def log(msg):
    sys.stderr.write("[cluster %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def poll(fn, what, timeout=60):
    """Calls fn until it returns a true value; fails with the last value after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError("%s: not within %ds (last: %r)" % (what, timeout, last))


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if this Python process dies (even by SIGKILL)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def missing_packages():
    missing = []
    for p in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    return missing


def kernel_version():
    """The newest Debian kernel with both its image and its modules present."""
    vers = []
    for path in glob.glob("/boot/vmlinuz-*"):
        v = path[len("/boot/vmlinuz-"):]
        if os.path.isdir("/lib/modules/%s/kernel" % v):
            vers.append(v)
    if not vers:
        raise HarnessError("no /boot/vmlinuz-<ver> with /lib/modules/<ver> (linux-image-amd64)")
    return sorted(vers, key=lambda v: [int(x) if x.isdigit() else x for x in v.replace("-", ".").split(".")])[-1]


def module_paths(kver, mods):
    """The .ko files of kernel kver that mods need, dependencies first (for insmod in that order)."""
    order = []
    for mod in mods:
        r = subprocess.run(["modprobe", "-S", kver, "--show-depends", mod], capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessError("modprobe --show-depends %s: %s" % (mod, r.stderr.strip()))
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod" and parts[1] not in order:
                order.append(parts[1])
    return order


def boot_kernel(workdir, kver):
    """The kernel image qemu boots: the ELF vmlinux inside /boot/vmlinuz-<ver>, unpacked here
    once, which qemu starts at its PVH entry (CONFIG_PVH), so that no guest spends emulated
    CPU on the xz decompressor. /boot/vmlinuz-<ver> itself if the kernel has no PVH entry or
    its payload is not xz."""
    vmlinuz = "/boot/vmlinuz-" + kver
    try:
        with open("/boot/config-" + kver) as f:
            pvh = "\nCONFIG_PVH=y\n" in f.read()
        with open(vmlinuz, "rb") as f:
            image = f.read()
    except OSError:
        return vmlinuz
    start = image.find(b"\xfd7zXZ\x00")
    if not pvh or start < 0:
        return vmlinuz
    try:
        elf = lzma.LZMADecompressor().decompress(image[start:])
    except lzma.LZMAError:
        return vmlinuz
    if not elf.startswith(b"\x7fELF"):
        return vmlinuz
    out = os.path.join(workdir, "vmlinux")
    with open(out, "wb") as f:
        f.write(elf)
    return out


def build_initramfs(workdir, kver):
    """cpio (newc) + gzip: busybox-static, the modules for 9p root + overlay, /init."""
    tree = os.path.join(workdir, "initramfs")
    for d in ("bin", "mods", "proc", "sys", "dev", "lower", "upper", "newroot"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(tree, "bin", "busybox"))
    shutil.copy(os.path.join(HERE, "initramfs-init.sh"), os.path.join(tree, "init"))
    os.chmod(os.path.join(tree, "init"), 0o755)
    names = []
    for path in module_paths(kver, ("virtio_pci", "9pnet_virtio", "9p", "overlay")):
        name = os.path.basename(path)
        if path.endswith(".xz") or path.endswith(".zst"):
            raise HarnessError("compressed module %s: not supported by the initramfs" % path)
        shutil.copy(path, os.path.join(tree, "mods", name))
        names.append(name)
    with open(os.path.join(tree, "modules.list"), "w") as f:
        f.write("\n".join(names) + "\n")
    out = os.path.join(workdir, "initrd.gz")
    files = subprocess.run(["find", "."], cwd=tree, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree, input=files,
                          capture_output=True)
    if cpio.returncode != 0:
        raise HarnessError("cpio: " + cpio.stderr.decode(errors="replace"))
    with gzip.open(out, "wb", compresslevel=6) as f:
        f.write(cpio.stdout)
    shutil.rmtree(tree)
    return out


def initiator_name(guest_index):
    """The iSCSI initiator name of guest N (guest.sh writes it)."""
    return "%sh%d" % (IQN_PREFIX, guest_index)


class Target:
    """tgtd with two portals on 127.0.0.1 and one LUN backed by a sparse file (target 1, which
    every guest logs in to at boot), and optionally more targets (extra_targets) that the
    guests do not log in to by themselves, each with one LUN: a test connects through the API.

    extra_targets: list of dicts {"name": suffix of the IQN, "size": bytes,
    "initiators": [guest indices allowed] or None for every guest,
    "chap": (user, secret) or None}."""

    IQN = IQN

    def __init__(self, workdir, lun_size, extra_targets=None):
        self.workdir = workdir
        self.lun_size = lun_size
        self.extra_targets = list(extra_targets or [])
        self.tids = {}  # IQN -> tid
        self.proc = None
        self.ports = (free_port(), free_port())
        while self.ports[1] == self.ports[0]:
            self.ports = (self.ports[0], free_port())
        # control port: names tgtd's management socket /var/run/tgtd/socket.<n>
        self.ctl = 1000 + os.getpid() % 30000  # tgtd accepts up to 32767
        self.sock = "/var/run/tgtd/socket.%d" % self.ctl
        self.made_rundir = not os.path.isdir("/var/run/tgtd")

    def adm(self, *args, check=True):
        r = subprocess.run(["tgtadm", "-C", str(self.ctl), "--lld", "iscsi"] + list(args),
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise HarnessError("tgtadm %s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()))
        return r

    def start(self):
        if os.path.exists(self.sock):
            raise HarnessError("%s exists: another tgtd uses control port %d" % (self.sock, self.ctl))
        lun = os.path.join(self.workdir, "lun1.img")
        with open(lun, "wb") as f:
            f.truncate(self.lun_size)
        self.log = open(os.path.join(self.workdir, "tgtd.log"), "wb")
        self.proc = subprocess.Popen(["tgtd", "-f", "-C", str(self.ctl), "--iscsi",
                                      "portal=127.0.0.1:%d" % self.ports[0]],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent, start_new_session=True)
        deadline = time.monotonic() + 20
        while self.adm("--op", "show", "--mode", "target", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError("tgtd did not start: " + self.log_text())
            time.sleep(0.05)
        self.adm("--op", "new", "--mode", "portal", "--param", "portal=127.0.0.1:%d" % self.ports[1])
        self.adm("--op", "new", "--mode", "target", "--tid", "1", "-T", IQN)
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", lun)
        self.adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")
        self.tids[IQN] = 1
        for i, t in enumerate(self.extra_targets):
            self.add_target(i + 2, t)

    def backing(self, tid):
        return os.path.join(self.workdir, "lun%d.img" % tid)

    def add_target(self, tid, t):
        iqn = IQN_PREFIX + t["name"]
        with open(self.backing(tid), "wb") as f:
            f.truncate(t["size"])
        self.adm("--op", "new", "--mode", "target", "--tid", str(tid), "-T", iqn)
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", str(tid), "--lun", "1", "-b", self.backing(tid))
        if t.get("initiators") is None:
            self.adm("--op", "bind", "--mode", "target", "--tid", str(tid), "-I", "ALL")
        else:
            for g in t["initiators"]:
                self.adm("--op", "bind", "--mode", "target", "--tid", str(tid), "-Q", initiator_name(g))
        if t.get("chap"):
            user, secret = t["chap"]
            self.adm("--op", "new", "--mode", "account", "--user", user, "--password", secret)
            self.adm("--op", "bind", "--mode", "account", "--tid", str(tid), "--user", user)
        self.tids[iqn] = tid

    def grow_lun(self, iqn, new_size):
        """The LUN of target iqn grows to new_size. tgt reads a backing file's size only when
        the logical unit is added, so the unit is deleted and added again over the grown file
        (same SCSI id and serial: the initiators see the same disk, larger after a rescan).
        Sessions stay logged in; I/O in flight in that instant is retried by the initiator."""
        tid = self.tids[iqn]
        with open(self.backing(tid), "r+b") as f:
            f.truncate(new_size)
        self.adm("--op", "delete", "--mode", "logicalunit", "--tid", str(tid), "--lun", "1")
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", str(tid), "--lun", "1", "-b", self.backing(tid))

    def portals(self):
        """The portals as the guests reach them."""
        return ["10.0.2.2:%d" % p for p in self.ports]

    def log_text(self):
        try:
            with open(os.path.join(self.workdir, "tgtd.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # tgtd ignores SIGTERM: it stops on "delete system"; SIGKILL if it does not
            self.adm("--op", "delete", "--mode", "system", "--force", check=False)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        for f in (self.sock, self.sock + ".lock"):
            try:
                os.unlink(f)
            except OSError:
                pass
        if self.made_rundir:
            try:
                os.rmdir("/var/run/tgtd")
            except OSError:
                pass


class LioArray:
    """The ALUA array (Cluster(array="lio")): a guest whose kernel's LIO target exports one LUN
    through two ALUA target port groups, controller A (group 1, iSCSI TPG 1) and controller B
    (group 2, TPG 2), each on two portals (tests/cluster/lio-array.sh). tgt, the target used
    otherwise, has no ALUA (no REPORT TARGET PORT GROUPS), and this machine's kernel no LIO.
    Its portals are forwarded to loopback ports outside, which the host guests reach at
    10.0.2.2. A starts active/optimized, B active/non-optimized; set_states() changes them."""

    IQN = IQN_PREFIX + "array"
    GUEST_PORTS = (3260, 3261, 3262, 3263)  # controllers A, B, A, B (lio-array.sh)
    STATES = {"active/optimized": 0, "active/non-optimized": 1}

    def __init__(self, cluster):
        self.cluster = cluster
        self.ports = []
        for _ in self.GUEST_PORTS:
            p = free_port()
            while p in self.ports:
                p = free_port()
            self.ports.append(p)
        self.guest = Guest(cluster, 0, role="array")

    def start(self):
        self.guest.start()
        self.guest.wait_ready(self.cluster.boot_timeout)

    def portals(self):
        """The portals as the host guests reach them."""
        return ["10.0.2.2:%d" % p for p in self.ports]

    def forwards(self):
        """(port outside on 127.0.0.1, port in the array guest) for each portal."""
        return list(zip(self.ports, self.GUEST_PORTS))

    def set_states(self, **states):
        """set_states(ctrl_a="active/non-optimized", ctrl_b="active/optimized"): an implicit
        ALUA transition on the array, as when a controller fails over or the admin moves a LUN."""
        for ctrl, state in states.items():
            self.guest.run("alua_state %s %d" % (ctrl, self.STATES[state]), check=True)

    def stop(self):
        self.guest.stop()


class Guest:
    """One qemu guest: a host running sanpoold, its API on 127.0.0.1:self.port
    (or, role "array", the LIO array of LioArray)."""

    def __init__(self, cluster, index, role="host"):
        self.cluster = cluster
        self.index = index  # 1-based (0: the array)
        self.role = role
        self.name = "h%d" % index if role == "host" else role
        self.host_id = index
        self.port = free_port()
        # the NFS server guest's nfsd (port 2049), forwarded to 127.0.0.1:nfs_port outside,
        # which every guest reaches at 10.0.2.2:nfs_port
        self.nfs_port = free_port() if cluster.nfs_server == index else None
        self.dir = os.path.join(cluster.workdir, self.name)
        os.makedirs(os.path.join(self.dir, "cmd"))
        os.makedirs(os.path.join(self.dir, "out"))
        self.console = os.path.join(self.dir, "console.log")
        self.proc = None
        self.booted_after = None
        self.ready = None  # what wait_ready returned
        self.seq = 0
        self._conn = None
        self.passt = None

    def start(self):
        c = self.cluster
        if self.role == "array":
            role = ["sp_role=array", "sp_array_iqn=" + LioArray.IQN, "sp_array_size=%d" % c.lun_size]
            fwds = c.target.forwards()
        else:
            role = ["sp_iqn=" + c.target.IQN, "sp_ports=" + ",".join(str(p) for p in c.target.ports)]
            fwds = [(self.port, 7447)]
        if self.nfs_port:
            fwds.append((self.nfs_port, 2049))
        append = " ".join([
            # mitigations=off: speculation barriers only cost an emulated CPU (~20% per command)
            "console=ttyS0", "quiet", "mitigations=off", "panic=-1", "net.ifnames=0",
            "sp_guest=" + os.path.join(HERE, "guest.sh"),
            "sp_mpconf=" + c.multipath_conf,
            "sp_bin=" + c.sanpoold, "sp_hn=" + self.name, "sp_hid=%d" % self.host_id,
        ] + role + [
            "sp_pki=" + c.pki, "sp_sanlock=%d" % c.sanlock_io_timeout,
            "sp_libvirt=%d" % (1 if c.libvirt else 0), "sp_mtu=%d" % self.MTU[c.net],
            "sp_san=" + os.environ.get("SANPOOL_CLUSTER_SAN", ""),
        ] + (["sp_conf=" + ",".join("%s:%s" % kv for kv in sorted(c.conf.items()))] if c.conf else [])
          + (["sp_init=systemd", "sp_prep=" + os.path.join(HERE, "systemd-prepare.sh"),
              "sp_runner=" + os.path.join(HERE, "guest-systemd.sh")] if c.init == "systemd" else []))
        argv = [
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", str(c.memory_mib), "-smp", "1",
            "-display", "none", "-no-reboot", "-monitor", "none", "-nodefaults",
            "-chardev", "file,id=con,path=" + self.console, "-serial", "chardev:con",
            "-kernel", c.kernel, "-initrd", c.initrd, "-append", append,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", "local,path=%s,mount_tag=io,security_model=none" % self.dir,
        ] + self.netdev(fwds) + [
            "-device", "virtio-net-pci,netdev=n0",
        ]
        self.qemu_log = open(os.path.join(self.dir, "qemu.log"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self.qemu_log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                     start_new_session=True)

    # the guest's eth0 MTU on each network (passt takes frames of up to 65520 bytes)
    MTU = {"user": 1500, "passt": 65520}

    def netdev(self, fwds):
        """qemu's -netdev for the guest (10.0.2.15/24, gateway 10.0.2.2 = this machine's
        loopback), each (outside port, guest port) of fwds forwarded from 127.0.0.1 outside.
        "user": qemu's slirp (the default). "passt": a passt process per guest (Debian package
        passt), qemu connected to its UNIX socket; it maps the gateway to loopback as slirp
        does and hands the guest's TCP to this machine's own stack. Measured no faster than
        slirp (bench/san_probe.py; docs/benchmarks.md, "The emulated SAN, idle")."""
        if self.cluster.net == "user":
            return ["-netdev", "user,id=n0," + ",".join("hostfwd=tcp:127.0.0.1:%d-10.0.2.15:%d" % f for f in fwds)]
        # passt drops root for nobody before it binds its socket: a directory nobody may write;
        # it ends with qemu's connection (--one-off), so also when qemu dies with the harness
        sockdir = os.path.join(self.dir, "passt")
        os.makedirs(sockdir, exist_ok=True)
        os.chown(sockdir, pwd.getpwnam("nobody").pw_uid, -1)
        sock = os.path.join(sockdir, "sock")
        argv = ["passt", "--foreground", "--one-off", "--ipv4-only", "--quiet", "--socket", sock,
                "--address", "10.0.2.15", "--netmask", "24", "--gateway", "10.0.2.2",
                "--mtu", str(self.MTU["passt"]), "--dns", "none", "--udp-ports", "none",
                "--tcp-ports", ",".join("127.0.0.1/%d:%d" % f for f in fwds) if fwds else "none"]
        self.passt_log = open(os.path.join(self.dir, "passt.log"), "wb")
        self.passt = subprocess.Popen(argv, stdout=self.passt_log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                      start_new_session=True)
        poll(lambda: os.path.exists(sock) or self.passt.poll() is not None, "passt's socket", timeout=20)
        if self.passt.poll() is not None:
            raise HarnessError("%s: passt exited: %s" % (self.name, self.read("passt.log")))
        return ["-netdev", "stream,id=n0,server=off,addr.type=unix,addr.path=" + sock]

    def read(self, name, tail=None):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def booted(self):
        """True once the guest script's ready marker is on the console (sanpoold started);
        raises if the guest failed or qemu exited."""
        con = self.read("console.log")
        if READY in con:
            if self.booted_after is None:
                self.booted_after = time.monotonic() - self.started
                log("%s: guest ready after %.1fs" % (self.name, self.booted_after))
            return True
        if FAILED in con:
            raise HarnessError("%s: %s" % (self.name, con[con.index(FAILED):].splitlines()[0]))
        if self.proc.poll() is not None:
            raise HarnessError("%s: qemu exited with %s" % (self.name, self.proc.returncode))
        return False

    def wait_ready(self, timeout):
        """Waits for the guest script's ready marker on the console, then for GET /v1/host
        (a guest booted with systemd runs no sanpoold: the marker only). Returns the API's
        answer, or the marker line's words after the host name (systemd's verdict on the boot)."""
        deadline = time.monotonic() + timeout
        while not self.booted():
            if time.monotonic() > deadline:
                raise HarnessError("%s: no ready marker within %ds" % (self.name, timeout))
            time.sleep(0.1)
        if self.role != "host":
            return None
        if self.cluster.init == "systemd":
            con = self.read("console.log")
            words = con[con.index(READY):].splitlines()[0].split()[2:]
            log("%s: systemd's verdict on its boot: %s" % (self.name, " ".join(words)))
            return words
        last = None
        while True:
            try:
                st, body = self.get("/v1/host")
                if st == 200:
                    log("%s: API up after %.1fs (host %s)" % (self.name, time.monotonic() - self.started,
                                                              json.dumps(body)[:200]))
                    return body
                last = (st, body)
            except (OSError, http.client.HTTPException) as e:
                last = e
                self._close()
            if self.proc.poll() is not None:
                raise HarnessError("%s: qemu exited with %s" % (self.name, self.proc.returncode))
            if time.monotonic() > deadline:
                raise HarnessError("%s: API not up within %ds: %s" % (self.name, timeout, last))
            time.sleep(0.2)

    # --- command channel ---------------------------------------------------------------
    def run(self, script, timeout=120, check=False):
        """Runs a shell script in the guest; returns (exit status, combined output)."""
        self.seq += 1
        n = str(self.seq)  # guest.sh runs 1.sh, 2.sh... in turn
        tmp = os.path.join(self.dir, "cmd", n + ".tmp")
        with open(tmp, "w") as f:
            f.write(script + "\n")
        os.rename(tmp, os.path.join(self.dir, "cmd", n + ".sh"))
        rc_path = os.path.join(self.dir, "out", n + ".rc")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(rc_path) as f:
                    rc = f.read()
                if rc.endswith("\n"):  # written whole, in one write: empty while being written
                    break
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise HarnessError("%s: qemu exited while running %r" % (self.name, script))
            if time.monotonic() > deadline:
                raise HarnessError("%s: %r did not finish within %ds" % (self.name, script, timeout))
            time.sleep(0.02)
        rc = int(rc)
        out = self.read(os.path.join("out", n + ".out"))
        if check and rc != 0:
            raise HarnessError("%s: %r exited %d: %s" % (self.name, script, rc, out))
        return rc, out

    def restart_agent(self, sanpoold=None, forget_links=False, poll_s=0.2, timeout=120):
        """Stops sanpoold (SIGTERM, as systemd would) and starts sanpoold (default: the
        cluster's) again with the same config; with forget_links, its run-time links go
        first (as after a reboot). Returns once its API answers (checked every poll_s)."""
        self.run("pid=$(cat /run/sanpoold.pid); kill -TERM $pid; "
                 "while kill -0 $pid 2>/dev/null; do sleep 0.1; done; "
                 + ("rm -rf /run/sanpool/storage; " if forget_links else "")
                 + "setsid %s --config /run/sanpoold.conf >> /io/sanpoold.log 2>&1 < /dev/null & "
                 "echo $! > /run/sanpoold.pid" % (sanpoold or self.cluster.sanpoold), check=True)
        self._close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.get("/v1/host")[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                self._close()
            if time.monotonic() > deadline:
                raise HarnessError("%s: sanpoold not back within %ds" % (self.name, timeout))
            time.sleep(poll_s)

    # --- API -------------------------------------------------------------------------
    def _close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, timeout=120):
        """Returns (status, parsed JSON or raw bytes)."""
        raw = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self._conn is None:
                # the guests listen on 10.0.2.15, not loopback: mutual TLS, as in production
                self._conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                                         context=self.cluster.tls_context())
            try:
                self._conn.request(method, path, body=raw,
                                   headers={"Content-Type": "application/json"} if raw else {})
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self._close()
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
        return self.request("POST", path, body)

    def wait_task(self, task, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, t = self.get("/v1/tasks/%s?wait_ms=10000" % task)
            if st != 200:
                raise HarnessError("%s: GET task %s: %s %s" % (self.name, task, st, t))
            if t["state"] not in ("queued", "running"):
                return t
        raise HarnessError("%s: task %s did not end within %ds" % (self.name, task, timeout))

    # --- NFS server ----------------------------------------------------------------------
    def serve_nfs(self, size_mib=256):
        """Makes this guest (Cluster(nfs_server=index)) an NFSv4 server: the kernel's nfsd
        exports a tmpfs (exportable, unlike the overlay root) as the NFSv4 root, rw, no root
        squash, "insecure" (the other guests' connections arrive through qemu's user
        network from unprivileged ports). Returns (export, mount options) as any guest
        passes them to POST /v1/connections."""
        if not self.nfs_port:
            raise HarnessError("%s is not the cluster's NFS server guest" % self.name)
        self.run("modprobe -a nfsd nfsv4 && mkdir -p /srv/nfs /var/lib/nfs/v4recovery /proc/fs/nfsd && "
                 "(mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd) && "
                 "mount -t tmpfs -o size=%dm nfsroot /srv/nfs && "
                 "echo '/srv/nfs *(rw,fsid=0,no_root_squash,insecure,no_subtree_check,sync)' > /etc/exports && "
                 "(rpcbind -w || true) && exportfs -ra && rpc.mountd -N 2 -N 3 && "
                 "rpc.nfsd -N 3 -V 4 -V 4.1 -V 4.2 4 && exportfs -v" % size_mib, check=True)
        return "10.0.2.2:/", "vers=4.2,port=%d,hard,timeo=600" % self.nfs_port

    # --- path faults -------------------------------------------------------------------
    def fail_path(self, dev):
        """A path failure (not a logout): the SCSI device of path dev (sda) goes offline, so
        every I/O on it fails at once and multipathd's checker finds it faulty."""
        self.run("echo offline > /sys/block/%s/device/state" % dev, check=True)

    def restore_path(self, dev):
        self.run("echo running > /sys/block/%s/device/state" % dev, check=True)

    def stop(self):
        self._close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.passt is not None and self.passt.poll() is None:
            self.passt.kill()  # if qemu never connected
        if self.passt is not None:
            self.passt.wait()
        self.passt = None


class Cluster:
    """N guests sharing one LUN. Use as a context manager, or start() / stop()."""

    def __init__(self, n=None, lun_size=4 * GiB, sanpoold=None, boot_timeout=None, extra_targets=None,
                 sanlock_io_timeout=0, nfs_server=None, memory_mib=768, libvirt=False, conf=None,
                 array=None, multipath_overrides=None, init="script", net=None):
        self.n = n or int(os.environ.get("SANPOOL_CLUSTER_GUESTS", "3"))
        # "lio": the LUN comes from an ALUA array guest (LioArray) instead of tgtd outside
        self.array = array
        # text appended to the guests' multipath.conf (tests/cluster/multipath.conf), e.g. an
        # overrides section standing for a host's own settings
        self.multipath_overrides = multipath_overrides
        self.multipath_conf = os.path.join(HERE, "multipath.conf")
        # > 0: each guest runs a sanlock daemon and sanpoold with leases on (that io_timeout)
        self.sanlock_io_timeout = sanlock_io_timeout
        self.nfs_server = nfs_server  # the index of the guest that may serve NFS (Guest.serve_nfs)
        self.lun_size = lun_size
        # libvirt: each guest runs virtlogd + libvirtd and sanpoold's thin monitor (libvirt = yes);
        # a VM inside a guest (nested TCG) needs memory_mib beyond the default
        self.libvirt = libvirt
        self.memory_mib = memory_mib
        self.conf = dict(conf or {})  # more sanpoold.conf keys for every guest: {key: value}
        # "script": guest.sh is PID 1 and starts everything, sanpoold from the build tree;
        # "systemd": systemd is PID 1 (systemd-prepare.sh, guest-systemd.sh), no sanpoold
        self.init = init
        # the guests' network to this machine's loopback (the SAN's path): Guest.netdev
        self.net = net or os.environ.get("SANPOOL_CLUSTER_NET", "user")
        if self.net not in Guest.MTU:
            raise HarnessError("net %r: one of %s" % (self.net, ", ".join(sorted(Guest.MTU))))
        self.extra_targets = extra_targets  # see Target
        self.sanpoold = os.path.abspath(sanpoold or os.environ.get("SANPOOLD")
                                        or os.path.join(ROOT, "build", "agent", "sanpoold"))
        # booting N TCG guests on few cores: allow ~60 s per guest beyond the first two
        self.boot_timeout = boot_timeout or 120 + 60 * max(0, self.n - 2)
        self.workdir = None
        self.target = None
        self.guests = []
        self._stopped = False

    def tls_context(self):
        """A TLS client context with the cluster's client certificate, checking the guests' against its CA."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.pki, "ca.pem"))
        ctx.load_cert_chain(os.path.join(self.pki, "client.pem"), os.path.join(self.pki, "client.key"))
        return ctx

    def start(self):
        t0 = time.monotonic()
        missing = missing_packages()
        if missing:
            raise HarnessError("missing Debian packages: %s (run scripts/install-deps)" % " ".join(missing))
        if self.init != "systemd" and not os.access(self.sanpoold, os.X_OK):
            raise HarnessError("no sanpoold at %s (build first, or set SANPOOLD)" % self.sanpoold)
        if os.geteuid() != 0:
            raise HarnessError("the cluster tier needs root (tgtd, qemu 9p export of /)")
        atexit.register(self.stop)
        self._old_term = signal.signal(signal.SIGTERM, _sigterm)
        self.workdir = tempfile.mkdtemp(prefix="sanpool-cluster-")
        os.chmod(self.workdir, 0o755)
        try:
            self.kver = kernel_version()
            self.initrd = build_initramfs(self.workdir, self.kver)
            self.kernel = boot_kernel(self.workdir, self.kver)
            # one CA for the cluster; every guest serves the same certificate,
            # valid for 127.0.0.1 where its API is forwarded
            self.pki = os.path.join(self.workdir, "pki")
            subprocess.run([os.path.join(ROOT, "scripts", "make-certs"), "init", self.pki], check=True)
            if self.multipath_overrides:
                self.multipath_conf = os.path.join(self.workdir, "multipath.conf")
                with open(os.path.join(HERE, "multipath.conf")) as f, open(self.multipath_conf, "w") as out:
                    out.write(f.read() + self.multipath_overrides)
            if self.array == "lio":
                self.target = LioArray(self)
            else:
                self.target = Target(self.workdir, self.lun_size, self.extra_targets)
            self.target.start()
            log("target up (portals 127.0.0.1:%s), booting %d guests (kernel %s)"
                % (",".join(str(p) for p in self.target.ports), self.n, self.kver))
            self.guests = [Guest(self, i + 1) for i in range(self.n)]
            # A booting TCG guest keeps a core busy: no more guests boot at once than there
            # are cores (3 at once on 2 cores took longer than 2, then the third alone); the
            # next starts when one is booted (its sanpoold, sanlock and checks cost little).
            slots = max(1, os.cpu_count() or 1)
            waiting, booting = list(self.guests), []
            while waiting or booting:
                while waiting and len(booting) < slots:
                    booting.append(waiting.pop(0))
                    booting[-1].start()
                for g in list(booting):
                    if g.booted():
                        booting.remove(g)
                    elif time.monotonic() - g.started > self.boot_timeout:
                        raise HarnessError("%s: no ready marker within %ds" % (g.name, self.boot_timeout))
                time.sleep(0.1)
            for g in self.guests:
                g.ready = g.wait_ready(self.boot_timeout - (time.monotonic() - g.started))
            log("cluster of %d up in %.1fs" % (self.n, time.monotonic() - t0))
            while CLUSTER_UP:
                CLUSTER_UP.pop(0)(self)
        except BaseException:
            self.collect_logs()
            self.stop()
            raise
        return self

    def collect_logs(self, reason="failure"):
        """Copies every guest's console, guest script and sanpoold logs (and tgtd's) out of the
        work dir before it is removed; prints their tails. Returns the directory."""
        if not self.workdir or not os.path.isdir(self.workdir):
            return None
        dest = os.environ.get("SANPOOL_CLUSTER_LOGS") or "/tmp/sanpool-cluster-logs-%s" % time.strftime("%Y%m%d-%H%M%S")
        os.makedirs(dest, exist_ok=True)
        for g in self.guests + ([self.target.guest] if isinstance(self.target, LioArray) else []):
            for name in ("console.log", "guest.log", "sanpoold.log", "qemu.log"):
                src = os.path.join(g.dir, name)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(dest, "%s-%s" % (g.name, name)))
                    sys.stderr.write("---- %s %s (tail) ----\n%s\n" % (g.name, name, g.read(name, tail=1500)))
        if os.path.exists(os.path.join(self.workdir, "tgtd.log")):
            shutil.copy(os.path.join(self.workdir, "tgtd.log"), os.path.join(dest, "tgtd.log"))
        log("logs (%s) kept in %s" % (reason, dest))
        return dest

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for g in self.guests:
            g.stop()
        if self.target is not None:
            self.target.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            atexit.unregister(self.stop)
            signal.signal(signal.SIGTERM, self._old_term)
        except (AttributeError, TypeError, ValueError):
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.collect_logs()
        self.stop()


def merge_cluster_configs(configs):
    """One Cluster(**config) that serves every test class of a share (ClusterTestCase.SHARE):
    the most guests and memory any class asks for, every class's extra targets, libvirt if any
    asks, the union of their sanpoold.conf keys; any other setting must agree."""
    merged = {}
    for cfg in configs:
        for key, value in cfg.items():
            if key not in merged:
                merged[key] = list(value) if key == "extra_targets" else (dict(value) if key == "conf" else value)
            elif key in ("n", "memory_mib"):
                merged[key] = max(merged[key], value)
            elif key == "libvirt":
                merged[key] = merged[key] or value
            elif key == "extra_targets":
                merged[key] += [t for t in value if t not in merged[key]]
            elif key == "conf":
                for k, v in value.items():
                    if merged[key].setdefault(k, v) != v:
                        raise HarnessError("shared cluster: sanpoold.conf %s is %r and %r" % (k, merged[key][k], v))
            elif merged[key] != value:
                raise HarnessError("shared cluster: %s is %r and %r" % (key, merged[key], value))
    names = [t["name"] for t in merged.get("extra_targets", [])]
    if len(names) != len(set(names)):
        raise HarnessError("shared cluster: two different extra targets named alike: %s" % names)
    return merged


class ClusterTestCase(unittest.TestCase):
    """One cluster (Cluster(**CLUSTER)) for a whole test class, stopped after it;
    the guests' logs are collected when any of its tests failed.

    SHARE: classes with the same SHARE name that run in one process (one ctest entry
    naming their files) share one cluster, booted once for all of them with
    merge_cluster_configs() of their CLUSTERs, and stopped after the last of them (or at
    exit, if some of them do not run). They run in the order given, each on the state the
    last left: a class must not assume what it does not make (a fresh LUN, no pool)."""
    CLUSTER = {}
    SHARE = None
    cluster = None
    failed = False
    _sharing = []  # every class with a SHARE, as defined (imported)
    _shared = {}   # SHARE -> the running Cluster, or the exception its start raised

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.SHARE:
            ClusterTestCase._sharing.append(cls)

    @classmethod
    def _share_classes(cls):
        return [c for c in ClusterTestCase._sharing if c.SHARE == cls.SHARE]

    @classmethod
    def setUpClass(cls):
        # a failed start collects logs and stops itself
        if not cls.SHARE:
            cls.cluster = Cluster(**cls.CLUSTER).start()
        else:
            shared = ClusterTestCase._shared.get(cls.SHARE)
            if shared is None:
                classes = cls._share_classes()
                log("%s: one cluster for %s" % (cls.SHARE, ", ".join(c.__name__ for c in classes)))
                try:
                    shared = Cluster(**merge_cluster_configs(c.CLUSTER for c in classes)).start()
                except Exception as e:
                    shared = e
                ClusterTestCase._shared[cls.SHARE] = shared
            if isinstance(shared, Exception):
                raise shared
            cls.cluster = shared
        cls.g = cls.cluster.guests

    @classmethod
    def tearDownClass(cls):
        if cls.cluster is None:
            return
        if cls.failed:
            cls.cluster.collect_logs()
        if cls.SHARE:
            cls.done = True
            if not all(getattr(c, "done", False) for c in cls._share_classes()):
                return  # the next class of the share runs on it
            del ClusterTestCase._shared[cls.SHARE]
        cls.cluster.stop()

    def run(self, result=None):
        errors = len(result.errors) + len(result.failures) if result else 0
        for hook in list(SCENARIO_START):
            hook(self._testMethodName)
        t0 = time.monotonic()
        r = super().run(result)
        # what each scenario costs: the tier has a time budget (README)
        log("%s: %.1fs" % (self._testMethodName, time.monotonic() - t0))
        if result is not None and len(result.errors) + len(result.failures) > errors:
            type(self).failed = True
        return r


def _sigterm(signum, frame):
    # as Ctrl-C: unittest lets KeyboardInterrupt through (a SystemExit would only fail one
    # test), so the cleanup paths and atexit run and the process ends
    raise KeyboardInterrupt("SIGTERM")


if __name__ == "__main__":
    # By hand: boot a cluster, print how to reach it, keep it up until Ctrl-C.
    n = int(sys.argv[1]) if len(sys.argv) > 1 else None
    with Cluster(n) as c:
        for g in c.guests:
            print("%s: https://127.0.0.1:%d/v1  (io dir %s)" % (g.name, g.port, g.dir))
        print("mutual TLS: curl --cacert {0}/ca.pem --cert {0}/client.pem --key {0}/client.key URL".format(c.pki))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
