"""Prepare, teardown, refresh and extend through the REST API.

File domains: the whole API works (activation has nothing to do there), data
written through a prepared path reads back, templates stay prepared while a
clone of them is. Block domains in the fast tier (activation off): what needs
an active LV is refused with a clear error, extend grows a thin qcow2 LV for
real (it writes VG metadata only) and never past what qemu-img measure says.
The cluster tier (tests/cluster/test_prepare.py) runs them with real LVs."""
import subprocess
import unittest

from sanpool import GiB, MiB, Daemon, DaemonTest, qemu_io
from test_block_domain import EXTENT, lv_size, lvm, make_loop, max_thin_lv_size


class FilePrepareTest(DaemonTest):
    def prep(self, image, expect=200):
        st, body = self.d.post(self.img_path(image) + "/prepare")
        self.assertEqual(st, expect, body)
        return body

    def teardown_image(self, image, expect=200):
        st, body = self.d.post(self.img_path(image) + "/teardown")
        self.assertEqual(st, expect, body)
        return body

    def volume(self, image, volume):
        st, v = self.d.get(self.img_path(image) + "/volumes/" + volume)
        self.assertEqual(st, 200, v)
        return v

    def test_prepare_returns_the_chain_and_data_goes_through_it(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=64 * MiB)
        self.assertFalse(self.volume(image, base)["prepared"])
        p = self.prep(image)
        self.assertEqual(p["path"], self.volume(image, base)["path"])
        qemu_io(p["path"], "qcow2", "write -P 0x5a 0 1M")
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        # the image grew a top since it was prepared: prepare moves to it
        p = self.prep(image)
        self.assertEqual([c["volume"] for c in p["chain"]], [base, top])
        self.assertEqual([c["image"] for c in p["chain"]], [image, image])
        self.assertEqual(p["path"], self.volume(image, top)["path"])
        self.assertEqual(p["chain"][0]["path"], self.volume(image, base)["path"])
        qemu_io(p["path"], "qcow2", "write -P 0xa5 1M 1M")
        qemu_io(p["path"], "qcow2", "read -P 0x5a 0 1M")
        qemu_io(p["path"], "qcow2", "read -P 0xa5 1M 1M")
        self.assertTrue(self.volume(image, base)["prepared"])
        self.assertTrue(self.volume(image, top)["prepared"])
        # idempotent
        self.assertEqual(self.prep(image), p)
        t = self.teardown_image(image)
        self.assertEqual(t, {"domain": self.dom, "image": image, "prepared": False})
        self.assertFalse(self.volume(image, top)["prepared"])
        self.assertFalse(self.volume(image, base)["prepared"])
        # teardown of an image not prepared: nothing to do
        self.assertFalse(self.teardown_image(image)["prepared"])
        # file volumes have no LV
        self.assertNotIn("lv_size", self.volume(image, top))

    def test_template_backing_a_prepared_clone_cannot_be_torn_down(self):
        tmpl, tbase = self.d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB, name="tmpl")
        self.d.run_task("POST", self.img_path(tmpl) + "/template")
        acc, _ = self.d.run_task("POST", self.img_path(tmpl) + "/clone", {"name": "vm1"})
        clone, cvol = acc["image"], acc["volume"]
        self.prep(tmpl)
        p = self.prep(clone)
        self.assertEqual([(c["image"], c["volume"]) for c in p["chain"]], [(tmpl, tbase), (clone, cvol)])
        st, err = self.d.post(self.img_path(tmpl) + "/teardown")
        self.assertEqual(st, 409, err)
        self.assertIn(clone, err["error"]["message"])
        self.assertTrue(self.volume(tmpl, tbase)["prepared"])
        self.teardown_image(clone)
        # still prepared through the template's own preparation
        self.assertTrue(self.volume(tmpl, tbase)["prepared"])
        self.teardown_image(tmpl)
        self.assertFalse(self.volume(tmpl, tbase)["prepared"])

    def test_a_prepared_image_is_not_changed_offline_under_its_vm(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB)
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        p = self.prep(image)
        qemu_io(p["path"], "qcow2", "write -P 0x77 0 1M")
        for method, path, body in (("DELETE", "", None), ("DELETE", "/volumes/" + top, None),
                                   ("DELETE", "/snapshots/" + top, None), ("POST", "/resize", {"capacity": 32 * MiB})):
            st, err = self.d.request(method, self.img_path(image) + path, body)
            self.assertEqual(st, 409, (method, path, err))
            self.assertIn("prepared", err["error"]["message"])
        st, chain = self.d.get(self.img_path(image) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base, top])
        self.teardown_image(image)
        self.d.run_task("DELETE", self.img_path(image))

    def test_refresh_extend_and_bad_requests_on_file_domains(self):
        image, vol = self.d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB)
        st, v = self.d.post(self.img_path(image) + "/volumes/%s/refresh" % vol)
        self.assertEqual(st, 200, v)
        self.assertEqual(v["uuid"], vol)
        st, err = self.d.post(self.img_path(image) + "/volumes/%s/extend" % vol, {"size": 2 * GiB})
        self.assertEqual(st, 409, err)
        for bad in (0, -512, "big"):
            st, err = self.d.post(self.img_path(image) + "/volumes/%s/extend" % vol, {"size": bad})
            self.assertEqual(st, 400, err)
            self.assertEqual(err["error"]["field"], "size", err)
        st, err = self.d.post(self.img_path(image) + "/volumes/%s/extend" % vol, {"sise": 1})
        self.assertEqual(st, 400, err)
        st, err = self.d.post(self.img_path(image) + "/prepare", {"x": 1})
        self.assertEqual(st, 400, err)
        missing = "00000000-0000-4000-8000-000000000000"
        for path in ("/prepare", "/teardown"):
            st, err = self.d.post(self.img_path(missing) + path)
            self.assertEqual(st, 404, err)
        st, err = self.d.post(self.img_path(image) + "/volumes/%s/refresh" % missing)
        self.assertEqual(st, 404, err)
        st, err = self.d.post(self.img_path(image) + "/volumes/%s/extend" % missing, {"size": GiB})
        self.assertEqual(st, 404, err)


class BlockFastTierTest(DaemonTest):
    """A block domain on a loop device, LV activation off."""

    bootstrap = False

    def setUp(self):
        super().setUp()
        self.loop = self.vg = None
        self.d.stop()
        self.d = Daemon(self.tmp, conf_extra="lvm_activation = no\nrun_dir = %s/run\n" % self.tmp, bootstrap=False)
        self.d.start()
        self.loop = make_loop(self.tmp, 40 * GiB)
        st, dom = self.d.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 201, dom)
        self.dom = self.vg = dom["uuid"]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if self.vg:
                self.lvm("vgremove", "-f", self.vg)
            if self.loop:
                self.lvm("pvremove", "-y", self.loop)
                subprocess.run(["losetup", "-d", self.loop], capture_output=True)

    def lvm(self, *argv):
        return lvm("%s/run/lvm" % self.tmp, [self.loop], *argv)

    def lv_size(self, lv):
        return lv_size("%s/run/lvm" % self.tmp, self.loop, self.vg, lv)

    def test_what_needs_an_active_lv_is_refused_clearly(self):
        image, vol = self.d.create_image(self.dom, fmt="qcow2", capacity=2 * GiB)
        for path in ("/prepare", "/volumes/%s/refresh" % vol):
            st, err = self.d.post(self.img_path(image) + path)
            self.assertEqual(st, 409, err)
            self.assertEqual(err["error"]["code"], "no_data_access", err)
            self.assertIn("lvm_activation = no", err["error"]["message"])
        st, v = self.d.get(self.img_path(image) + "/volumes/" + vol)
        self.assertEqual(st, 200, v)
        self.assertFalse(v["prepared"])
        self.assertFalse(v["active"])
        self.assertEqual(v["lv_size"], self.lv_size(vol))
        # teardown has nothing to undo
        st, t = self.d.post(self.img_path(image) + "/teardown")
        self.assertEqual(st, 200, t)

    def test_extend_grows_a_thin_lv_up_to_what_its_capacity_needs(self):
        capacity = 3 * GiB
        image, vol = self.d.create_image(self.dom, fmt="qcow2", capacity=capacity)
        url = self.img_path(image) + "/volumes/%s/extend" % vol
        self.assertEqual(self.lv_size(vol), GiB)  # thin_initial_size_mib default
        # by the chunk (1 GiB)
        st, v = self.d.post(url)
        self.assertEqual(st, 200, v)
        self.assertEqual(v["lv_size"], 2 * GiB)
        self.assertEqual(self.lv_size(vol), 2 * GiB)
        # to a size (rounded up to extents)
        st, v = self.d.post(url, {"size": 2 * GiB + 512})
        self.assertEqual(st, 200, v)
        self.assertEqual(self.lv_size(vol), 2 * GiB + EXTENT)
        # a bad size names the field and changes nothing
        st, err = self.d.post(url, {"size": 2 * GiB + EXTENT + 100})
        self.assertEqual(st, 400, err)
        self.assertEqual(err["error"]["field"], "size", err)
        self.assertEqual(self.lv_size(vol), 2 * GiB + EXTENT)
        # a size "at least" reached already: nothing to do
        full = max_thin_lv_size(capacity)
        for size in (GiB, 2 * GiB + EXTENT):
            st, v = self.d.post(url, {"size": size})
            self.assertEqual(st, 200, (size, v))
            self.assertEqual((v["extend"]["from"], v["extend"]["to"]), (2 * GiB + EXTENT, 2 * GiB + EXTENT))
            self.assertEqual(self.lv_size(vol), 2 * GiB + EXTENT)
        # past the most: capped there, then no further
        st, v = self.d.post(url, {"size": full + EXTENT})
        self.assertEqual(st, 200, v)
        self.assertEqual(v["extend"]["to"], full)
        self.assertEqual(self.lv_size(vol), full)
        st, v = self.d.post(url)
        self.assertEqual(st, 200, v)
        self.assertEqual((v["extend"]["from"], v["extend"]["to"]), (full, full))
        self.assertEqual(self.lv_size(vol), full)
        # the history: every growth, direct (no SPM with sanlock = no), oldest first
        h = v["extend_history"]
        self.assertEqual([(e["from"], e["to"], e["via"]) for e in h],
                         [(GiB, 2 * GiB, "direct"), (2 * GiB, 2 * GiB + EXTENT, "direct"),
                          (2 * GiB + EXTENT, full, "direct")])
        # only thin qcow2 volumes grow
        image2, raw = self.d.create_image(self.dom, fmt="raw", capacity=256 * MiB)
        st, err = self.d.post(self.img_path(image2) + "/volumes/%s/extend" % raw, {"size": GiB})
        self.assertEqual(st, 409, err)
        self.assertEqual(self.lv_size(raw), 2 * EXTENT)


if __name__ == "__main__":
    unittest.main(verbosity=2)
