"""The storage model on a file domain, driven through the REST API with real qemu-img."""
import json
import os
import unittest

from sanpool import GiB, MiB, DaemonTest, qemu_img_info, qemu_io


class ImageTest(DaemonTest):
    def volume_path(self, image, volume):
        st, v = self.d.get(self.img_path(image) + "/volumes/" + volume)
        self.assertEqual(st, 200, v)
        return v["path"]

    def test_create_raw_and_qcow2_sparse_and_preallocated(self):
        for fmt in ("raw", "qcow2"):
            for alloc in ("sparse", "preallocated"):
                image, volume = self.d.create_image(self.dom, fmt=fmt, capacity=64 * MiB, allocation=alloc)
                st, img = self.d.get(self.img_path(image))
                self.assertEqual(st, 200)
                self.assertEqual(img["legality"], "LEGAL")
                self.assertEqual(img["capacity"], 64 * MiB)
                path = self.volume_path(image, volume)
                info = qemu_img_info(path)
                self.assertEqual(info["format"], fmt)
                self.assertEqual(info["virtual-size"], 64 * MiB)
                blocks = os.stat(path).st_blocks * 512
                if fmt == "raw" and alloc == "preallocated":
                    self.assertGreaterEqual(blocks, 64 * MiB)
                if alloc == "sparse":
                    self.assertLess(blocks, 8 * MiB)
        st, imgs = self.d.get(self.img_path())
        self.assertEqual(len(imgs), 4)

    def test_snapshot_chain_and_data(self):
        image, base = self.d.create_image(self.dom, fmt="raw", capacity=16 * MiB)
        qemu_io(self.volume_path(image, base), "raw", "write -P 0x11 0 1M")
        acc, t = self.d.run_task("POST", self.img_path(image) + "/snapshots", {"parent": base})
        top = acc["volume"]
        self.assertEqual(t["result"]["parent"], base)
        st, chain = self.d.get(self.img_path(image) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base, top])
        self.assertFalse(chain[0]["leaf"])
        self.assertTrue(chain[1]["leaf"])
        top_path = self.volume_path(image, top)
        info = qemu_img_info(top_path)
        self.assertEqual(info["format"], "qcow2")
        self.assertEqual(info["backing-filename"], "../%s/%s" % (image, base))
        qemu_io(top_path, "qcow2", "read -P 0x11 0 1M")
        qemu_io(top_path, "qcow2", "write -P 0x22 1M 1M")
        # the base is unchanged by writes to the top
        qemu_io(self.volume_path(image, base), "raw", "read -P 0 1M 1M")

    def test_delete_middle_snapshot_merges_into_child(self):
        image, base = self.d.create_image(self.dom, fmt="raw", capacity=16 * MiB)
        qemu_io(self.volume_path(image, base), "raw", "write -P 0x11 0 1M")
        mid = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        qemu_io(self.volume_path(image, mid), "qcow2", "write -P 0x22 1M 1M")
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        qemu_io(self.volume_path(image, top), "qcow2", "write -P 0x33 2M 1M")

        self.d.run_task("DELETE", self.img_path(image) + "/snapshots/" + mid)
        st, chain = self.d.get(self.img_path(image) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base, top])
        self.assertEqual(chain[1]["parent"], base)
        top_path = self.volume_path(image, top)
        self.assertEqual(qemu_img_info(top_path)["backing-filename"], "../%s/%s" % (image, base))
        for pattern, offset in (("0x11", "0"), ("0x22", "1M"), ("0x33", "2M")):
            qemu_io(top_path, "qcow2", "read -P %s %s 1M" % (pattern, offset))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(top_path), mid)))

    def test_delete_top_snapshot_commits_into_parent(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB)
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        qemu_io(self.volume_path(image, top), "qcow2", "write -P 0x44 0 1M")
        self.d.run_task("DELETE", self.img_path(image) + "/snapshots/" + top)
        st, chain = self.d.get(self.img_path(image) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base])
        self.assertTrue(chain[0]["leaf"])
        qemu_io(self.volume_path(image, base), "qcow2", "read -P 0x44 0 1M")

    def test_delete_top_volume_discards_it(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB)
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        qemu_io(self.volume_path(image, top), "qcow2", "write -P 0x44 0 1M")
        self.d.run_task("DELETE", self.img_path(image) + "/volumes/" + top)
        st, chain = self.d.get(self.img_path(image) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base])
        qemu_io(self.volume_path(image, base), "qcow2", "read -P 0 0 1M")

    def test_template_and_clone(self):
        image, base = self.d.create_image(self.dom, fmt="raw", capacity=32 * MiB, name="tmpl")
        qemu_io(self.volume_path(image, base), "raw", "write -P 0x55 0 1M")
        self.d.run_task("POST", self.img_path(image) + "/template")
        st, img = self.d.get(self.img_path(image))
        self.assertTrue(img["template"])
        # a template is read-only
        st, err = self.d.post(self.img_path(image) + "/snapshots")
        self.assertEqual(st, 409, err)
        clones = []
        for i in range(3):
            acc, t = self.d.run_task("POST", self.img_path(image) + "/clone", {"name": "vm%d" % i})
            clones.append(acc)
        for acc in clones:
            st, img = self.d.get(self.img_path(acc["image"]))
            self.assertEqual(img["template_source"], {"image": image, "volume": base})
            st, chain = self.d.get(self.img_path(acc["image"]) + "/snapshots")
            self.assertEqual([v["uuid"] for v in chain], [base, acc["volume"]])
            path = self.volume_path(acc["image"], acc["volume"])
            self.assertEqual(qemu_img_info(path)["backing-filename"], "../%s/%s" % (image, base))
            qemu_io(path, "qcow2", "read -P 0x55 0 1M")
        # the template cannot go while clones use it
        st, err = self.d.delete(self.img_path(image))
        self.assertEqual(st, 409, err)
        for acc in clones:
            self.d.run_task("DELETE", self.img_path(acc["image"]))
        self.d.run_task("DELETE", self.img_path(image))
        st, imgs = self.d.get(self.img_path())
        self.assertEqual(imgs, [])

    def test_copy_to_another_domain_with_progress(self):
        st, dom2 = self.d.post("/v1/domains", {"name": "second"})
        self.assertEqual(st, 201, dom2)
        image, base = self.d.create_image(self.dom, fmt="raw", capacity=64 * MiB)
        qemu_io(self.volume_path(image, base), "raw", "write -P 0x66 0 8M")
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        qemu_io(self.volume_path(image, top), "qcow2", "write -P 0x77 8M 8M")
        acc, t = self.d.run_task("POST", self.img_path(image) + "/copy", {"domain": dom2["uuid"], "format": "qcow2"})
        self.assertEqual(t["progress"], 100)
        st, img = self.d.get("/v1/domains/%s/images/%s" % (dom2["uuid"], acc["image"]))
        self.assertEqual(st, 200, img)
        self.assertEqual(img["capacity"], 64 * MiB)
        self.assertEqual(len(img["volumes"]), 1)
        st, vol = self.d.get("/v1/domains/%s/images/%s/volumes/%s" % (dom2["uuid"], acc["image"], acc["volume"]))
        info = qemu_img_info(vol["path"])
        self.assertNotIn("backing-filename", info)
        qemu_io(vol["path"], "qcow2", "read -P 0x66 0 8M")
        qemu_io(vol["path"], "qcow2", "read -P 0x77 8M 8M")

    def test_grow_capacity(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        acc, t = self.d.run_task("POST", self.img_path(image) + "/resize", {"capacity": 2 * GiB})
        # the result is the image as the task left it: free again
        self.assertEqual(t["result"]["capacity"], 2 * GiB)
        self.assertFalse(t["result"]["busy"])
        st, img = self.d.get(self.img_path(image))
        self.assertEqual(img["capacity"], 2 * GiB)
        self.assertEqual(qemu_img_info(self.volume_path(image, top))["virtual-size"], 2 * GiB)
        st, err = self.d.post(self.img_path(image) + "/resize", {"capacity": GiB})
        self.assertEqual(st, 400)
        self.assertEqual(err["error"]["field"], "capacity")

    def test_state_survives_restart(self):
        image, base = self.d.create_image(self.dom, fmt="qcow2", capacity=GiB)
        top = self.d.run_task("POST", self.img_path(image) + "/snapshots")[0]["volume"]
        st, before = self.d.get(self.img_path(image))
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        st, after = self.d.get(self.img_path(image))
        self.assertEqual(before, after)


class DomainRemovalTest(DaemonTest):
    """DELETE /v1/domains/{domain} on file domains; ILLEGAL leftovers collected at start."""

    def domains(self):
        st, doms = self.d.get("/v1/domains")
        self.assertEqual(st, 200)
        return {d["uuid"] for d in doms}

    def test_remove_file_domain_under_data_dir(self):
        st, dom = self.d.post("/v1/domains", {"name": "extra"})
        self.assertEqual(st, 201, dom)
        path = os.path.join(self.tmp, "var", "domains", dom["uuid"])
        self.assertTrue(os.path.isdir(path))
        acc, _ = self.d.run_task("POST", "/v1/domains/%s/images" % dom["uuid"],
                                 {"name": "d", "format": "qcow2", "capacity": MiB})
        st, err = self.d.delete("/v1/domains/" + dom["uuid"])
        self.assertEqual(st, 409, err)
        self.assertIn("volume", err["error"]["message"])
        self.d.run_task("DELETE", "/v1/domains/%s/images/%s" % (dom["uuid"], acc["image"]))
        # what the agent does not know (a stray file in images/) is not removed
        stray = os.path.join(path, "images", "stray")
        open(stray, "w").close()
        st, err = self.d.delete("/v1/domains/" + dom["uuid"])
        self.assertEqual(st, 409, err)
        self.assertIn("stray", err["error"]["message"])
        os.unlink(stray)
        acc, t = self.d.run_task("DELETE", "/v1/domains/" + dom["uuid"])
        self.assertEqual((t["op"], t["domain"]), ("remove_domain", dom["uuid"]))
        self.assertEqual(self.d.get("/v1/domains/" + dom["uuid"])[0], 404)
        self.assertEqual(self.domains(), {self.dom})
        self.assertFalse(os.path.exists(path))
        self.assertEqual([n for n in os.listdir(os.path.dirname(path)) if n != self.dom], [])
        self.assertEqual(self.d.delete("/v1/domains/" + dom["uuid"])[0], 404)
        self.d.stop()
        self.d.start()
        self.assertEqual(self.domains(), {self.dom})
        # the name is free again
        self.assertEqual(self.d.post("/v1/domains", {"name": "extra"})[0], 201)

    def test_remove_file_domain_in_outside_directory(self):
        outside = os.path.join(self.tmp, "nfs")
        os.mkdir(outside)
        st, dom = self.d.post("/v1/domains", {"name": "nfs", "path": outside})
        self.assertEqual(st, 201, dom)
        link = os.path.join(self.tmp, "var", "domains", dom["uuid"])
        self.assertTrue(os.path.islink(link))
        image, _ = self.d.create_image(dom["uuid"], fmt="raw", capacity=MiB)
        self.d.run_task("DELETE", "/v1/domains/%s/images/%s" % (dom["uuid"], image))
        self.d.run_task("DELETE", "/v1/domains/" + dom["uuid"])
        self.assertEqual(self.domains(), {self.dom})
        # the directory (a mount point) stays, emptied of the domain; the link goes
        self.assertEqual(os.listdir(outside), [])
        self.assertFalse(os.path.lexists(link))
        # it can hold a new domain
        self.assertEqual(self.d.post("/v1/domains", {"name": "nfs", "path": outside})[0], 201)

    def test_master_domain_and_unknown_domain(self):
        st, err = self.d.delete("/v1/domains/" + self.dom)
        self.assertEqual(st, 409, err)
        self.assertIn("master", err["error"]["message"])
        self.assertEqual(self.domains(), {self.dom})
        st, err = self.d.delete("/v1/domains/00000000-0000-4000-8000-000000000000")
        self.assertEqual(st, 404, err)
        st, err = self.d.request("DELETE", "/v1/domains/" + self.dom, body={"x": 1})
        self.assertEqual((st, err["error"]["field"]), (400, "x"))

    def test_illegal_leftovers_are_removed_at_start(self):
        image, base = self.d.create_image(self.dom, fmt="raw", capacity=MiB)
        st, keep = self.d.get(self.img_path(image))
        images = os.path.join(self.tmp, "var", "domains", self.dom, "images")
        with open(os.path.join(images, image, base + ".meta")) as f:
            meta = json.load(f)
        self.d.stop()
        # a new image whose create lost its journal record, and an ILLEGAL snapshot of a LEGAL image
        lost_image, lost_vol, lost_snap = ("%08d-0000-4000-8000-000000000000" % i for i in (1, 2, 3))
        for img, vol, parent in ((lost_image, lost_vol, None), (image, lost_snap, base)):
            m = dict(meta, uuid=vol, image=img, legality="ILLEGAL", parent=parent, parent_image=img if parent else None,
                     format="qcow2" if parent else "raw")
            os.makedirs(os.path.join(images, img), exist_ok=True)
            with open(os.path.join(images, img, vol + ".meta"), "w") as f:
                json.dump(m, f)
            with open(os.path.join(images, img, vol), "wb") as f:
                f.truncate(MiB)
        self.d.start()
        st, imgs = self.d.get(self.img_path())
        self.assertEqual([i["uuid"] for i in imgs], [image])
        self.assertEqual(self.d.get(self.img_path(image))[1], keep)
        self.assertEqual(sorted(os.listdir(images)), [image])
        self.assertEqual(sorted(os.listdir(os.path.join(images, image))), sorted([base, base + ".meta"]))
        log = self.d.read_log()
        for v in (lost_vol, lost_snap):
            self.assertRegex(log, r"(?i)warn.*removing volume %s" % v)


if __name__ == "__main__":
    unittest.main()
