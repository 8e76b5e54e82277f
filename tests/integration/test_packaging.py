"""The Debian package (issue 8, point 1): built for real by dpkg-buildpackage
through scripts/make-deb, then looked at as dpkg would install it, and its
daemon started from the extracted tree with the packaged configuration
(mutual TLS), only the paths pointed at this test's directory and certificates.
Nothing is installed on this machine (no dpkg -i: CI runs here)."""
import glob
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import unittest

from sanpool import ROOT

NEEDED = ("dpkg-buildpackage", "dh", "dpkg-deb")


@unittest.skipUnless(all(shutil.which(t) for t in NEEDED), "needs %s (scripts/install-deps)" % ", ".join(NEEDED))
class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sanpool-deb-")
        # ctest builds the package once for this test and the cluster tier's
        # (the "deb" fixture, tests/CMakeLists.txt) and passes it in SANPOOL_DEB
        cls.deb = os.environ.get("SANPOOL_DEB")
        if not cls.deb:
            out = os.path.join(cls.tmp, "out")
            p = subprocess.run([os.path.join(ROOT, "scripts", "make-deb"), out], capture_output=True, text=True,
                               env=dict(os.environ, JOBS="2"), timeout=840)
            if p.returncode != 0:
                shutil.rmtree(cls.tmp, ignore_errors=True)
                raise AssertionError("make-deb failed:\n%s\n%s" % (p.stdout[-5000:], p.stderr[-5000:]))
            debs = glob.glob(os.path.join(out, "sanpool_*_*.deb"))
            assert len(debs) == 1, debs
            cls.deb = debs[0]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.control = os.path.join(cls.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.control], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_file_list(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], check=True, capture_output=True,
                                 text=True).stdout.splitlines()
        files = {}
        for line in listing:
            mode, _, _, _, _, path = line.split(None, 5)
            if not mode.startswith("d"):
                files[path.lstrip(".")] = mode
        self.assertEqual(sorted(files), [
            "/etc/sanpool/sanpoold.conf",
            "/lib/systemd/system/sanpoold.service",
            "/usr/bin/sanpoolctl",
            "/usr/sbin/sanpoold",
            "/usr/share/doc/sanpool/README.md.gz",
            "/usr/share/doc/sanpool/changelog.gz",
            "/usr/share/doc/sanpool/copyright",
            "/usr/share/doc/sanpool/design.md.gz",
            "/usr/share/sanpool/make-certs",
        ])
        for exe in ("/usr/bin/sanpoolctl", "/usr/sbin/sanpoold", "/usr/share/sanpool/make-certs"):
            self.assertEqual(files[exe], "-rwxr-xr-x", exe)
        self.assertEqual(files["/etc/sanpool/sanpoold.conf"], "-rw-r--r--")

    def test_control(self):
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/sanpool/sanpoold.conf"])
        info = subprocess.run(["dpkg-deb", "-f", self.deb, "Package", "Depends"], check=True, capture_output=True,
                              text=True).stdout
        self.assertIn("Package: sanpool", info)
        for dep in ("libmicrohttpd12", "libgnutls30", "liblvm2cmd", "lvm2", "sanlock", "qemu-utils", "openssl"):
            self.assertIn(dep, info)
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        # enabled and started on install, after the first certificates exist
        self.assertIn("deb-systemd-helper enable 'sanpoold.service'", postinst)
        self.assertIn("deb-systemd-invoke $_dh_action 'sanpoold.service'", postinst)
        self.assertLess(postinst.index("make-certs init"), postinst.index("deb-systemd-invoke"))

    def test_unit(self):
        with open(os.path.join(self.root, "lib/systemd/system/sanpoold.service")) as f:
            unit = f.read()
        with open(os.path.join(ROOT, "packaging", "sanpoold.service")) as f:
            self.assertEqual(unit, f.read())
        for line in ("Type=notify", "ExecStart=/usr/sbin/sanpoold --config /etc/sanpool/sanpoold.conf",
                     "Restart=on-failure", "WatchdogSec=30s", "RuntimeDirectory=sanpool"):
            self.assertIn("\n" + line + "\n", unit)
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze")
        # verify resolves ExecStart on this machine, where nothing is installed:
        # the copy points at the extracted binary
        vdir = os.path.join(self.tmp, "verify")
        os.makedirs(vdir, exist_ok=True)
        path = os.path.join(vdir, "sanpoold.service")
        with open(path, "w") as f:
            f.write(unit.replace("ExecStart=/usr/sbin/sanpoold", "ExecStart=%s/usr/sbin/sanpoold" % self.root))
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=120)
        # verify exits 0 even on unknown keys and bad values: its output is the verdict
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_packaged_daemon_starts_with_the_packaged_config(self):
        work = os.path.join(self.tmp, "run")
        os.makedirs(work)
        pki = os.path.join(work, "pki")
        # the packaged helper makes the certificates, as the postinst does
        subprocess.run([os.path.join(self.root, "usr/share/sanpool/make-certs"), "init", pki], check=True)
        with open(os.path.join(self.root, "etc/sanpool/sanpoold.conf")) as f:
            packaged = f.read()
        self.assertIn("\ntls = yes\n", packaged)  # the packaged default is mutual TLS
        conf = os.path.join(work, "sanpoold.conf")
        sock = os.path.join(work, "sanpoold.sock")
        with open(conf, "w") as f:
            # later keys win: only where things live changes
            f.write(packaged)
            f.write("\n# test overrides\nport = 0\ndata_dir = %s/var\nrun_dir = %s/run\nlocal_socket = %s\n"
                    "tls_cert = %s/server.pem\ntls_key = %s/server.key\ntls_ca = %s/ca.pem\n"
                    "lvm_activation = no\n" % (work, work, sock, pki, pki, pki))
        port, proc, log = self.start(os.path.join(self.root, "usr/sbin/sanpoold"), conf, work)
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(os.path.join(pki, "ca.pem"))
            ctx.load_cert_chain(os.path.join(pki, "client.pem"), os.path.join(pki, "client.key"))
            with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(b"GET /v1/host HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    got = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
            st = os.stat(sock)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            p = subprocess.run([os.path.join(self.root, "usr/bin/sanpoolctl"), "--socket", sock, "--json", "host"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["api_version"], "v1")
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            log.close()
        with open(os.path.join(work, "sanpoold.log")) as f:
            text = f.read()
        self.assertEqual(rc, 0, text)
        self.assertIn("API on https://127.0.0.1:", text)
        self.assertNotIn("plain HTTP", text)

    def start(self, exe, conf, work, timeout=30):
        """Starts exe as systemd would (NOTIFY_SOCKET); returns (port, process, log) once READY=1."""
        path = os.path.join(work, "notify.sock")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.bind(path)
        log = open(os.path.join(work, "sanpoold.log"), "ab")
        proc = subprocess.Popen([exe, "--config", conf], stdout=log, stderr=log,
                                env=dict(os.environ, NOTIFY_SOCKET=path))
        try:
            deadline = time.monotonic() + timeout
            while True:
                n.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    msg = n.recv(4096).decode()
                except socket.timeout:
                    proc.kill()
                    proc.wait()
                    log.close()
                    with open(os.path.join(work, "sanpoold.log")) as f:
                        raise AssertionError("the packaged sanpoold did not become ready:\n" + f.read())
                if "READY=1" in msg:
                    status = [l for l in msg.split("\n") if l.startswith("STATUS=")][0]
                    return int(status.rsplit(":", 1)[1]), proc, log
        finally:
            n.close()


# What both packages ship, by where the file goes (docs and the unit
# directory differ between the distributions by convention).
SHIPPED = ["/etc/sanpool/sanpoold.conf", "/usr/bin/sanpoolctl", "/usr/sbin/sanpoold", "/usr/share/sanpool/make-certs"]


@unittest.skipUnless(shutil.which("rpmbuild"), "needs rpmbuild (Debian's rpm package, scripts/install-deps)")
class RpmSpecTest(unittest.TestCase):
    """packaging/sanpool.spec builds, with Debian's rpmbuild (--nodeps: the
    BuildRequires name Fedora's packages), into the files the .deb has."""

    def test_spec_builds_the_same_files(self):
        tmp = tempfile.mkdtemp(prefix="sanpool-rpm-")
        try:
            self.build_and_check(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def build_and_check(self, tmp):
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = [l for l in f if l.startswith("project(sanpool VERSION")][0].split()[2]
        with open(os.path.join(ROOT, "packaging", "sanpool.spec")) as f:
            self.assertIn("\nVersion:        %s\n" % version, f.read())
        os.makedirs(os.path.join(tmp, "SOURCES"))
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
        files = b"\0".join(f for f in files.split(b"\0") if f and os.path.exists(os.path.join(ROOT, f.decode())))
        subprocess.run(["tar", "--null", "-T", "-", "--transform", "s,^,sanpool-%s/," % version, "-czf",
                        os.path.join(tmp, "SOURCES", "sanpool-%s.tar.gz" % version)], cwd=ROOT, input=files,
                       check=True)
        p = subprocess.run(["nice", "rpmbuild", "-bb", "--nodeps", "--define", "_topdir " + tmp,
                            "--define", "debug_package %{nil}", "--define", "_smp_mflags -j2",
                            os.path.join(ROOT, "packaging", "sanpool.spec")],
                           capture_output=True, text=True, timeout=840)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        rpms = glob.glob(os.path.join(tmp, "RPMS", "*", "sanpool-%s-*.rpm" % version))
        self.assertEqual(len(rpms), 1, rpms)
        listed = subprocess.run(["rpm", "-qlp", rpms[0]], check=True, capture_output=True,
                                text=True).stdout.split()
        listed = [f for f in listed if not f.startswith("/usr/lib/.build-id")]
        for f in SHIPPED + ["/usr/lib/systemd/system/sanpoold.service", "/usr/share/doc/sanpool-%s/README.md" % version]:
            self.assertIn(f, listed)
        self.assertEqual(subprocess.run(["rpm", "-qpc", rpms[0]], check=True, capture_output=True,
                                        text=True).stdout.split(), ["/etc/sanpool/sanpoold.conf"])
        scripts = subprocess.run(["rpm", "-qp", "--scripts", rpms[0]], check=True, capture_output=True,
                                 text=True).stdout
        self.assertIn("/usr/share/sanpool/make-certs init /etc/sanpool/pki", scripts)


if __name__ == "__main__":
    unittest.main()
