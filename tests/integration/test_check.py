"""The consistency checker (`sanpoolctl check`, GET /v1/domains/{domain}/check):
a consistent domain gives no problems and exit 0; each kind of damage, made
by hand on storage as a crash, a bug or an operator could leave it, is
reported naming the object concerned, and `sanpoolctl check` exits 1."""
import json
import os
import subprocess
import uuid

from sanpool import MiB, SANPOOLCTL, Daemon, DaemonTest
from test_block_domain import lvm, make_loop, run


class CheckMixin:
    def check(self, dom=None):
        st, rep = self.d.get("/v1/domains/%s/check" % (dom or self.dom))
        self.assertEqual(st, 200, rep)
        return rep

    def ctl(self, *args):
        return subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:%d" % self.d.port] + list(args),
                              capture_output=True, text=True)

    def assert_clean(self, dom=None):
        rep = self.check(dom)
        self.assertEqual(rep["problems"], [], rep)
        self.assertTrue(rep["quiet"], rep)
        r = self.ctl("check", dom or self.dom)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no problems", r.stdout)
        return rep

    def assert_found(self, rep, expected):
        """expected: (code, id) pairs that must all be reported; nothing else may be."""
        found = {(p["code"], p["id"]) for p in rep["problems"]}
        self.assertLessEqual(set(expected), found, json.dumps(rep, indent=1))
        for p in rep["problems"]:
            self.assertIn(p["id"], p["message"], p)  # the message names the object
        return found


class FileCheckTest(CheckMixin, DaemonTest):
    def images_dir(self, image=""):
        return os.path.join(self.d.data_dir, "domains", self.dom, "images", image)

    def meta(self, image, vol):
        return os.path.join(self.images_dir(image), vol + ".meta")

    def edit_meta(self, image, vol, **changes):
        with open(self.meta(image, vol)) as f:
            m = json.load(f)
        m.update(changes)
        with open(self.meta(image, vol), "w") as f:
            json.dump(m, f)

    def snap(self, image):
        acc, _ = self.d.run_task("POST", self.img_path(image) + "/snapshots")
        return acc["volume"]

    def test_consistent_domain_then_every_kind_of_damage(self):
        d = self.d
        imgs = {}
        for k in ("unreadable", "nodata", "illegal", "capacity", "format"):
            imgs[k] = d.create_image(self.dom, fmt="raw", capacity=16 * MiB, name=k)
        for k in ("parent", "cycle", "backing", "tmpl", "clone_src"):
            imgs[k] = d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB, name=k)
            imgs[k] = imgs[k] + (self.snap(imgs[k][0]),)
        d.run_task("POST", self.img_path(imgs["tmpl"][0]) + "/template")
        clone, _ = d.run_task("POST", self.img_path(imgs["tmpl"][0]) + "/clone", {"name": "clone"})
        rep = self.assert_clean()
        self.assertEqual(rep["checked"]["images"], 11, rep)
        self.assertEqual(rep["checked"]["volumes"], 16, rep)

        # the damage, one kind per image
        img, vol = imgs["unreadable"]
        with open(self.meta(img, vol), "w") as f:
            f.write("{not json")
        img, vol = imgs["nodata"]
        os.unlink(os.path.join(self.images_dir(img), vol))
        img, vol = imgs["illegal"]
        self.edit_meta(img, vol, legality="ILLEGAL")
        img, vol = imgs["capacity"]
        self.edit_meta(img, vol, capacity=32 * MiB)
        img, vol = imgs["format"]
        self.edit_meta(img, vol, format="qcow2")
        nometa = str(uuid.uuid4())
        with open(os.path.join(self.images_dir(imgs["format"][0]), nometa), "wb") as f:
            f.truncate(MiB)
        img, base, top = imgs["parent"]
        ghost = str(uuid.uuid4())
        self.edit_meta(img, top, parent=ghost)
        img, base, top = imgs["cycle"]
        self.edit_meta(img, base, parent=top, parent_image=img)
        img, base, top = imgs["backing"]
        r = subprocess.run(["qemu-img", "rebase", "-u", "-F", "qcow2", "-b", "../%s/%s" % (img, top),
                            os.path.join(self.images_dir(img), top)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        tmpl, tbase, ttop = imgs["tmpl"]
        self.edit_meta(tmpl, tbase, shared=False)
        # a clone's parent moved to an image that is not a template
        src, sbase, stop = imgs["clone_src"]
        self.edit_meta(clone["image"], clone["volume"], parent=sbase, parent_image=src)
        leftover = str(uuid.uuid4())
        with open(os.path.join(self.d.data_dir, "domains", self.dom, "dom_md", "journal", leftover + ".json"), "w") as f:
            json.dump({"op": "create_image", "task": leftover}, f)
        open(os.path.join(self.images_dir(imgs["illegal"][0]), "junk"), "w").close()
        os.mkdir(self.images_dir(str(uuid.uuid4())))

        rep = self.check()
        found = self.assert_found(rep, [
            ("metadata_unreadable", imgs["unreadable"][1]),
            ("model_stale", imgs["unreadable"][1]),
            ("data_missing", imgs["nodata"][1]),
            ("illegal", imgs["illegal"][1]),
            ("top_illegal", imgs["illegal"][0]),
            ("model_differs", imgs["illegal"][1]),
            ("capacity_differs", imgs["capacity"][1]),
            ("format_differs", imgs["format"][1]),
            ("metadata_missing", nometa),
            ("parent_missing", imgs["parent"][2]),
            ("chain_cycle", imgs["cycle"][1]),
            ("no_top", imgs["cycle"][0]),
            ("backing_differs", imgs["backing"][2]),
            ("template_partial", imgs["tmpl"][0]),
            ("parent_not_template", clone["volume"]),
            ("journal_leftover", leftover),
        ])
        strays = [p for p in rep["problems"] if p["code"] == "stray"]
        self.assertEqual(len(strays), 2, strays)  # the junk file and the empty image directory
        # the untouched volumes are not named
        for (code, oid) in found:
            self.assertNotIn(oid, (imgs["tmpl"][2], imgs["clone_src"][2]), (code, oid))
        r = self.ctl("check")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("problems found", r.stderr)
        for p in rep["problems"]:
            self.assertIn(p["message"], r.stdout)
        r = self.ctl("--json", "check", "local")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)[0]["problems"], rep["problems"])

    def test_busy_images_are_skipped_not_judged(self):
        # a copy of 256 MiB of data runs for a while: its source is held busy
        # all along, in flux for the check, which leaves it to a later run
        img, vol = self.d.create_image(self.dom, fmt="raw", capacity=256 * MiB, name="big")
        r = subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 256M",
                            os.path.join(self.images_dir(img), vol)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        st, dom2 = self.d.post("/v1/domains", {"name": "copies"})
        self.assertEqual(st, 201, dom2)
        st, acc = self.d.post(self.img_path(img) + "/copy", {"domain": dom2["uuid"], "format": "qcow2"})
        self.assertEqual(st, 202, acc)
        rep = self.check()
        t = self.d.wait_task(acc["task"])
        self.assertEqual(t["state"], "finished", t)
        if rep["quiet"]:
            self.skipTest("the copy ended before the check began")
        self.assertEqual(rep["problems"], [], rep)
        self.assertTrue(any(img in s for s in rep["skipped"]), rep)
        self.assert_clean()
        self.assert_clean(dom2["uuid"])

    def test_usage(self):
        r = self.ctl("check", "a", "b")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.ctl("check", "nosuchdomain")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nosuchdomain", r.stderr)


class BlockCheckTest(CheckMixin, DaemonTest):
    """A block domain on a loop device, LV activation off (no device-mapper here)."""
    bootstrap = False
    conf_extra = "lvm_activation = no\n"

    def setUp(self):
        self.loop = self.vg = None
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if self.vg:
                self.lvm("vgremove", "-f", self.vg)
            if self.loop:
                self.lvm("pvremove", "-y", self.loop)
                run("losetup", "-d", self.loop)

    def lvm(self, *argv):
        return lvm(os.path.join(self.tmp, "run", "lvm"), [self.loop], *argv)

    def test_block_domain_tags_and_lvs(self):
        self.d.stop()
        self.d = Daemon(self.tmp, conf_extra=self.conf_extra + "run_dir = %s/run\n" % self.tmp, bootstrap=False)
        self.d.start()
        self.loop = make_loop(self.tmp)
        st, dom = self.d.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 201, dom)
        self.dom = self.vg = dom["uuid"]
        d = self.d
        a, av = d.create_image(self.dom, fmt="qcow2", capacity=MiB * 64, name="a")
        b, bv = d.create_image(self.dom, fmt="raw", capacity=MiB * 64, name="b")
        c, cv = d.create_image(self.dom, fmt="raw", capacity=MiB * 64, name="c")
        rep = self.assert_clean()
        self.assertEqual(rep["kind"], "block")
        self.assertEqual(rep["checked"]["volumes"], 3, rep)
        # no activation here: the data checks are skipped, and said to be
        self.assertTrue(any("activation" in s for s in rep["skipped"]), rep)

        # an LV with no tags, an LV not named as a volume, a lost tag, a stale
        # legality, and a volume made by hand that the agent never saw
        nometa = str(uuid.uuid4())
        for lv in (nometa, "stray"):
            r = self.lvm("lvcreate", "--activate", "n", "--zero", "n", "--size", "128m", "--name", lv, self.vg)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = self.lvm("lvchange", "--deltag", "sp.f=qcow2", "%s/%s" % (self.vg, av))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.lvm("lvchange", "--deltag", "sp.l=L", "--addtag", "sp.l=I", "%s/%s" % (self.vg, bv))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.lvm("lvs", "--reportformat", "json", "-o", "lv_tags", "%s/%s" % (self.vg, cv))
        tags = json.loads(r.stdout)["report"][0]["lv"][0]["lv_tags"].split(",")
        hand_img, hand_vol = str(uuid.uuid4()), str(uuid.uuid4())
        tags = ["sp.i=" + hand_img if t.startswith("sp.i=") else t for t in tags]
        args = ["lvcreate", "--activate", "n", "--zero", "n", "--size", "128m", "--name", hand_vol]
        for t in tags:
            args += ["--addtag", t]
        r = self.lvm(*args, self.vg)
        self.assertEqual(r.returncode, 0, r.stderr)

        rep = self.check()
        self.assert_found(rep, [
            ("metadata_missing", nometa),
            ("stray", "LV stray"),
            ("metadata_unreadable", av),
            ("model_stale", av),
            ("illegal", bv),
            ("model_differs", bv),
            ("model_missing", hand_vol),
        ])
        ids = {p["id"] for p in rep["problems"]}
        self.assertNotIn(cv, ids)
        r = self.ctl("check")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("skipped", r.stdout)
