"""Storage connections and devices in the fast tier (no iSCSI or multipath in this
machine's kernel: the cluster tier, tests/cluster/test_devices.py, logs in for real).
Here: every bad connection request is refused naming its field, with nothing kept and
no secret echoed or logged; devices are listed as unavailable without multipathd."""
import os

from sanpool import DaemonTest, tree_snapshot

IQN = "iqn.2026-11.org.sanpool.test:lun"
SECRET = "Very-Secret-Chap-42"
NO_UUID = "abcdef00-0000-4000-8000-00000000000a"


class ConnectionsTest(DaemonTest):
    def refused(self, body, field, status=400):
        disk = tree_snapshot(self.d.data_dir)
        st, err = self.d.post("/v1/connections", body)
        self.assertEqual(st, status, (body, err))
        self.assertEqual(err["error"]["field"], field, (body, err))
        self.assertNotIn(SECRET, str(err))
        self.assertEqual(tree_snapshot(self.d.data_dir), disk, "%r changed files" % body)
        self.assertFalse(os.path.exists(os.path.join(self.d.data_dir, "connections.json")))

    def test_bad_connection_requests(self):
        ok = {"target": IQN, "portals": ["10.0.2.2:3260"]}
        for target in ("", "IQN.2026-11.x:y", "iqn.a b", "-o", "iqn." + "a" * 250, "foo.bar", "iqn.x\u0000y"):
            with self.subTest(target=target):
                self.refused(dict(ok, target=target), "target")
        for portals in ([], ["-p"], ["1.2.3.4:99999"], ["1.2.3.4:"], ["a b"], ["1.2.3.4", "1.2.3.4"],
                        ["10.0.0.%d" % i for i in range(9)], ["[zz::1]:3260"], [""]):
            with self.subTest(portals=portals):
                self.refused(dict(ok, portals=portals), "portals")
        self.refused(dict(ok, portals=[5]), "portals")
        self.refused(dict(ok, kind="tape"), "kind")
        self.refused(dict(ok, kind="nfs"), "target")
        self.refused(dict(ok, export="srv:/x"), "export")
        self.refused(dict(ok, chap_username="u"), "chap_password")
        self.refused(dict(ok, chap_password=SECRET), "chap_username")
        self.refused(dict(ok, chap_username="u", chap_password="short"), "chap_password")
        self.refused(dict(ok, chap_username="u", chap_password=SECRET + " x"), "chap_password")
        self.refused(dict(ok, chap_username="a user", chap_password=SECRET), "chap_username")
        self.refused(dict(ok, chap_username="u", chap_password=7), "chap_password")
        self.refused({"portals": ["10.0.2.2"]}, "target")
        self.refused({"target": IQN}, "portals")
        self.assertNotIn(SECRET, self.d.read_log())
        st, lst = self.d.get("/v1/connections")
        self.assertEqual((st, lst), (200, {"connections": []}))

    def test_bad_nfs_requests(self):
        ok = {"kind": "nfs", "export": "nfs.example.org:/exports/sanpool"}
        for export in ("", "server", "/path/only", "server:relative", ":/x", "-o:/x", "srv:/a/../b", "srv:/a/..",
                       "srv:/a/./b", "srv:/a//b", "srv:/a b", "srv:/a,b", "a b:/x", "[zz]:/x", "srv:/a\nb"):
            with self.subTest(export=export):
                self.refused(dict(ok, export=export), "export")
        for opts in ("ro", "rw,ro", "vers=5", "suid", "exec", "dev", "port=0", "timeo=-1", "sec=none", "a=b",
                     "soft,,hard", "remount", "context=system_u:object_r:x", "vers=4.2 ,soft", "x" * 600):
            with self.subTest(opts=opts):
                self.refused(dict(ok, mount_options=opts), "mount_options")
        self.refused({"kind": "nfs"}, "export")
        self.refused(dict(ok, portals=["10.0.2.2"]), "portals")
        self.refused(dict(ok, chap_username="u", chap_password=SECRET), "chap_username")

    def test_unknown_connection(self):
        for method in ("GET", "DELETE"):
            st, err = self.d.request(method, "/v1/connections/" + NO_UUID)
            self.assertEqual(st, 404, err)
            st, err = self.d.request(method, "/v1/connections/not-a-uuid")
            self.assertEqual((st, err["error"]["field"]), (400, "connection"), err)

    def test_devices_without_multipathd(self):
        st, devs = self.d.get("/v1/devices")
        self.assertEqual(st, 200, devs)
        self.assertIn(devs["multipath"], ("running", "unavailable"))
        if devs["multipath"] == "unavailable":
            self.assertEqual(devs["devices"], [])
        st, err = self.d.post("/v1/devices/rescan", {"x": 1})
        self.assertEqual((st, err["error"]["field"]), (400, "x"), err)
