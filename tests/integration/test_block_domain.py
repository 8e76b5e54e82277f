"""Block storage domains in the fast tier: an LVM VG on a loop device, with LV
activation off (no device-mapper here). Everything that needs no volume data
runs for real through liblvm2cmd; after each step the model read through the
API must equal what LVM itself reports (`lvs --reportformat json`)."""
import json
import os
import subprocess
import unittest

from sanpool import GiB, MiB, Daemon, DaemonTest

EXTENT = 128 * MiB
SPECIAL = {"ids", "leases", "inbox", "outbox", "journal"}


def run(*argv, env=None):
    return subprocess.run(list(argv), capture_output=True, text=True, env=env)


def make_loop(tmp, size=40 * GiB):
    backing = os.path.join(tmp, "lun.img")
    with open(backing, "wb") as f:
        f.truncate(size)
    r = run("losetup", "-f", "--show", backing)
    if r.returncode != 0:
        raise unittest.SkipTest("no loop device: " + r.stderr.strip())
    return r.stdout.strip()


class BlockTest(DaemonTest):
    bootstrap = False

    def setUp(self):
        self.loop = None
        self.vg = None
        super().setUp()

    def start_with_block(self):
        """Restarts the daemon with a run_dir in the test dir, a loop device and a block domain."""
        self.d.stop()
        self.d = Daemon(self.tmp, conf_extra="lvm_activation = no\nrun_dir = %s/run\n" % self.tmp, bootstrap=False)
        self.d.start()
        self.loop = make_loop(self.tmp)
        st, dom = self.d.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 201, dom)
        self.assertEqual(dom["kind"], "block")
        self.dom = self.vg = dom["uuid"]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if self.vg:
                self.lvm("vgremove", "-f", self.vg)
            if self.loop:
                run("losetup", "-d", self.loop)

    def lvm(self, *argv):
        """Runs an LVM command the way an operator would, restricted to the test's loop device."""
        env = dict(os.environ, LVM_SYSTEM_DIR=os.path.join(self.tmp, "run", "lvm"), LVM_SUPPRESS_FD_WARNINGS="1")
        filt = 'devices { filter = [ "a|^%s$|", "r|.*|" ] }' % self.loop
        return run(argv[0], "--config", filt, *argv[1:], env=env)

    def lvs(self):
        r = self.lvm("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
                     "-o", "lv_name,lv_size,lv_tags", self.vg)
        self.assertEqual(r.returncode, 0, r.stderr)
        lvs = json.loads(r.stdout)["report"][0]["lv"]
        return {lv["lv_name"]: (int(lv["lv_size"]), dict(t.split("=", 1) for t in lv["lv_tags"].split(",") if t))
                for lv in lvs}

    def api_volumes(self):
        st, images = self.d.get(self.img_path())
        self.assertEqual(st, 200)
        out = {}
        for img in images:
            st, vols = self.d.get(self.img_path(img["uuid"]) + "/volumes")
            for v in vols:
                out[v["uuid"]] = v
        return out

    def assert_model_equals_lvm(self):
        lvs = self.lvs()
        self.assertEqual(SPECIAL, SPECIAL & set(lvs))
        volumes = self.api_volumes()
        self.assertEqual(set(volumes), set(lvs) - SPECIAL)
        for uuid, v in volumes.items():
            size, tags = lvs[uuid]
            self.assertEqual(tags["sp.i"], v["image"])
            self.assertEqual(tags.get("sp.p"), v["parent"])
            self.assertEqual(tags.get("sp.pi"), v["parent_image"])
            self.assertEqual(tags["sp.f"], v["format"])
            self.assertEqual(int(tags["sp.c"]), v["capacity"])
            self.assertEqual(tags["sp.l"], v["legality"][0])
            self.assertEqual(tags["sp.s"] == "1", v["shared"])
            self.assertEqual(int(tags["sp.g"]), v["generation"])
            if v["format"] == "raw":
                self.assertEqual(size, -(-v["capacity"] // EXTENT) * EXTENT)
            else:
                # thin: starts at the initial size (1 GiB), or less when the capacity needs less
                self.assertLessEqual(size, GiB)
        return volumes

    def test_volumes_snapshots_templates_clones_deletes(self):
        self.start_with_block()
        raw, raw_vol = self.d.create_image(self.dom, fmt="raw", capacity=3 * GiB + 512, allocation="preallocated")
        thin, base = self.d.create_image(self.dom, fmt="qcow2", capacity=100 * GiB)
        small, _ = self.d.create_image(self.dom, fmt="qcow2", capacity=64 * MiB)
        self.assert_model_equals_lvm()
        self.assertEqual(self.lvs()[raw_vol][0], 25 * EXTENT)
        top = self.d.run_task("POST", self.img_path(thin) + "/snapshots")[0]["volume"]
        vols = self.assert_model_equals_lvm()
        self.assertEqual(vols[top]["parent"], base)

        self.d.run_task("POST", self.img_path(small) + "/template")
        clones = [self.d.run_task("POST", self.img_path(small) + "/clone", {"name": "vm%d" % i})[0]
                  for i in range(3)]
        vols = self.assert_model_equals_lvm()
        for c in clones:
            self.assertEqual(vols[c["volume"]]["parent_image"], small)

        self.d.run_task("DELETE", self.img_path(thin) + "/volumes/" + top)
        self.d.run_task("DELETE", self.img_path(raw))
        self.assert_model_equals_lvm()
        for c in clones:
            self.d.run_task("DELETE", self.img_path(c["image"]))
        self.d.run_task("DELETE", self.img_path(small))
        vols = self.assert_model_equals_lvm()
        self.assertEqual(set(vols), {base})

        # the model is LVM's: a restart reads the same from the VG
        before = self.api_volumes()
        self.d.stop()
        self.d.start()
        self.assertEqual(self.api_volumes(), before)

    def test_operations_that_need_data_are_refused_without_activation(self):
        self.start_with_block()
        image, _ = self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)
        self.d.run_task("POST", self.img_path(image) + "/snapshots")
        lvs = self.lvs()
        for method, path, body in (
            ("POST", self.img_path(image) + "/copy", {"domain": self.dom}),
            ("POST", self.img_path(image) + "/resize", {"capacity": 2 * GiB}),
            ("DELETE", self.img_path(image) + "/snapshots/" + self.d.get(self.img_path(image))[1]["top_volume"], None),
        ):
            st, err = self.d.request(method, path, body=body)
            self.assertEqual(st, 409, err)
            self.assertEqual(err["error"]["code"], "no_data_access")
        self.assertEqual(self.lvs(), lvs)

    def test_crash_during_create_is_rolled_back_from_the_journal_on_the_vg(self):
        self.start_with_block()
        self.d.stop()
        self.d.start(env_extra={"SANPOOL_CRASH_AT": "create.after_illegal_meta"})
        st, acc = self.d.post(self.img_path(), {"name": "x", "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202)
        self.d.proc.wait(timeout=60)
        # the LV exists, ILLEGAL: the crash came between its creation and its completion
        self.assertEqual(self.lvs()[acc["volume"]][1]["sp.l"], "I")
        self.d.kill()
        self.d.start()
        st, t = self.d.get("/v1/tasks/" + acc["task"])
        self.assertEqual(st, 200, t)
        self.assertTrue(t["recovered"])
        self.assertEqual(t["state"], "failed")
        self.assertNotIn(acc["volume"], self.lvs())
        self.assert_model_equals_lvm()

    def test_bad_block_domain_requests(self):
        self.start_with_block()
        lvs = self.lvs()
        for body, field in (
            ({"name": "b2", "kind": "block"}, "devices"),
            ({"name": "b2", "kind": "block", "devices": []}, "devices"),
            ({"name": "b2", "kind": "block", "devices": ["/etc/passwd"]}, "devices"),
            ({"name": "b2", "kind": "block", "devices": ["/dev/loop0 /dev/sda"]}, "devices"),
            ({"name": "b2", "kind": "block", "devices": ["relative"]}, "devices"),
            ({"name": "b2", "kind": "block", "devices": [self.loop, self.loop]}, "devices"),
            ({"name": "b2", "kind": "tape", "devices": [self.loop]}, "kind"),
            ({"name": "b2", "devices": [self.loop]}, "devices"),
        ):
            st, err = self.d.post("/v1/domains", body)
            self.assertEqual(st, 400, (body, err))
            self.assertEqual(err["error"]["field"], field, (body, err))
        # a device that already holds a VG: LVM's own refusal reaches the caller
        st, err = self.d.post("/v1/domains", {"name": "b2", "kind": "block", "devices": [self.loop]})
        self.assertGreaterEqual(st, 400, err)
        self.assertIn(self.loop, err["error"]["message"])
        self.assertEqual(self.lvs(), lvs)


if __name__ == "__main__":
    unittest.main()
