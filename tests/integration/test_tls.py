"""The API's access paths: mutual TLS on TCP, the root-only unix socket, and
plain HTTP only on loopback (issue 8, point 2). Certificates come from
scripts/make-certs (openssl), the daemon and sanpoolctl are the real binaries."""
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import unittest

from sanpool import ROOT, SANPOOLCTL, Daemon, DaemonTest

MAKE_CERTS = os.path.join(ROOT, "scripts", "make-certs")


def make_certs(pki):
    """A CA with server and client certificates, an expired client, a server
    certificate used as a client's, and a second CA with its own client."""
    subprocess.run([MAKE_CERTS, "init", pki], check=True)
    subprocess.run([MAKE_CERTS, "issue", pki, "expired", "client", "--expired"], check=True)
    subprocess.run([MAKE_CERTS, "issue", pki, "server2", "server"], check=True)
    subprocess.run([MAKE_CERTS, "init", os.path.join(pki, "other")], check=True)


def ctl_env():
    env = dict(os.environ)
    env.pop("SANPOOL_URL", None)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class MutualTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="sanpool-pki-")
        make_certs(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-test-")
        self.d = Daemon(self.tmp, conf_extra="tls = yes\ntls_cert = %s/server.pem\ntls_key = %s/server.key\n"
                        "tls_ca = %s/ca.pem\n" % (self.pki, self.pki, self.pki))
        self.d.start()

    def tearDown(self):
        rc = self.d.stop()
        if rc != 0:
            self.fail("sanpoold exited with %s on SIGTERM; log:\n%s" % (rc, self.d.read_log()[-5000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def context(self, client=None, pki=None):
        """A TLS client context that checks the server against our CA, with an optional client certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.pki, "ca.pem"))
        if client:
            d = pki or self.pki
            ctx.load_cert_chain(os.path.join(d, client + ".pem"), os.path.join(d, client + ".key"))
        return ctx

    def exchange(self, ctx):
        """Opens a TLS connection, sends GET /v1/host and reads what comes back:
        the bytes received, or the TLS error that ended the exchange."""
        raw = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
        got = b""
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /v1/host HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
        except (ssl.SSLError, ConnectionError) as e:
            return got, e
        finally:
            raw.close()
        return got, None

    def test_client_with_a_certificate_from_the_ca_is_served(self):
        got, err = self.exchange(self.context("client"))
        self.assertIsNone(err)
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(json.loads(body)["api_version"], "v1")

    def assert_refused(self, ctx, why=None):
        got, err = self.exchange(ctx)
        # no HTTP at all: the handshake failed (the server's alert may reach
        # a TLS 1.3 client only at its first read)
        self.assertNotIn(b"HTTP/", got)
        self.assertEqual(got, b"")
        if why:
            deadline = time.monotonic() + 10
            while why not in self.d.read_log():
                self.assertLess(time.monotonic(), deadline, "no log line %r:\n%s" % (why, self.d.read_log()))
                time.sleep(0.05)
        return err

    def test_client_without_a_certificate_gets_nothing(self):
        self.assert_refused(self.context())

    def test_certificate_from_another_ca_is_refused_in_the_handshake(self):
        self.assert_refused(self.context("client", os.path.join(self.pki, "other")), "issuer is unknown")

    def test_expired_certificate_is_refused_in_the_handshake(self):
        self.assert_refused(self.context("expired"), "expired")

    def test_server_certificate_is_no_client_credential(self):
        # signed by the right CA, but for serverAuth only
        self.assert_refused(self.context("server2"), "intended purpose")

    def test_plain_http_on_the_tls_port_gets_no_answer(self):
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=30) as s:
            s.sendall(b"GET /v1/host HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionError:
                pass
        self.assertNotIn(b"HTTP/", got)

    def test_a_valid_client_still_served_after_refusals(self):
        self.assert_refused(self.context())
        self.assert_refused(self.context("expired"))
        got, err = self.exchange(self.context("client"))
        self.assertIsNone(err)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])

    def ctl(self, *args):
        return subprocess.run([SANPOOLCTL, "--url", "https://127.0.0.1:%d" % self.d.port] + list(args),
                              capture_output=True, text=True, env=ctl_env(), timeout=120)

    def test_sanpoolctl_with_client_certificate(self):
        p = self.ctl("--cert", self.pki + "/client.pem", "--key", self.pki + "/client.key",
                     "--cacert", self.pki + "/ca.pem", "--json", "host")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["api_version"], "v1")
        # and a change through it: an image created over mutual TLS
        p = self.ctl("--cert", self.pki + "/client.pem", "--key", self.pki + "/client.key",
                     "--cacert", self.pki + "/ca.pem", "image", "create", "--name", "overtls", "--format", "raw",
                     "--capacity", "1M")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_sanpoolctl_without_client_certificate_fails(self):
        p = self.ctl("--cacert", self.pki + "/ca.pem", "host")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("error", p.stderr)
        self.assertEqual(p.stdout, "")


class UnixSocketTest(DaemonTest):
    """The harness's daemon serves its local_socket in its work directory."""

    def test_socket_is_root_only(self):
        st = os.stat(self.d.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.getuid())  # the daemon's user: root in production

    def test_same_routes_as_tcp(self):
        c = UnixHTTPConnection(self.d.sock)
        c.request("GET", "/v1/domains")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read()), self.d.get("/v1/domains")[1])
        c.request("POST", "/v1/domains/%s/images" % self.dom, body=json.dumps({"name": 5}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        self.assertEqual(r.status, 400)
        self.assertEqual(json.loads(r.read())["error"]["field"], "name")
        c.close()

    def test_sanpoolctl_through_the_socket(self):
        env = ctl_env()
        p = subprocess.run([SANPOOLCTL, "--socket", self.d.sock, "--json", "host"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["api_version"], "v1")
        p = subprocess.run([SANPOOLCTL, "--socket", self.d.sock, "image", "create", "--name", "viasock",
                            "--format", "qcow2", "--capacity", "16M"], capture_output=True, text=True, env=env,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, imgs = self.d.get(self.img_path())
        self.assertEqual([i["name"] for i in imgs], ["viasock"])

    def test_socket_removed_on_stop_and_stale_one_replaced(self):
        self.assertEqual(self.d.stop(), 0)
        self.assertFalse(os.path.exists(self.d.sock))
        # a socket left by a crash: nobody listens on it
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.d.sock)
        s.close()
        self.d.start()
        self.assertIn("removed the stale local_socket", self.d.read_log())
        c = UnixHTTPConnection(self.d.sock)
        c.request("GET", "/v1/host")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_socket_held_but_not_served_is_replaced(self):
        # after a kill -9, a child between fork and exec may still hold the
        # listening socket: connections complete, nobody answers (found by
        # test_faults.py: the restarted daemon refused to start)
        self.assertEqual(self.d.stop(), 0)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.d.sock)
        s.listen(8)  # never accepted
        try:
            self.d.start()
            self.assertIn("removed the stale local_socket", self.d.read_log())
            c = UnixHTTPConnection(self.d.sock)
            c.request("GET", "/v1/host")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            s.close()

    def test_second_daemon_does_not_take_a_live_socket(self):
        os.mkdir(os.path.join(self.tmp, "other"))
        other = Daemon(os.path.join(self.tmp, "other"), conf_extra="local_socket = %s\n" % self.d.sock)
        other.start(expect_ready=False)
        rc = other.proc.wait(timeout=60)
        other.log.close()
        self.assertNotEqual(rc, 0)
        self.assertIn("another process serves it", other.read_log())
        # the first daemon still answers on it
        c = UnixHTTPConnection(self.d.sock)
        c.request("GET", "/v1/host")
        self.assertEqual(c.getresponse().status, 200)
        c.close()


DEFAULT_SOCKET = "/run/sanpool/sanpoold.sock"


@unittest.skipUnless(os.geteuid() == 0 and not os.path.exists(DEFAULT_SOCKET),
                     "needs root and no sanpoold on %s" % DEFAULT_SOCKET)
class DefaultSocketTest(DaemonTest):
    """sanpoolctl with no --url and no $SANPOOL_URL: the packaged local socket
    when it exists. The daemon has a host_id no other would have, and no TCP
    port sanpoolctl could guess (port 0)."""

    conf_extra = "local_socket = %s\nhost_id = 1999\n" % DEFAULT_SOCKET

    def test_sanpoolctl_uses_the_local_socket_by_default(self):
        p = subprocess.run([SANPOOLCTL, "--json", "host"], capture_output=True, text=True, env=ctl_env(),
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["host_id"], 1999)
        # an explicit URL still wins over the socket
        p = subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:1", "host"], capture_output=True, text=True,
                           env=ctl_env(), timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("127.0.0.1:1", p.stderr)


class RefusedConfigTest(unittest.TestCase):
    """Configurations the daemon refuses at start, saying why, before it listens."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_refused(self, conf_extra):
        d = Daemon(self.tmp, conf_extra=conf_extra)
        d.start(expect_ready=False)
        rc = d.proc.wait(timeout=60)
        d.log.close()
        self.assertEqual(rc, 1, d.read_log())  # sanpoold's own failure exit, not a crash or a leak report
        self.assertFalse(os.path.exists(d.sock), "the local socket must not be served")
        return d.read_log()

    def test_plain_http_on_a_non_loopback_address(self):
        for addr in ("0.0.0.0", "::"):
            log = self.start_refused("listen_address = %s\ntls = no\n" % addr)
            self.assertIn("plain HTTP is allowed on a loopback address only", log)
            self.assertNotIn("ready", log)

    def test_tls_without_its_files(self):
        log = self.start_refused("tls = yes\ntls_cert = %s/none.pem\ntls_key = %s/none.key\ntls_ca = %s/ca.pem\n"
                                 % (self.tmp, self.tmp, self.tmp))
        self.assertIn("cannot read tls_cert %s/none.pem" % self.tmp, log)

    def test_tls_key_not_matching_certificate(self):
        pki = os.path.join(self.tmp, "pki")
        subprocess.run([MAKE_CERTS, "init", pki], check=True)
        log = self.start_refused("tls = yes\ntls_cert = %s/server.pem\ntls_key = %s/client.key\ntls_ca = %s/ca.pem\n"
                                 % (pki, pki, pki))
        self.assertIn("tls_cert %s/server.pem with tls_key %s/client.key" % (pki, pki), log)


if __name__ == "__main__":
    unittest.main()
