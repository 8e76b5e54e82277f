"""Crash recovery: sanpoold is killed (kill -9) in the middle of tasks and
started again. Every acknowledged task must then be completed (its result
usable) or rolled back (nothing of it left, on disk or in the API); no volume
is ILLEGAL, the journals are empty, and GET /v1/tasks shows the interrupted
tasks with recovered=true.

(a) CrashPointTest: every named crash point (SANPOOL_CRASH_AT) of every
    operation, with the outcome each must have.
(b) RandomKillTest: a mixed workload killed after a random delay, many rounds.
    The seed is printed; replay with SANPOOL_TEST_SEED=<seed>.
(c) SigtermTest: a clean SIGTERM in the middle of tasks.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from sanpool import MiB, Daemon, qemu_img_info

CRASH_TIMEOUT = 60


# ---------------------------------------------------------------- helpers

def domain_root(d, domain):
    return os.path.join(d.data_dir, "domains", domain)


def journal_records(d):
    """{task uuid: record} of every journal record on disk, with any other file
    found in a journal directory reported under its name."""
    out = {}
    base = os.path.join(d.data_dir, "domains")
    for dom in sorted(os.listdir(base)):
        jdir = os.path.join(base, dom, "dom_md", "journal")
        if not os.path.isdir(jdir):
            continue
        for name in sorted(os.listdir(jdir)):
            path = os.path.join(jdir, name)
            try:
                with open(path) as f:
                    rec = json.load(f)
            except ValueError:
                rec = {"unreadable": path}
            out[rec.get("task", name)] = rec
    return out


def qemu_io_reads(tc, path, fmt, reads):
    """Reads (pattern, offset, length) through the whole chain in one qemu-io."""
    if not reads:
        return
    args = ["qemu-io", "-f", fmt]
    for pat, off, length in reads:
        args += ["-c", "read -P 0x%02x %d %d" % (pat, off, length)]
    r = subprocess.run(args + [path], capture_output=True, text=True)
    out = (r.stdout + r.stderr).lower()
    tc.assertTrue(r.returncode == 0 and "fail" not in out and "error" not in out,
                  "data lost in %s (%s): %s %s" % (path, reads, r.stdout, r.stderr))


def qemu_io_write(path, fmt, writes):
    args = ["qemu-io", "-f", fmt]
    for pat, off, length in writes:
        args += ["-c", "write -P 0x%02x %d %d" % (pat, off, length)]
    r = subprocess.run(args + [path], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), (r.stdout, r.stderr)


def check_consistent(tc, d):
    """Checks the whole state after recovery; returns {image uuid: (domain, volumes)}."""
    st, doms = d.get("/v1/domains")
    tc.assertEqual(st, 200, doms)
    leftovers = {t: r for t, r in journal_records(d).items()}
    tc.assertEqual(leftovers, {}, "journal not empty after recovery")
    found = {}
    for dom in doms:
        du = dom["uuid"]
        st, imgs = d.get("/v1/domains/%s/images" % du)
        tc.assertEqual(st, 200, imgs)
        expected_files = set()
        for img in imgs:
            tc.assertEqual(img["legality"], "LEGAL", img)
            tc.assertFalse(img["busy"], img)
            st, vols = d.get("/v1/domains/%s/images/%s/volumes" % (du, img["uuid"]))
            tc.assertEqual(st, 200, vols)
            expected_files.add(img["uuid"])
            for v in vols:
                tc.assertEqual(v["legality"], "LEGAL", v)
                expected_files.add(os.path.join(img["uuid"], v["uuid"]))
                expected_files.add(os.path.join(img["uuid"], v["uuid"] + ".meta"))
                info = qemu_img_info(v["path"])
                tc.assertEqual(info["format"], v["format"], v)
                tc.assertEqual(info["virtual-size"], v["capacity"], v)
                if v["parent"]:
                    tc.assertEqual(info.get("backing-filename"), "../%s/%s" % (v["parent_image"], v["parent"]),
                                   "qcow2 header and metadata disagree on the parent of %s" % v["uuid"])
                    st, p = d.get("/v1/domains/%s/images/%s/volumes/%s" % (du, v["parent_image"], v["parent"]))
                    tc.assertEqual(st, 200, "parent of %s is gone: %s" % (v["uuid"], p))
                    tc.assertEqual(p["legality"], "LEGAL", p)
                else:
                    tc.assertNotIn("backing-filename", info, v)
                if v["format"] == "qcow2":
                    r = subprocess.run(["qemu-img", "check", "-q", "-f", "qcow2", v["path"]],
                                       capture_output=True, text=True)
                    tc.assertEqual(r.returncode, 0, "qemu-img check %s: %s %s" % (v["path"], r.stdout, r.stderr))
            # the whole chain opens (every backing file resolves)
            top = vols[-1]
            r = subprocess.run(["qemu-img", "info", "--backing-chain", "--output=json", top["path"]],
                               capture_output=True, text=True)
            tc.assertEqual(r.returncode, 0, r.stderr)
            inherited = 0
            if img.get("template_source"):
                # a template may itself be a chain (made from an image with snapshots)
                st, tvols = d.get("/v1/domains/%s/images/%s/volumes" % (du, img["template_source"]["image"]))
                tc.assertEqual(st, 200, tvols)
                inherited = len(tvols)
            tc.assertEqual(len(json.loads(r.stdout)), len(vols) + inherited)
            found[img["uuid"]] = (du, vols)
        # nothing on disk that the API does not know about
        images_dir = os.path.join(domain_root(d, du), "images")
        on_disk = set()
        for dirpath, dirnames, filenames in os.walk(images_dir):
            for name in dirnames + filenames:
                on_disk.add(os.path.relpath(os.path.join(dirpath, name), images_dir))
        tc.assertEqual(on_disk, expected_files, "files on domain %s that the API does not show" % du)
    return found


def wait_killed(tc, d):
    """Waits for a daemon that must kill itself at its crash point."""
    try:
        rc = d.proc.wait(timeout=CRASH_TIMEOUT)
    except subprocess.TimeoutExpired:
        d.kill()
        tc.fail("the crash point was not reached; log:\n" + d.read_log()[-3000:])
    tc.assertEqual(rc, -signal.SIGKILL, "sanpoold ended with %s instead of its crash point; log:\n%s"
                   % (rc, d.read_log()[-3000:]))
    d.kill()


def try_request(d, method, path, body=None):
    """A request to a daemon that may die while answering: (status, body) or (None, None)."""
    try:
        return d.request(method, path, body=body)
    except (ConnectionError, OSError) as e:
        if d.proc and d.proc.poll() is None:
            raise
        return None, str(e)


def recovered_tasks(tc, d):
    st, tasks = d.get("/v1/tasks")
    tc.assertEqual(st, 200, tasks)
    return {t["uuid"]: t for t in tasks}


class CrashBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-crash-")
        self.d = Daemon(self.tmp)

    def tearDown(self):
        if self.d.proc:
            rc = self.d.stop()
            if rc != 0:
                self.fail("sanpoold exited with %s on SIGTERM; log:\n%s" % (rc, self.d.read_log()[-5000:]))
        if os.environ.get("SANPOOL_TEST_KEEP"):
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def ipath(self, dom, image=""):
        return "/v1/domains/%s/images%s" % (dom, ("/" + image) if image else "")

    def vpath(self, dom, image, volume):
        st, v = self.d.get(self.ipath(dom, image) + "/volumes/" + volume)
        self.assertEqual(st, 200, v)
        return v["path"]

    def chain(self, dom, image):
        st, vols = self.d.get(self.ipath(dom, image) + "/volumes")
        self.assertEqual(st, 200, vols)
        return [v["uuid"] for v in vols]

    def assert_image_gone(self, dom, image):
        st, body = self.d.get(self.ipath(dom, image))
        self.assertEqual(st, 404, body)
        self.assertFalse(os.path.exists(os.path.join(domain_root(self.d, dom), "images", image)))

    def read_top(self, dom, image, reads):
        st, vols = self.d.get(self.ipath(dom, image) + "/volumes")
        self.assertEqual(st, 200, vols)
        qemu_io_reads(self, vols[-1]["path"], vols[-1]["format"], reads)


# ------------------------------------------------------- (a) crash points

# the data the base setup writes: (pattern, offset, length) read through the top
DATA = [(0x11, 0, MiB), (0x22, MiB, MiB), (0x33, 2 * MiB, MiB)]


class CrashPointTest(CrashBase):
    """One test per (operation, crash point): set up, restart with
    SANPOOL_CRASH_AT, submit the operation, let the daemon kill itself, start
    it again and check the outcome each crash point must have."""

    def base_setup(self):
        """Image A: raw base (0x11) <- s1 (0x22) <- s2 (0x33); a template T (0x55); a second domain."""
        d, dom = self.d, self.dom
        c = {}
        c["A"], c["base"] = d.create_image(dom, fmt="raw", capacity=16 * MiB, name="a")
        qemu_io_write(self.vpath(dom, c["A"], c["base"]), "raw", [DATA[0]])
        c["s1"] = d.run_task("POST", self.ipath(dom, c["A"]) + "/snapshots")[0]["volume"]
        qemu_io_write(self.vpath(dom, c["A"], c["s1"]), "qcow2", [DATA[1]])
        c["s2"] = d.run_task("POST", self.ipath(dom, c["A"]) + "/snapshots")[0]["volume"]
        qemu_io_write(self.vpath(dom, c["A"], c["s2"]), "qcow2", [DATA[2]])
        c["T"], c["tbase"] = d.create_image(dom, fmt="qcow2", capacity=16 * MiB, name="t")
        qemu_io_write(self.vpath(dom, c["T"], c["tbase"]), "qcow2", [(0x55, 0, MiB)])
        d.run_task("POST", self.ipath(dom, c["T"]) + "/template")
        st, dom2 = d.post("/v1/domains", {"name": "second"})
        self.assertEqual(st, 201, dom2)
        c["dom2"] = dom2["uuid"]
        return c

    def run_crash(self, op, point, expect_state):
        d = self.d
        d.start()
        self.dom = d.default_domain()
        c = self.base_setup()
        method, path, body = getattr(self, "op_" + op)(c)
        self.assertEqual(d.stop(), 0)

        d.start(env_extra={"SANPOOL_CRASH_AT": point})
        st, acc = try_request(d, method, path, body)
        self.assertIn(st, (202, None), acc)
        wait_killed(self, d)
        # acknowledged means journaled: the record is there for recovery
        recs = journal_records(d)
        self.assertEqual(len(recs), 1, recs)
        task, rec = next(iter(recs.items()))
        if acc and st == 202:
            self.assertEqual(acc["task"], task)

        d.start()
        tasks = recovered_tasks(self, d)
        self.assertIn(task, tasks, "the interrupted task is not listed after recovery")
        t = tasks[task]
        self.assertTrue(t["recovered"], t)
        self.assertEqual(t["state"], expect_state, t)
        check_consistent(self, d)
        getattr(self, "check_" + op)(c, rec, expect_state == "finished")

    # --- operations: (method, path, body) and the check of their outcome

    def op_create_raw(self, c):
        return "POST", self.ipath(self.dom), {"name": "n", "format": "raw", "allocation": "preallocated",
                                               "capacity": 64 * MiB}

    def check_create_raw(self, c, rec, done, fmt="raw"):
        if not done:
            return self.assert_image_gone(self.dom, rec["image"])
        st, img = self.d.get(self.ipath(self.dom, rec["image"]))
        self.assertEqual(st, 200, img)
        self.assertEqual((img["format"], img["capacity"]), (fmt, 64 * MiB))
        path = self.vpath(self.dom, rec["image"], rec["volume"])
        if fmt == "raw":
            self.assertGreaterEqual(os.stat(path).st_blocks * 512, 64 * MiB)
        qemu_io_reads(self, path, fmt, [(0, 0, 4 * MiB)])

    op_create_qcow2 = lambda self, c: ("POST", self.ipath(self.dom), {
        "name": "n", "format": "qcow2", "allocation": "preallocated", "capacity": 64 * MiB})

    def check_create_qcow2(self, c, rec, done):
        self.check_create_raw(c, rec, done, fmt="qcow2")

    def op_snapshot(self, c):
        return "POST", self.ipath(self.dom, c["A"]) + "/snapshots", {"parent": c["s2"]}

    def check_snapshot(self, c, rec, done):
        chain = [c["base"], c["s1"], c["s2"]] + ([rec["volume"]] if done else [])
        self.assertEqual(self.chain(self.dom, c["A"]), chain)
        if not done:
            self.assertFalse(os.path.exists(os.path.join(domain_root(self.d, self.dom), "images", c["A"],
                                                         rec["volume"])))
        self.read_top(self.dom, c["A"], DATA)

    def op_clone(self, c):
        return "POST", self.ipath(self.dom, c["T"]) + "/clone", {"name": "vm"}

    def check_clone(self, c, rec, done):
        if not done:
            return self.assert_image_gone(self.dom, rec["image"])
        st, img = self.d.get(self.ipath(self.dom, rec["image"]))
        self.assertEqual(img["template_source"], {"image": c["T"], "volume": c["tbase"]})
        self.read_top(self.dom, rec["image"], [(0x55, 0, MiB)])

    def op_copy(self, c):
        return "POST", self.ipath(self.dom, c["A"]) + "/copy", {"domain": c["dom2"], "format": "qcow2"}

    def check_copy(self, c, rec, done):
        if not done:
            return self.assert_image_gone(c["dom2"], rec["image"])
        self.read_top(c["dom2"], rec["image"], DATA)

    def op_merge_rebase(self, c):
        return "DELETE", self.ipath(self.dom, c["A"]) + "/snapshots/" + c["s1"], None

    def check_merge_rebase(self, c, rec, done):
        self.assertEqual(self.chain(self.dom, c["A"]),
                         [c["base"], c["s2"]] if done else [c["base"], c["s1"], c["s2"]])
        self.read_top(self.dom, c["A"], DATA)

    def op_merge_commit(self, c):
        return "DELETE", self.ipath(self.dom, c["A"]) + "/snapshots/" + c["s2"], None

    def check_merge_commit(self, c, rec, done):
        self.assertEqual(self.chain(self.dom, c["A"]),
                         [c["base"], c["s1"]] if done else [c["base"], c["s1"], c["s2"]])
        self.read_top(self.dom, c["A"], DATA)

    def op_delete_volume(self, c):
        return "DELETE", self.ipath(self.dom, c["A"]) + "/volumes/" + c["s2"], None

    def check_delete_volume(self, c, rec, done):
        self.assertTrue(done)
        self.assertEqual(self.chain(self.dom, c["A"]), [c["base"], c["s1"]])
        self.read_top(self.dom, c["A"], DATA[:2] + [(0, 2 * MiB, MiB)])

    def op_delete_image(self, c):
        return "DELETE", self.ipath(self.dom, c["A"]), None

    def check_delete_image(self, c, rec, done):
        self.assertTrue(done)
        self.assert_image_gone(self.dom, c["A"])

    def op_resize(self, c):
        return "POST", self.ipath(self.dom, c["A"]) + "/resize", {"capacity": 32 * MiB}

    def check_resize(self, c, rec, done):
        self.assertTrue(done)
        st, img = self.d.get(self.ipath(self.dom, c["A"]))
        self.assertEqual(img["capacity"], 32 * MiB)
        self.read_top(self.dom, c["A"], DATA + [(0, 16 * MiB, 16 * MiB)])

    def op_resize_raw(self, c):
        """A raw preallocated volume: qemu-img refuses to preallocate again at the same size."""
        c["R"], c["rbase"] = self.d.create_image(self.dom, fmt="raw", capacity=16 * MiB, allocation="preallocated")
        qemu_io_write(self.vpath(self.dom, c["R"], c["rbase"]), "raw", [(0x66, 0, MiB)])
        return "POST", self.ipath(self.dom, c["R"]) + "/resize", {"capacity": 32 * MiB}

    def check_resize_raw(self, c, rec, done):
        self.assertTrue(done)
        st, img = self.d.get(self.ipath(self.dom, c["R"]))
        self.assertEqual(img["capacity"], 32 * MiB)
        self.assertGreaterEqual(os.stat(self.vpath(self.dom, c["R"], c["rbase"])).st_blocks * 512, 32 * MiB)
        self.read_top(self.dom, c["R"], [(0x66, 0, MiB), (0, 16 * MiB, 16 * MiB)])

    def op_template(self, c):
        return "POST", self.ipath(self.dom, c["A"]) + "/template", None

    def check_template(self, c, rec, done):
        self.assertTrue(done)
        st, img = self.d.get(self.ipath(self.dom, c["A"]))
        self.assertTrue(img["template"], img)
        st, vols = self.d.get(self.ipath(self.dom, c["A"]) + "/volumes")
        self.assertTrue(all(v["shared"] for v in vols), vols)
        self.read_top(self.dom, c["A"], DATA)


CREATE_POINTS = [("create.after_illegal_meta", "failed"), ("create.after_data", "failed"),
                 ("create.after_legal", "finished")]
CRASH_MATRIX = {
    "create_raw": CREATE_POINTS,
    "create_qcow2": CREATE_POINTS,
    "snapshot": CREATE_POINTS,
    "clone": CREATE_POINTS,
    "copy": [("copy.after_create", "failed"), ("copy.after_convert", "failed")],
    "merge_rebase": [("merge.after_rebase", "finished"), ("merge.after_commit_point", "finished"),
                     ("delete.after_illegal", "finished")],
    "merge_commit": [("merge.after_parent_illegal", "finished"), ("merge.after_commit_data", "finished"),
                     # the parent LEGAL again, the top not yet removed (found by test_faults.py)
                     ("merge.after_parent_legal", "finished"), ("delete.after_illegal", "finished")],
    "delete_volume": [("delete.after_illegal", "finished")],
    "delete_image": [("delete.after_illegal", "finished")],
    "resize": [("resize.after_data", "finished")],
    "resize_raw": [("resize.after_data", "finished")],
    "template": [("template.after_volume", "finished")],
}


def _crash_test(op, point, state):
    return lambda self: self.run_crash(op, point, state)


for _op, _points in CRASH_MATRIX.items():
    for _point, _state in _points:
        setattr(CrashPointTest, "test_%s_at_%s" % (_op, _point.replace(".", "_")), _crash_test(_op, _point, _state))


class CrashPointCoverageTest(unittest.TestCase):
    def test_every_crash_point_is_exercised(self):
        """A crash point added to lib/ or lease/ that no integration test crashes at fails this test."""
        top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        names = set()
        for part in ("lib", "lease"):
            for dirpath, _, files in os.walk(os.path.join(top, part)):
                for f in files:
                    if f.endswith(".c") and f != "crashpoint.c":
                        with open(os.path.join(dirpath, f)) as fh:
                            src = fh.read()
                        names.update(p.split('"')[1] for p in src.split("crashpoint(")[1:])
        tested = {p for points in CRASH_MATRIX.values() for p, _ in points}
        # points of one subsystem are exercised where it is tested (the block backend
        # on a VG in test_block_domain.py, the mailbox, volume leases...)
        here = os.path.dirname(os.path.abspath(__file__))
        for f in os.listdir(here):
            if f.startswith("test_") and f.endswith(".py"):
                with open(os.path.join(here, f)) as fh:
                    tested.update(re.findall(r'"SANPOOL_CRASH_AT": "([\w.]+)"', fh.read()))
        self.assertTrue(names)
        self.assertEqual(names - tested, set())


# ----------------------------------------------------- (b) random kills

SLOTS = 8  # 1 MiB slots at the start of every image, written with patterns


class RandomKillTest(CrashBase):
    ROUNDS = int(os.environ.get("SANPOOL_TEST_ROUNDS", "32"))

    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("SANPOOL_TEST_SEED", str(random.randrange(1 << 32))))
        print("\nRandomKillTest seed %d (replay: SANPOOL_TEST_SEED=%d)" % (self.seed, self.seed), flush=True)
        self.rnd = random.Random(self.seed)

    # The model: per image its domain, kind and the writes visible through its
    # top: [volume uuid or None (inherited), slot, pattern] in time order.
    def expected_slots(self, img):
        slots = [0] * SLOTS
        for _, slot, pat in img["writes"]:
            slots[slot] = pat
        return slots

    def verify_model(self, found):
        self.assertEqual(set(found), set(self.images), "images in the API differ from the acknowledged outcomes")
        for uuid, img in self.images.items():
            dom, vols = found[uuid]
            self.assertEqual(dom, img["domain"])
            live = {v["uuid"] for v in vols}
            img["writes"] = [w for w in img["writes"] if w[0] is None or w[0] in live]
            reads = [(p, s * MiB, MiB) for s, p in enumerate(self.expected_slots(img))]
            if img.get("bulk"):
                # a copy either completed or was rolled back: its first, middle and last MiB tell
                reads += [(0x5A, (SLOTS + o) * MiB, MiB) for o in (0, 31, 63)]
            qemu_io_reads(self, vols[-1]["path"], vols[-1]["format"], reads)

    def add_image(self, dom, image, kind, writes=(), bulk=False):
        self.images[image] = {"domain": dom, "kind": kind, "writes": [[None, s, p] for _, s, p in writes],
                              "bulk": bulk}

    def test_random_kills(self):
        d, rnd = self.d, self.rnd
        d.start()
        self.dom = d.default_domain()
        st, dom2 = d.post("/v1/domains", {"name": "copies"})
        self.assertEqual(st, 201, dom2)
        self.dom2 = dom2["uuid"]
        self.images = {}
        # a 256 MiB source with 64 MiB of data, copied again and again
        src, sv = d.create_image(self.dom, fmt="raw", capacity=256 * MiB, name="source")
        writes = [(None, s, 0x80 + s) for s in range(SLOTS)]
        qemu_io_write(self.vpath(self.dom, src, sv), "raw",
                      [(p, s * MiB, MiB) for _, s, p in writes] + [(0x5A, SLOTS * MiB, 64 * MiB)])
        self.add_image(self.dom, src, "source", writes, bulk=True)
        tmpl, tv = d.create_image(self.dom, fmt="qcow2", capacity=32 * MiB, name="template")
        qemu_io_write(self.vpath(self.dom, tmpl, tv), "qcow2", [(0x70, 0, MiB)])
        d.run_task("POST", self.ipath(self.dom, tmpl) + "/template")
        self.add_image(self.dom, tmpl, "template", [(None, 0, 0x70)])

        self.window = 0.1
        outcomes = {"finished": 0, "failed": 0, "before": 0}
        started = time.monotonic()
        for rnd_no in range(self.ROUNDS):
            self.one_round(rnd_no, outcomes)
        print("RandomKillTest: %d rounds in %.1f s; recovered finished %d, rolled back %d, done before the kill %d;"
              " kill window at the end %.3f s"
              % (self.ROUNDS, time.monotonic() - started, outcomes["finished"], outcomes["failed"],
                 outcomes["before"], self.window), flush=True)
        # the kills must actually have interrupted work, else the test proves nothing
        self.assertGreater(outcomes["finished"] + outcomes["failed"], self.ROUNDS // 2, outcomes)

    def writable(self):
        return [u for u, i in self.images.items() if i["kind"] == "vm"]

    def one_round(self, rnd_no, outcomes):
        d, rnd = self.d, self.rnd
        ctx = "round %d (seed %d)" % (rnd_no, self.seed)
        # fresh data on some images before the operations
        st_, _ = None, None
        for image in rnd.sample(self.writable(), min(2, len(self.writable()))):
            img = self.images[image]
            st, vols = d.get(self.ipath(img["domain"], image) + "/volumes")
            top = vols[-1]
            slot, pat = rnd.randrange(SLOTS), rnd.randrange(1, 256)
            qemu_io_write(top["path"], top["format"], [(pat, slot * MiB, MiB)])
            img["writes"].append([top["uuid"], slot, pat])

        ops, used = [], set()
        for _ in range(rnd.randint(2, 4)):
            op = self.pick_op(used)
            if op is None:
                continue
            kind, method, path, body, info = op
            st, acc = d.request(method, path, body=body)
            self.assertEqual(st, 202, "%s: %s %s %s -> %s %s" % (ctx, method, path, body, st, acc))
            ops.append((kind, acc, info))
        # most operations take tens of milliseconds, a copy a few hundred; the
        # window scales with how long this machine takes (see adapt_window)
        longest = self.window * (6 if any(o[0] == "copy" for o in ops) else 1)
        delay = rnd.uniform(0, longest if rnd.random() < 0.7 else 2 * longest)
        time.sleep(delay)  # the fault injection itself: kill after a random delay
        d.kill()
        self.assert_no_children_left(ctx)
        journaled = journal_records(d)
        d.start()
        tasks = recovered_tasks(self, d)
        for t in tasks.values():
            self.assertTrue(t["recovered"], "%s: %s" % (ctx, t))
            self.assertIn(t["state"], ("finished", "failed"), "%s: %s" % (ctx, t))
        # every journaled task was acknowledged, and is listed as recovered
        acked = {acc["task"] for _, acc, _ in ops}
        self.assertLessEqual(set(journaled), acked, ctx)
        self.assertEqual(set(journaled), set(tasks), ctx)
        found = check_consistent(self, d)
        interrupted = 0
        for kind, acc, info in ops:
            t = tasks.get(acc["task"])
            state = t["state"] if t else "finished"  # not journaled any more: it ended before the kill
            outcomes[t["state"] if t else "before"] += 1
            interrupted += t is not None
            with self.subTest(round=rnd_no, op=kind, task=acc["task"], state=state):
                self.apply(kind, acc, info, state == "finished", found)
        self.verify_model(found)
        self.adapt_window(interrupted, len(ops))

    def adapt_window(self, interrupted, submitted):
        """Keep the kills landing in the middle of work however fast the machine is.

        A fixed window lets a fast or idle machine finish every task before the
        kill (the round then proves nothing) and a loaded one never start them:
        shrink the window after a round where everything ended, widen it after
        one where nothing did.
        """
        if submitted and interrupted == 0:
            self.window = max(0.005, self.window * 0.6)
        elif submitted and interrupted == submitted:
            self.window = min(1.0, self.window * 1.5)

    def assert_no_children_left(self, ctx):
        """No qemu-img of the killed daemon goes on writing under recovery."""
        deadline = time.monotonic() + 5
        while True:
            left = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read().decode(errors="replace")
                except OSError:
                    continue
                if cmd.startswith("qemu-img") and self.tmp in cmd:
                    left.append(cmd.replace("\0", " "))
            if not left or time.monotonic() > deadline:
                break
        self.assertEqual(left, [], "%s: qemu-img outlived sanpoold" % ctx)

    def pick_op(self, used):
        rnd = self.rnd
        vms = [u for u in self.writable() if u not in used]
        # the population stays small (a handful of images, short chains) so that a round stays short
        n_vms = len(self.writable())
        choices = ["create"] * (2 if n_vms < 3 else 1 if n_vms < 5 else 0)
        if vms:
            choices += ["snapshot", "snapshot", "merge", "merge", "delete_volume", "resize"]
            if n_vms > 2:
                choices += ["delete_image"] * (1 if n_vms < 5 else 3)
            if rnd.random() < 0.1:
                choices.append("template")
        templates = [u for u, i in self.images.items() if i["kind"] == "template" and u not in used]
        if templates and n_vms < 5:
            choices.append("clone")
        copies = [u for u, i in self.images.items() if i["kind"] == "copy" and u not in used]
        if "source" not in used and len(copies) < 2:
            choices += ["copy", "copy"]
        if copies:
            choices.append("delete_copy")
        if not choices:
            return None
        kind = rnd.choice(choices)
        d = self.d
        if kind == "create":
            body = {"name": "vm", "format": rnd.choice(["raw", "qcow2"]),
                    "allocation": rnd.choice(["sparse", "preallocated"]),
                    "capacity": rnd.choice([32, 64, 128]) * MiB}
            return kind, "POST", self.ipath(self.dom), body, body
        if kind == "copy":
            used.add("source")
            src = next(u for u, i in self.images.items() if i["kind"] == "source")
            used.add(src)
            body = {"domain": self.dom2, "format": rnd.choice(["raw", "qcow2"]),
                    "allocation": rnd.choice(["sparse", "preallocated"])}
            return kind, "POST", self.ipath(self.dom, src) + "/copy", body, {"source": src}
        if kind == "delete_copy":
            image = rnd.choice(copies)
            used.add(image)
            return kind, "DELETE", self.ipath(self.dom2, image), None, {"image": image}
        if kind == "clone":
            image = rnd.choice(templates)
            used.add(image)
            return kind, "POST", self.ipath(self.dom, image) + "/clone", {"name": "clone"}, {"template": image}
        image = rnd.choice(vms)
        used.add(image)
        chain = self.chain(self.dom, image)
        info = {"image": image, "chain": chain}
        if kind == "snapshot" and len(chain) < 4:
            return kind, "POST", self.ipath(self.dom, image) + "/snapshots", {"parent": chain[-1]}, info
        if kind == "resize":
            st, img = d.get(self.ipath(self.dom, image))
            info["capacity"] = img["capacity"] + 16 * MiB
            return kind, "POST", self.ipath(self.dom, image) + "/resize", {"capacity": info["capacity"]}, info
        if kind == "delete_image":
            return kind, "DELETE", self.ipath(self.dom, image), None, info
        if kind == "template":
            if chain and self.images[image]["kind"] == "vm":
                st, img = d.get(self.ipath(self.dom, image))
                if not img.get("template_source"):
                    return kind, "POST", self.ipath(self.dom, image) + "/template", None, info
            kind = "snapshot"
            return kind, "POST", self.ipath(self.dom, image) + "/snapshots", None, info
        # merge / delete_volume need two volumes of the image's own
        if kind == "snapshot":
            kind = "merge"  # the chain is long enough: shorten it
        if len(chain) < 2:
            return "snapshot", "POST", self.ipath(self.dom, image) + "/snapshots", None, info
        if kind == "merge":
            info["volume"] = rnd.choice(chain)
            return kind, "DELETE", self.ipath(self.dom, image) + "/snapshots/" + info["volume"], None, info
        info["volume"] = chain[-1]
        return "delete_volume", "DELETE", self.ipath(self.dom, image) + "/volumes/" + chain[-1], None, info

    def apply(self, kind, acc, info, done, found):
        """Checks one acknowledged operation's outcome and updates the model."""
        if kind in ("create", "clone", "copy"):
            dom = self.dom2 if kind == "copy" else self.dom
            if not done:
                self.assertNotIn(acc["image"], found)
                self.assert_image_gone(dom, acc["image"])
                return
            self.assertIn(acc["image"], found)
            if kind == "create":
                self.assertEqual(found[acc["image"]][1][0]["capacity"], info["capacity"])
                self.add_image(dom, acc["image"], "vm")
            else:
                src = self.images[info.get("template") or info["source"]]
                self.add_image(dom, acc["image"], "vm" if kind == "clone" else "copy",
                               [(None, s, p) for s, p in enumerate(self.expected_slots(src)) if p],
                               bulk=src["bulk"])
            return
        image = info["image"]
        if kind in ("delete_image", "delete_copy"):
            self.assertTrue(done, "an acknowledged removal was not finished")
            self.assertNotIn(image, found)
            self.assert_image_gone(self.dom2 if kind == "delete_copy" else self.dom, image)
            del self.images[image]
            return
        chain = [v["uuid"] for v in found[image][1]]
        if kind == "snapshot":
            self.assertEqual(chain, info["chain"] + [acc["volume"]] if done else info["chain"])
            if not done:
                self.assertFalse(os.path.exists(os.path.join(domain_root(self.d, self.dom), "images", image,
                                                             acc["volume"])))
        elif kind == "merge":
            vol = info["volume"]
            expected = [v for v in info["chain"] if v != vol] if done else info["chain"]
            self.assertEqual(chain, expected)
            if done:
                # the volume's data moved to its child (rebase) or its parent (commit)
                i = info["chain"].index(vol)
                heir = info["chain"][i + 1] if i + 1 < len(info["chain"]) else info["chain"][i - 1]
                for w in self.images[image]["writes"]:
                    if w[0] == vol:
                        w[0] = heir
        elif kind == "delete_volume":
            self.assertTrue(done, "an acknowledged removal was not finished")
            self.assertEqual(chain, info["chain"][:-1])
        elif kind == "resize":
            self.assertTrue(done, "a resize is always finished by recovery")
            self.assertEqual(found[image][1][-1]["capacity"], info["capacity"])
        elif kind == "template":
            self.assertTrue(done, "making a template is always finished by recovery")
            self.assertTrue(all(v["shared"] for v in found[image][1]))
            self.images[image]["kind"] = "template"


# ---------------------------------------------------------- (c) SIGTERM

class SigtermTest(CrashBase):
    def test_sigterm_during_tasks_exits_0_and_is_consistent(self):
        d = self.d
        d.start()
        dom = d.default_domain()
        st, dom2 = d.post("/v1/domains", {"name": "copies"})
        src, sv = d.create_image(dom, fmt="raw", capacity=256 * MiB, name="source")
        qemu_io_write(self.vpath(dom, src, sv), "raw", [(0x5A, 0, 128 * MiB)])
        acks = []
        st, acc = d.post(self.ipath(dom, src) + "/copy", {"domain": dom2["uuid"], "allocation": "preallocated"})
        self.assertEqual(st, 202, acc)
        acks.append((dom2["uuid"], acc))
        for fmt in ("raw", "qcow2"):
            st, acc = d.post(self.ipath(dom), {"format": fmt, "allocation": "preallocated", "capacity": 256 * MiB})
            self.assertEqual(st, 202, acc)
            acks.append((dom, acc))
        # stop while the copy runs
        for _ in range(500):
            st, t = d.get("/v1/tasks/%s" % acks[0][1]["task"])
            if t["state"] != "queued":
                break
        self.assertEqual(d.stop(), 0, d.read_log()[-3000:])
        self.assertIn("received Terminated", d.read_log())
        # what was not finished stays journaled for the next start
        journaled = journal_records(d)
        self.assertLessEqual(set(journaled), {a["task"] for _, a in acks})
        d.start()
        found = check_consistent(self, d)
        tasks = recovered_tasks(self, d)
        self.assertEqual(set(tasks), set(journaled))
        for dom_, acc in acks:
            t = tasks.get(acc["task"])
            if t:
                self.assertTrue(t["recovered"], t)
                self.assertIn(t["state"], ("finished", "failed"), t)
            if acc["image"] in found:
                self.assertNotEqual(t and t["state"], "failed", t)
                self.read_top(dom_, acc["image"], [(0x5A, 0, MiB)] if dom_ != dom else [(0, 0, MiB)])
            else:
                self.assertEqual(t and t["state"], "failed", "an acknowledged task vanished: %s" % acc)
                self.assert_image_gone(dom_, acc["image"])
        self.read_top(dom, src, [(0x5A, 0, MiB), (0x5A, 127 * MiB, MiB)])


if __name__ == "__main__":
    unittest.main()
