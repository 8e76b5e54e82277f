"""Bad input on every POST and DELETE route: each is refused with a 4xx and a
JSON error body naming the offending field ("body" for the body as a whole),
and nothing changes, on disk (tree_snapshot of the whole data directory) or in
the API."""
import json
import os
import subprocess

from sanpool import GiB, MiB, SANPOOLD, DaemonTest, tree_snapshot

BAD_UUID = "not-a-uuid"
NO_UUID = "abcdef00-0000-4000-8000-00000000000a"  # valid, and nothing has it
BAD_UUIDS = ["not-a-uuid", NO_UUID.upper(), NO_UUID[:-1], NO_UUID + "0", "{%s}" % NO_UUID,
             NO_UUID.replace("-", ""), "../" + NO_UUID[3:], "%2e%2e"]
BAD_NAMES = ["a/b", "..", ".", "-rf", ".hidden", "x" * 65, "", "a b", "a\u0000b", "é", "a\nb"]
BAD_SIZES = [0, -1, -512, 1, 511, MiB + 1, MiB - 512, 2 ** 63, 2 ** 63 - 1, 2 ** 64, (64 << 40) + 512,
             65 << 40, 1.5, 1048576.0, 1e6, "1048576", "1G", True, None, [MiB], {"v": MiB}]


class BadInputTest(DaemonTest):
    def setUp(self):
        super().setUp()
        d = self.d
        # a qcow2 image with base <- top, a template, and a second domain
        self.img, self.base = d.create_image(self.dom, fmt="qcow2", capacity=16 * MiB, name="a")
        self.top = d.run_task("POST", self.img_path(self.img) + "/snapshots")[0]["volume"]
        self.tmpl, self.tbase = d.create_image(self.dom, fmt="raw", capacity=16 * MiB, name="t")
        d.run_task("POST", self.img_path(self.tmpl) + "/template")
        st, dom2 = d.post("/v1/domains", {"name": "second"})
        self.assertEqual(st, 201, dom2)
        self.dom2 = dom2["uuid"]
        st, pools = d.get("/v1/pools")
        self.pool = pools[0]["uuid"]
        self.done_task = d.run_task("POST", self.img_path(self.img) + "/resize", {"capacity": 32 * MiB})[0]["task"]

    # ---- the checks

    def api_state(self):
        """Everything the API shows (the domains' free space aside: other programs write to the disk)."""
        d = self.d
        state = {}
        for path in ("/v1/pools", "/v1/domains", "/v1/tasks"):
            st, body = d.get(path)
            self.assertEqual(st, 200, body)
            state[path] = body
        for dom in state["/v1/domains"]:
            dom.pop("free_bytes", None)
            dom.pop("total_bytes", None)
            st, imgs = d.get("/v1/domains/%s/images" % dom["uuid"])
            state[dom["uuid"]] = imgs
            for img in imgs:
                st, vols = d.get("/v1/domains/%s/images/%s/volumes" % (dom["uuid"], img["uuid"]))
                state[img["uuid"]] = vols
        st, host = d.get("/v1/host")
        state["tasks"] = host["tasks"]
        return state

    def refused(self, method, path, body=None, raw=None, status=400, field=None, headers=None):
        """Sends a request that must be refused with status, naming field, and change nothing."""
        disk, api = tree_snapshot(self.d.data_dir), self.api_state()
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        st, err = self.d.request(method, path, raw=raw, headers=headers)
        what = "%s %s %r" % (method, path, raw[:200] if raw else raw)
        self.assertEqual(st, status, "%s -> %s %s" % (what, st, err))
        self.assertIsInstance(err, dict, what)
        self.assertIsInstance(err.get("error"), dict, what)
        self.assertTrue(err["error"]["code"] and err["error"]["message"], err)
        self.assertEqual(err["error"]["field"], field, "%s -> %s" % (what, err))
        self.assertEqual(tree_snapshot(self.d.data_dir), disk, "%s changed files" % what)
        self.assertEqual(self.api_state(), api, "%s changed the API state" % what)
        return err

    # ---- every POST / DELETE route

    def routes(self):
        """(method, path, a valid body) for every POST and DELETE route, on real objects."""
        i, t = self.img_path(self.img), self.img_path(self.tmpl)
        return [
            ("POST", "/v1/pools", {"name": "p2", "master_domain_name": "m2"}),
            ("POST", "/v1/domains", {"name": "d3"}),
            ("POST", self.img_path(), {"name": "n", "format": "raw", "capacity": MiB}),
            ("DELETE", i, None),
            ("DELETE", i + "/volumes/" + self.top, None),
            ("POST", i + "/snapshots", {"parent": self.top}),
            ("DELETE", i + "/snapshots/" + self.top, None),
            ("POST", i + "/template", None),
            ("POST", t + "/clone", {"name": "c"}),
            ("POST", i + "/copy", {"domain": self.dom2}),
            ("POST", i + "/resize", {"capacity": 64 * MiB}),
            ("POST", "/v1/tasks/%s/abort" % self.done_task, None),
            ("DELETE", "/v1/domains/" + self.dom2, None),
            ("POST", "/v1/domains/%s/devices" % self.dom2, {"device": "/dev/loop0"}),
            ("POST", "/v1/domains/%s/resize" % self.dom2, None),
            ("POST", "/v1/domains/attach", {"kind": "file", "path": self.dom2_dir()}),
            ("POST", "/v1/pools/%s/connect" % self.pool, {"kind": "file", "path": self.dom2_dir()}),
            ("POST", "/v1/pools/%s/disconnect" % self.pool, None),
            ("POST", "/v1/pools/%s/spm/start" % self.pool, None),
            ("POST", "/v1/pools/%s/spm/stop" % self.pool, None),
            ("POST", "/v1/connections", {"target": "iqn.2026-11.org.sanpool.test:none", "portals": ["127.0.0.1:9"]}),
            ("DELETE", "/v1/connections/" + NO_UUID, None),
            ("POST", "/v1/devices/rescan", None),
            ("POST", i + "/prepare", None),
            ("POST", i + "/teardown", None),
            ("POST", i + "/volumes/%s/refresh" % self.top, None),
            ("POST", i + "/volumes/%s/extend" % self.top, {"size": GiB}),
            ("POST", i + "/volumes/%s/lease" % self.top, None),
            ("DELETE", i + "/volumes/%s/lease" % self.top, None),
            ("POST", i + "/volumes/%s/lease/acquire" % self.top, None),
            ("POST", i + "/volumes/%s/lease/release" % self.top, None),
        ]

    def dom2_dir(self):
        return os.path.join(self.d.data_dir, "domains", self.dom2)

    def test_every_post_and_delete_route_is_covered(self):
        out = subprocess.run([SANPOOLD, "--list-routes"], check=True, capture_output=True, text=True).stdout
        listed = {tuple(l.split()) for l in out.splitlines() if l.split()[0] in ("POST", "DELETE")}
        pattern = {"POST /v1/pools", "POST /v1/domains", "POST /v1/domains/{domain}/images",
                   "DELETE /v1/domains/{domain}/images/{image}",
                   "DELETE /v1/domains/{domain}/images/{image}/volumes/{volume}",
                   "POST /v1/domains/{domain}/images/{image}/snapshots",
                   "DELETE /v1/domains/{domain}/images/{image}/snapshots/{volume}",
                   "POST /v1/domains/{domain}/images/{image}/template",
                   "POST /v1/domains/{domain}/images/{image}/clone",
                   "POST /v1/domains/{domain}/images/{image}/copy",
                   "POST /v1/domains/{domain}/images/{image}/resize", "POST /v1/tasks/{task}/abort",
                   "DELETE /v1/domains/{domain}", "POST /v1/domains/{domain}/devices",
                   "POST /v1/domains/{domain}/resize", "POST /v1/domains/attach",
                   "POST /v1/pools/{pool}/connect", "POST /v1/pools/{pool}/disconnect",
                   "POST /v1/pools/{pool}/spm/start", "POST /v1/pools/{pool}/spm/stop",
                   "POST /v1/connections",
                   "DELETE /v1/connections/{connection}", "POST /v1/devices/rescan",
                   "POST /v1/domains/{domain}/images/{image}/prepare",
                   "POST /v1/domains/{domain}/images/{image}/teardown",
                   "POST /v1/domains/{domain}/images/{image}/volumes/{volume}/refresh",
                   "POST /v1/domains/{domain}/images/{image}/volumes/{volume}/extend",
                   "POST /v1/domains/{domain}/images/{image}/volumes/{volume}/lease",
                   "DELETE /v1/domains/{domain}/images/{image}/volumes/{volume}/lease",
                   "POST /v1/domains/{domain}/images/{image}/volumes/{volume}/lease/acquire",
                   "POST /v1/domains/{domain}/images/{image}/volumes/{volume}/lease/release"}
        self.assertEqual({" ".join(r) for r in listed}, pattern, "a route was added: cover it in routes()")
        self.assertEqual(len(self.routes()), len(pattern))

    def test_malformed_bodies_on_every_route(self):
        bad = [b"{", b"{\"a\":}", b"{'name': 'x'}", b"nul", b"\xff\xfe{}", b"{\"name\": \"x\",}", b"{} {}",
               b"{\"name\": \"x\"} trailing", b"{}}", b"{}\x00", b"[]", b"[{}]", b"\"object\"", b"42", b"true",
               b"null", b"{\"a\":" + b"[" * 2000 + b"]" * 2000 + b"}"]
        for method, path, _ in self.routes():
            for raw in bad:
                with self.subTest(route=path, body=raw[:30]):
                    self.refused(method, path, raw=raw, field="body")

    def test_unknown_fields_on_every_route(self):
        for method, path, body in self.routes():
            with self.subTest(route=path):
                b = dict(body or {})
                b["unexpected"] = 1
                self.refused(method, path, body=b, field="unexpected")

    def test_wrong_types(self):
        i = self.img_path(self.img)
        cases = [
            ("POST", "/v1/pools", {"name": 5, "master_domain_name": "m"}, "name"),
            ("POST", "/v1/pools", {"name": "p", "master_domain_name": ["m"]}, "master_domain_name"),
            ("POST", "/v1/pools", {"name": "p", "master_domain_name": "m", "path": 7}, "path"),
            ("POST", "/v1/domains", {"name": True}, "name"),
            ("POST", "/v1/domains", {"name": "x", "pool": 1}, "pool"),
            ("POST", "/v1/domains", {"name": "x", "path": None}, "path"),
            ("POST", "/v1/domains", {"name": "x", "kind": {}}, "kind"),
            ("POST", self.img_path(), {"format": "raw", "capacity": "1048576"}, "capacity"),
            ("POST", self.img_path(), {"format": 1, "capacity": MiB}, "format"),
            ("POST", self.img_path(), {"format": "raw", "capacity": MiB, "name": False}, "name"),
            ("POST", self.img_path(), {"format": "raw", "capacity": MiB, "allocation": 0}, "allocation"),
            ("POST", self.img_path(), {"format": "vmdk", "capacity": MiB}, "format"),
            ("POST", self.img_path(), {"format": "raw\u0000", "capacity": MiB}, "format"),
            ("POST", self.img_path(), {"format": "raw", "capacity": MiB, "allocation": "thin"}, "allocation"),
            ("POST", self.img_path(), {"capacity": MiB}, "format"),
            ("POST", self.img_path(), {"format": "raw"}, "capacity"),
            ("POST", i + "/snapshots", {"parent": 3}, "parent"),
            ("POST", i + "/clone", {"name": 3}, "name"),
            ("POST", i + "/copy", {"domain": 3}, "domain"),
            ("POST", i + "/copy", {}, "domain"),
            ("POST", i + "/copy", {"domain": self.dom2, "format": True}, "format"),
            ("POST", i + "/copy", {"domain": self.dom2, "format": "vmdk"}, "format"),
            ("POST", i + "/copy", {"domain": self.dom2, "allocation": 1}, "allocation"),
            ("POST", i + "/copy", {"domain": self.dom2, "allocation": "thin"}, "allocation"),
            ("POST", i + "/resize", {"capacity": "2G"}, "capacity"),
            ("POST", i + "/resize", {}, "capacity"),
            ("POST", i + "/prepare", {"lease": 1}, "lease"),
            ("POST", i + "/prepare", {"lease": "shared"}, "lease"),
            ("POST", i + "/prepare", {"lease": "Exclusive"}, "lease"),
            ("POST", i + "/prepare", {"lease": "exclusive\u0000"}, "lease"),
            ("POST", i + "/prepare", {"lease": None}, "lease"),
            ("POST", "/v1/pools", {"name": "p"}, "master_domain_name"),
            ("POST", "/v1/domains", {}, "name"),
        ]
        for method, path, body, field in cases:
            with self.subTest(path=path, body=body):
                self.refused(method, path, body=body, field=field)

    def test_absurd_sizes(self):
        for size in BAD_SIZES:
            with self.subTest(size=size):
                self.refused("POST", self.img_path(), body={"format": "qcow2", "capacity": size}, field="capacity")
                self.refused("POST", self.img_path(self.img) + "/resize", body={"capacity": size},
                             field="capacity")
        # images only grow
        for size in (16 * MiB, 32 * MiB):
            self.refused("POST", self.img_path(self.img) + "/resize", body={"capacity": size}, field="capacity")

    def test_names(self):
        for name in BAD_NAMES:
            with self.subTest(name=name):
                self.refused("POST", self.img_path(), body={"name": name, "format": "raw", "capacity": MiB},
                             field="name")
                self.refused("POST", self.img_path(self.tmpl) + "/clone", body={"name": name}, field="name")
                self.refused("POST", "/v1/domains", body={"name": name}, field="name")
                self.refused("POST", "/v1/pools", body={"name": name, "master_domain_name": "m"}, field="name")
                self.refused("POST", "/v1/pools", body={"name": "p", "master_domain_name": name},
                             field="master_domain_name")

    def test_domain_paths(self):
        outside = os.path.join(self.tmp, "outside")
        for path in ("relative/dir", "dir", "./dir", "../" + outside, outside + "/..", outside + "/../x",
                     outside + "/./x", outside + "/.", outside + "//x", "", "/" + "x" * 4000):
            with self.subTest(path=path):
                self.refused("POST", "/v1/domains", body={"name": "x", "path": path}, field="path")
                self.refused("POST", "/v1/pools", body={"name": "p", "master_domain_name": "m", "path": path},
                             field="path")
        self.assertFalse(os.path.exists(outside))
        # only an existing, empty directory becomes a domain: never "/" or somebody's files
        self.refused("POST", "/v1/domains", body={"name": "x", "path": outside}, field="path")
        os.mkdir(outside)
        with open(os.path.join(outside, "precious"), "w") as f:
            f.write("user data")
        for path in ("/", outside):
            with self.subTest(path=path):
                self.refused("POST", "/v1/domains", body={"name": "x", "path": path}, status=409, field="path")
        self.assertEqual(os.listdir(outside), ["precious"])
        os.unlink(os.path.join(outside, "precious"))
        st, dom = self.d.post("/v1/domains", {"name": "outside", "path": outside})
        self.assertEqual(st, 201, dom)
        self.assertEqual(sorted(os.listdir(outside)), ["dom_md", "images"])

    def test_invalid_uuids_in_the_path(self):
        i = self.img_path(self.img)
        for bad in BAD_UUIDS:
            if "/" in bad:
                continue  # another route entirely (404), covered in test_routes
            with self.subTest(uuid=bad):
                routes = [
                    ("POST", "/v1/domains/%s/images" % bad, {"format": "raw", "capacity": MiB}, "domain"),
                    ("DELETE", self.img_path(bad), None, "image"),
                    ("DELETE", "/v1/domains/%s/images/%s" % (bad, self.img), None, "domain"),
                    ("DELETE", i + "/volumes/" + bad, None, "volume"),
                    ("POST", self.img_path(bad) + "/snapshots", None, "image"),
                    ("DELETE", i + "/snapshots/" + bad, None, "volume"),
                    ("POST", self.img_path(bad) + "/template", None, "image"),
                    ("POST", self.img_path(bad) + "/clone", None, "image"),
                    ("POST", self.img_path(bad) + "/copy", {"domain": self.dom2}, "image"),
                    ("POST", self.img_path(bad) + "/resize", {"capacity": 64 * MiB}, "image"),
                    ("POST", "/v1/tasks/%s/abort" % bad, None, "task"),
                    ("GET", "/v1/domains/%s/check" % bad, None, "domain"),
                ]
                for method, path, body, field in routes:
                    self.refused(method, path, body=body, field=field)

    def test_invalid_uuids_in_the_body(self):
        i = self.img_path(self.img)
        for bad in BAD_UUIDS:
            if bad == NO_UUID:
                continue
            with self.subTest(uuid=bad):
                self.refused("POST", i + "/snapshots", body={"parent": bad}, field="parent")
                self.refused("POST", i + "/copy", body={"domain": bad}, field="domain")
                self.refused("POST", "/v1/domains", body={"name": "x", "pool": bad}, field="pool")
        # valid UUIDs of nothing
        self.refused("POST", i + "/snapshots", body={"parent": NO_UUID}, field="parent")
        self.refused("POST", i + "/copy", body={"domain": NO_UUID}, field="domain")
        self.refused("POST", "/v1/domains", body={"name": "x", "pool": NO_UUID}, field="pool")
        # a volume of another image, and an image's uuid, are not parents
        self.refused("POST", i + "/snapshots", body={"parent": self.tbase}, field="parent")
        self.refused("POST", i + "/snapshots", body={"parent": self.img}, field="parent")
        # copying to an image or pool uuid instead of a domain
        self.refused("POST", i + "/copy", body={"domain": self.pool}, field="domain")

    def test_conflicts(self):
        i = self.img_path(self.img)
        # a parent in the image that is not its top
        err = self.refused("POST", i + "/snapshots", body={"parent": self.base}, status=409, field="parent")
        self.assertIn(self.top, err["error"]["message"])
        # a volume that has children cannot be discarded
        self.refused("DELETE", i + "/volumes/" + self.base, status=409)
        # the only volume of an image
        self.refused("DELETE", self.img_path(self.tmpl) + "/volumes/" + self.tbase, status=409)
        self.refused("DELETE", self.img_path(self.tmpl) + "/snapshots/" + self.tbase, status=409)
        # a template is read-only: no snapshot, no resize, no merge
        t = self.img_path(self.tmpl)
        self.refused("POST", t + "/snapshots", status=409)
        self.refused("POST", t + "/snapshots", body={"parent": self.tbase}, status=409)
        self.refused("POST", t + "/resize", body={"capacity": 64 * MiB}, status=409)
        # cloning what is not a template
        self.refused("POST", i + "/clone", body={"name": "c"}, status=409)
        # a template with clones cannot go
        clone = self.d.run_task("POST", t + "/clone", {"name": "c"})[0]
        self.refused("DELETE", t, status=409)
        # a clone cannot be made a template
        self.refused("POST", self.img_path(clone["image"]) + "/template", status=409)
        # a task that has ended cannot be aborted
        self.refused("POST", "/v1/tasks/%s/abort" % self.done_task, status=409)
        # names are unique
        self.refused("POST", "/v1/domains", body={"name": "second"}, status=409, field="name")
        self.refused("POST", "/v1/pools", body={"name": "default", "master_domain_name": "m"}, status=409,
                     field="name")

    def test_unknown_objects(self):
        i = self.img_path(self.img)
        other = "/v1/domains/%s/images/%s" % (NO_UUID, self.img)
        cases = [
            ("POST", "/v1/domains/%s/images" % NO_UUID, {"format": "raw", "capacity": MiB}),
            ("DELETE", other, None),
            ("DELETE", self.img_path(NO_UUID), None),
            ("DELETE", "/v1/domains/%s/images/%s" % (self.dom2, self.img), None),
            ("DELETE", i + "/volumes/" + NO_UUID, None),
            ("DELETE", i + "/snapshots/" + NO_UUID, None),
            ("DELETE", i + "/volumes/" + self.tbase, None),
            ("POST", self.img_path(NO_UUID) + "/snapshots", None),
            ("POST", other + "/snapshots", None),
            ("DELETE", self.img_path(NO_UUID) + "/snapshots/" + self.top, None),
            ("POST", self.img_path(NO_UUID) + "/template", None),
            ("POST", self.img_path(NO_UUID) + "/clone", None),
            ("POST", self.img_path(NO_UUID) + "/copy", {"domain": self.dom2}),
            ("POST", other + "/copy", {"domain": self.dom2}),
            ("POST", self.img_path(NO_UUID) + "/resize", {"capacity": 64 * MiB}),
            ("POST", "/v1/tasks/%s/abort" % NO_UUID, None),
            ("GET", "/v1/domains/%s/check" % NO_UUID, None),
        ]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                self.refused(method, path, body=body, status=404)

    def test_routes(self):
        for path in ("/", "/v1", "/v2/domains", "/v1/domain", "/v1/domains/%s/images/%s/nope" % (self.dom, self.img),
                     "/v1/domains/%s/" % self.dom, "/v1//domains", "/v1/domains/%s/images/../.." % self.dom,
                     "/v1/domains/%s/images/%s/volumes/%s/x" % (self.dom, self.img, self.top),
                     "/v1/tasks/%s/abort/x" % self.done_task, "/V1/domains"):
            for method in ("GET", "POST", "DELETE", "PUT"):
                with self.subTest(method=method, path=path):
                    self.refused(method, path, status=404)
        for method, path in (("PUT", "/v1/domains"), ("DELETE", "/v1/domains"), ("DELETE", "/v1/pools"),
                             ("PATCH", self.img_path(self.img)), ("POST", self.img_path(self.img)),
                             ("PUT", self.img_path()), ("GET", "/v1/tasks/%s/abort" % self.done_task),
                             ("DELETE", "/v1/tasks/%s" % self.done_task), ("POST", "/v1/host"),
                             ("POST", self.img_path(self.img) + "/volumes/" + self.top)):
            with self.subTest(method=method, path=path):
                self.refused(method, path, status=405)


class BodyLimitTest(DaemonTest):
    """The limit is max_body_bytes (65536 unless configured)."""

    def check_limit(self, limit):
        d = self.d
        paths = [("POST", "/v1/pools"), ("POST", "/v1/domains"), ("POST", self.img_path()),
                 ("DELETE", self.img_path(self.img)), ("POST", self.img_path(self.img) + "/snapshots"),
                 ("POST", self.img_path(self.img) + "/resize"), ("POST", "/v1/tasks/%s/abort" % NO_UUID)]
        for method, path in paths:
            for size in (limit + 1, limit + 4096, 4 * limit):
                with self.subTest(path=path, size=size):
                    disk = tree_snapshot(d.data_dir)
                    raw = b'{"name": "' + b"x" * (size - 12) + b'"}'
                    self.assertEqual(len(raw), size)
                    st, err = d.request(method, path, raw=raw)
                    self.assertEqual(st, 413, err)
                    self.assertEqual(err["error"]["field"], "body")
                    self.assertEqual(tree_snapshot(d.data_dir), disk)
        # exactly the limit is read (and refused for what it says, not for its size)
        raw = b'{"format": "vmdk", "capacity": 1048576}'
        raw += b" " * (limit - len(raw))
        st, err = d.request("POST", self.img_path(), raw=raw)
        self.assertEqual(st, 400, err)
        self.assertEqual(err["error"]["field"], "format")

    def setUp(self):
        super().setUp()
        self.img, _ = self.d.create_image(self.dom, fmt="qcow2", capacity=MiB)

    def test_default_limit(self):
        self.check_limit(65536)


class SmallBodyLimitTest(BodyLimitTest):
    conf_extra = "max_body_bytes = 2000\n"

    def test_default_limit(self):
        self.check_limit(2000)


if __name__ == "__main__":
    import unittest
    unittest.main()
