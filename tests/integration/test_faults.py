"""Fault test: a long mixed workload (create raw/qcow2, snapshots, clones of a
template, merges, discards, deletes, copies, resizes) run by several client
threads against the real daemon, while the test kill -9s the daemon at
random moments and starts it again, many times.

Each thread owns its images and keeps a ledger of every acknowledged change
(a task the API said "finished"): right after the acknowledgement, and for
every image at the end, the image must show exactly the ledger's chain
(volume uuids and capacities); a deleted image must be gone. An operation
whose outcome the client could not see (the daemon died before the 202 or
before the task ended) must have left its image either as before or as
after it. At the end `sanpoolctl check` finds zero problems on every domain.

Seeded: the seed is printed; replay with SANPOOL_TEST_SEED=<seed> (threads
interleave differently from run to run, the choices and kill times do not).
Longer campaign: SANPOOL_FAULT_OPS (file domain, default 2000) and
SANPOOL_FAULT_BLOCK_OPS (block domain, default 300).
"""
import http.client
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from sanpool import MiB, SANPOOLCTL, Daemon
from test_block_domain import make_loop, run

FILE_OPS = int(os.environ.get("SANPOOL_FAULT_OPS", "2000"))
BLOCK_OPS = int(os.environ.get("SANPOOL_FAULT_BLOCK_OPS", "300"))
THREADS = 4
RESTART_TIMEOUT = 60


class Down(Exception):
    """The daemon died under a request."""


class Life:
    """The daemon's current incarnation: its port and a generation number that
    changes at every restart; clients wait on it when the daemon is down."""

    def __init__(self):
        self.cond = threading.Condition()
        self.port = None
        self.generation = 0
        self.stopping = False

    def set_up(self, port):
        with self.cond:
            self.port = port
            self.generation += 1
            self.cond.notify_all()

    def set_down(self):
        with self.cond:
            self.port = None

    def wait_up(self, after_generation):
        """Waits for an incarnation newer than after_generation (or any if None)."""
        deadline = time.monotonic() + RESTART_TIMEOUT
        with self.cond:
            while self.port is None or (after_generation is not None and self.generation <= after_generation):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the daemon did not come back")
                self.cond.wait(left)
            return self.port, self.generation


class Client:
    """One thread's keep-alive connection, following the daemon across restarts."""

    def __init__(self, life):
        self.life = life
        self.conn = None
        self.generation = None

    def request(self, method, path, body=None):
        """(status, body); raises Down if the daemon died under it."""
        if self.conn is None:
            port, self.generation = self.life.wait_up(None)
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            raw = json.dumps(body).encode() if body is not None else None
            self.conn.request(method, path, body=raw)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            # the next request goes to the next incarnation
            self.life.wait_up(self.generation)
            raise Down()
        return resp.status, json.loads(data) if data else None

    def retrying(self, method, path, body=None):
        """For reads: the same request again after a restart."""
        while True:
            try:
                return self.request(method, path, body)
            except Down:
                continue

    def close(self):
        if self.conn:
            self.conn.close()


class Worker(threading.Thread):
    """Runs ops operations on its own images, keeping the ledger."""

    def __init__(self, test, no, ops, kinds):
        super().__init__(name="worker-%d" % no)
        self.t, self.no, self.ops, self.kinds = test, no, ops, kinds
        self.rnd = random.Random("%d-%d" % (test.seed, no))
        self.client = Client(test.life)
        self.images = {}   # image -> {"domain", "chain": [(volume, capacity)], "kind"}
        self.deleted = {}  # image -> domain
        self.unseen_creates = 0  # creates whose 202 never arrived: an image may exist that nobody knows
        self.counts = {"finished": 0, "failed": 0, "refused": 0, "unseen": 0}
        self.cut = 0  # operations during which the daemon was killed
        self.error = None

    def run(self):
        try:
            for _ in range(self.ops):
                if self.t.failed:
                    return
                self.one_op()
                self.t.ops_done.inc()
        except BaseException as e:  # reported by the main thread
            self.error = e
            self.t.failed = True
        finally:
            self.client.close()

    # ---- observation ----
    def observe(self, domain, image):
        """The image's chain as the API shows it, or None if it does not exist."""
        st, vols = self.client.retrying("GET", "/v1/domains/%s/images/%s/volumes" % (domain, image))
        if st == 404:
            return None
        assert st == 200, (st, vols)
        return [(v["uuid"], v["capacity"]) for v in vols]

    def wait_task(self, task):
        """The task's final state, or None if it ended unseen (before a kill)."""
        while True:
            try:
                st, t = self.client.request("GET", "/v1/tasks/%s?wait_ms=5000" % task)
            except Down:
                self.cut += 1
                continue
            if st == 404:
                return None  # ended, then the daemon died: the record went with it
            assert st == 200, (st, t)
            if t["state"] not in ("queued", "running"):
                return t["state"]

    def submit(self, method, path, body=None):
        """(202 body or None if the daemon died first, final state or None, status)."""
        try:
            st, acc = self.client.request(method, path, body)
        except Down:
            self.cut += 1
            return None, None, None
        if st != 202:
            assert st in (409, 507), (method, path, body, st, acc)
            return acc, "refused", st
        return acc, self.wait_task(acc["task"]), 202

    # ---- operations ----
    def pick(self):
        rnd = self.rnd
        own = [i for i, m in self.images.items() if m["kind"] == "vm"]
        choices = []
        if len(self.images) < 6:
            choices += ["create"] * 3 + ["clone"]
            if "copy" in self.kinds:
                choices.append("copy")
        if own:
            choices += ["snapshot"] * 3 + ["delete_volume"] * 2
            choices += [k for k in ("merge", "merge", "resize") if k in self.kinds]
        if len(self.images) > 2:
            choices += ["delete_image"] * 2
        return rnd.choice(choices), own

    def one_op(self):
        rnd, t = self.rnd, self.t
        kind, own = self.pick()
        if kind in ("create", "clone", "copy"):
            if kind == "create":
                cap = rnd.choice([16, 32, 64]) * MiB
                body = {"name": "w%d" % self.no, "format": rnd.choice(["raw", "qcow2"]),
                        "allocation": rnd.choice(["sparse", "preallocated"]), "capacity": cap}
                dom, path = t.dom, "/v1/domains/%s/images" % t.dom
            elif kind == "clone":
                body, cap = {"name": "c%d" % self.no}, t.template_cap
                dom, path = t.dom, "/v1/domains/%s/images/%s/clone" % (t.dom, t.template)
            else:
                if not own:
                    return
                src = rnd.choice(own)
                cap = self.images[src]["chain"][-1][1]
                body = {"domain": t.dom2, "format": rnd.choice(["raw", "qcow2"])}
                dom, path = t.dom2, "/v1/domains/%s/images/%s/copy" % (t.dom, src)
            acc, state, st = self.submit("POST", path, body)
            if acc is None:
                self.unseen_creates += 1
                self.counts["unseen"] += 1
                return
            if st != 202:
                self.counts["refused"] += 1
                return
            image, post = acc["image"], [(acc["volume"], cap)]
            self.settle(kind, dom, image, state, None, post, "vm" if kind != "copy" else "copy")
            return
        if kind == "delete_image":
            image = rnd.choice(list(self.images))
            m = self.images[image]
            acc, state, st = self.submit("DELETE", "/v1/domains/%s/images/%s" % (m["domain"], image))
            if st not in (None, 202):
                self.counts["refused"] += 1
                return
            self.settle(kind, m["domain"], image, state, m["chain"], None, m["kind"], removal=True)
            return
        image = rnd.choice(own)
        m = self.images[image]
        chain, ipath = m["chain"], "/v1/domains/%s/images/%s" % (m["domain"], image)
        removal = False
        if kind == "snapshot" and len(chain) >= 5:
            kind = "merge" if "merge" in self.kinds else "delete_volume"
        if kind in ("merge", "delete_volume") and len(chain) < 2:
            kind = "snapshot"
        if kind == "snapshot":
            acc, state, st = self.submit("POST", ipath + "/snapshots", {"parent": chain[-1][0]})
            post = chain + [(acc["volume"], chain[-1][1])] if st == 202 else None
        elif kind == "delete_volume":
            acc, state, st = self.submit("DELETE", ipath + "/volumes/" + chain[-1][0])
            post, removal = chain[:-1], True
        elif kind == "merge":
            i = rnd.randrange(len(chain))
            if i == len(chain) - 1:  # the top: committed into its parent, which takes its size
                post = chain[:-2] + [(chain[-2][0], chain[-1][1])]
            else:                    # the child is rebased onto the volume's parent
                post = chain[:i] + chain[i + 1:]
            acc, state, st = self.submit("DELETE", ipath + "/snapshots/" + chain[i][0])
        else:  # resize
            cap = chain[-1][1] + rnd.choice([1, 4, 16]) * MiB
            acc, state, st = self.submit("POST", ipath + "/resize", {"capacity": cap})
            post = chain[:-1] + [(chain[-1][0], cap)]
        if st not in (None, 202):
            self.counts["refused"] += 1
            return
        if acc is None and kind == "snapshot":
            post = "new-top"  # the new volume's uuid was never seen
        self.settle(kind, m["domain"], image, state, chain, post, "vm", removal)

    def settle(self, kind, domain, image, state, pre, post, img_kind, removal=False):
        """Checks the image against the ledger after an operation ended (state
        "finished"/"failed") or ended unseen (None), and updates the ledger."""
        seen = self.observe(domain, image)
        ctx = "seed %d, thread %d, %s of image %s" % (self.t.seed, self.no, kind, image)
        if state == "finished":
            self.counts["finished"] += 1
            expected = post
            if post == "new-top":
                raise AssertionError(ctx + ": impossible")
            assert seen == expected, "%s: acknowledged change lost: expected %s, found %s" % (ctx, expected, seen)
        elif state in ("failed", "aborted"):
            self.counts["failed"] += 1
            # an acknowledged removal is never rolled back
            assert not removal, "%s: an acknowledged removal %s" % (ctx, state)
            assert seen == pre, "%s: failed, yet the image changed: %s -> %s" % (ctx, pre, seen)
        else:
            self.counts["unseen"] += 1
            ok = seen == pre or seen == post
            if post == "new-top":
                ok = seen == pre or (seen and len(seen) == len(pre) + 1 and seen[:-1] == pre and
                                     seen[-1][1] == pre[-1][1])
            assert ok, "%s: outcome unseen, the image is neither as before (%s) nor as after (%s): %s" % (
                ctx, pre, post, seen)
        if seen is None:
            if image in self.images:
                del self.images[image]
            self.deleted[image] = domain
        else:
            self.images[image] = {"domain": domain, "chain": seen, "kind": img_kind}
            self.deleted.pop(image, None)


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0

    def inc(self):
        with self.lock:
            self.n += 1

    def get(self):
        with self.lock:
            return self.n


class FaultBase(unittest.TestCase):
    block = False

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-faults-")
        self.seed = int(os.environ.get("SANPOOL_TEST_SEED", str(random.randrange(1 << 32))))
        print("\n%s seed %d (replay: SANPOOL_TEST_SEED=%d)" % (type(self).__name__, self.seed, self.seed), flush=True)
        self.rnd = random.Random(self.seed)
        self.life = Life()
        self.failed = False
        self.ops_done = Counter()
        self.loop = None
        self.vg = None

    def tearDown(self):
        try:
            if self.d.proc:
                self.d.kill()
        finally:
            if self.vg:
                env = dict(os.environ, LVM_SYSTEM_DIR=os.path.join(self.tmp, "run", "lvm"))
                filt = 'devices { filter = [ "a|^%s$|", "r|.*|" ] }' % self.loop
                run("vgremove", "--config", filt, "-f", self.vg, env=env)
                run("pvremove", "--config", filt, "-y", self.loop, env=env)
            if self.loop:
                run("losetup", "-d", self.loop)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        self.d.start()
        self.life.set_up(self.d.port)

    def ctl(self, *args):
        return subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:%d" % self.d.port] + list(args),
                              capture_output=True, text=True)

    def campaign(self, total_ops, kinds):
        d = self.d
        per_thread = total_ops // THREADS
        workers = [Worker(self, i, per_thread, kinds) for i in range(THREADS)]
        started = time.monotonic()
        for w in workers:
            w.start()
        kills = 0
        # kill after 5 to `most` operations: about a dozen kills even in a short campaign
        most = max(10, min(80, total_ops // 6 - 5))
        # the fault: kill -9 after a random time, start again, until the work is done
        while any(w.is_alive() for w in workers) and not self.failed:
            target = self.ops_done.get() + self.rnd.randint(5, most)
            deadline = time.monotonic() + 60
            while (self.ops_done.get() < target and any(w.is_alive() for w in workers) and not self.failed
                   and time.monotonic() < deadline):
                time.sleep(0.01)  # polls the workers' progress; the kill moment itself is random
            if not any(w.is_alive() for w in workers) or self.failed:
                break
            time.sleep(self.rnd.uniform(0, 0.05))
            self.life.set_down()
            d.kill()
            kills += 1
            self.start()
        for w in workers:
            w.join()
        for w in workers:
            if w.error:
                raise w.error
        elapsed = time.monotonic() - started
        counts = {k: sum(w.counts[k] for w in workers) for k in workers[0].counts}
        print("%s: %d operations in %.1f s, %d kills, %d operations cut by one: %s"
              % (type(self).__name__, sum(counts.values()), elapsed, kills, sum(w.cut for w in workers), counts),
              flush=True)
        self.assertGreater(kills, 5, "the daemon was hardly killed: the test proves little")
        self.assertGreater(sum(w.cut for w in workers), 0, "no operation was cut by a kill")
        self.verify(workers)

    def verify(self, workers):
        """After a last restart: the ledger against the API, and the checker."""
        self.life.set_down()
        self.d.kill()
        self.start()
        client = Client(self.life)
        known = {self.template}
        for w in workers:
            w.client = client
            for image, m in w.images.items():
                self.assertEqual(w.observe(m["domain"], image), m["chain"], "image %s lost its ledger's chain" % image)
                known.add(image)
            for image, dom in w.deleted.items():
                self.assertIsNone(w.observe(dom, image), "deleted image %s came back" % image)
        unseen_creates = sum(w.unseen_creates for w in workers)
        for dom in (self.dom, self.dom2):
            if not dom:
                continue
            st, imgs = client.request("GET", "/v1/domains/%s/images" % dom)
            self.assertEqual(st, 200, imgs)
            unknown = [i["uuid"] for i in imgs if i["uuid"] not in known]
            # only creates whose answer never arrived may have made images nobody knows
            self.assertLessEqual(len(unknown), unseen_creates, unknown)
            unseen_creates -= len(unknown)
        client.close()
        r = self.ctl("check")
        self.assertEqual(r.returncode, 0, "sanpoolctl check (seed %d):\n%s%s" % (self.seed, r.stdout, r.stderr))
        r = self.ctl("--json", "check")
        for rep in json.loads(r.stdout):
            self.assertEqual(rep["problems"], [], rep)
            self.assertTrue(rep["quiet"], rep)
            self.assertEqual(rep["checked"]["journal_records"], 0, rep)
        self.assertEqual(self.d.stop(), 0, self.d.read_log()[-3000:])

    def make_template(self):
        d = self.d
        self.template_cap = 32 * MiB
        self.template, _ = d.create_image(self.dom, fmt="qcow2", capacity=self.template_cap, name="tmpl")
        d.run_task("POST", "/v1/domains/%s/images/%s/template" % (self.dom, self.template))


class FileFaultTest(FaultBase):
    def test_kill9_during_mixed_workload_file_domain(self):
        self.d = Daemon(self.tmp, conf_extra="task_workers = 4\nlog_level = info\n")
        self.start()
        self.dom = self.d.default_domain()
        st, dom2 = self.d.post("/v1/domains", {"name": "copies"})
        self.assertEqual(st, 201, dom2)
        self.dom2 = dom2["uuid"]
        self.make_template()
        self.campaign(FILE_OPS, {"merge", "resize", "copy"})


class BlockFaultTest(FaultBase):
    """A block domain on a loop device, without LV activation: the operations
    that need no volume data (merge, resize and copy are refused there)."""
    block = True

    def test_kill9_during_mixed_workload_block_domain(self):
        self.d = Daemon(self.tmp, conf_extra="lvm_activation = no\nrun_dir = %s/run\ntask_workers = 4\nlog_level = info\n"
                        "" % self.tmp, bootstrap=False)
        self.start()
        self.loop = make_loop(self.tmp)
        st, dom = self.d.post("/v1/domains", {"name": "blk", "kind": "block", "devices": [self.loop]})
        self.assertEqual(st, 201, dom)
        self.dom = self.vg = dom["uuid"]
        self.dom2 = None
        self.make_template()
        self.campaign(BLOCK_OPS, set())


class FullDiskTest(unittest.TestCase):
    """A file domain on a 64 MiB tmpfs, filled through the API."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sanpool-full-")
        self.mnt = os.path.join(self.tmp, "small")
        os.mkdir(self.mnt)
        r = run("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "sanpool-test", self.mnt)
        if r.returncode != 0:
            shutil.rmtree(self.tmp)
            raise unittest.SkipTest("cannot mount a tmpfs: " + r.stderr.strip())
        self.d = Daemon(self.tmp)

    def tearDown(self):
        try:
            if self.d.proc:
                self.d.kill()
        finally:
            run("umount", self.mnt)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_clear_refusal(self, what, st, body):
        """A full domain's refusal: 507 with code no_space, naming the domain and ENOSPC."""
        self.assertEqual(st, 507, (what, body))
        self.assertEqual(body["error"]["code"], "no_space", body)
        self.assertIn(self.dom, body["error"]["message"])
        self.assertIn("ENOSPC" if "(ENOSPC)" in body["error"]["message"] else "No space left on device",
                      body["error"]["message"])

    def create(self, body):
        """("ok", image) | ("refused", error body) | ("failed", task error)."""
        st, acc = self.d.post("/v1/domains/%s/images" % self.dom, body)
        if st != 202:
            self.assert_clear_refusal(body, st, acc)
            return "refused", acc
        t = self.d.wait_task(acc["task"])
        if t["state"] == "finished":
            return "ok", acc["image"]
        self.assertEqual(t["state"], "failed", t)
        self.assertEqual(t["error"]["code"], "no_space", t)
        self.assertIn(self.dom, t["error"]["message"])
        self.assertIn("ENOSPC", t["error"]["message"])
        return "failed", t["error"]

    def free(self):
        st, dom = self.d.get("/v1/domains/%s" % self.dom)
        self.assertEqual(st, 200, dom)
        return dom["free_bytes"]

    def test_full_file_domain(self):
        d = self.d
        d.start()
        st, dom = d.post("/v1/domains", {"name": "small", "path": self.mnt})
        self.assertEqual(st, 201, dom)
        self.dom = dom["uuid"]
        prealloc = {"format": "raw", "allocation": "preallocated"}
        made, outcomes = [], []
        # 8 MiB at a time until the domain refuses: at submission, its free space known
        for _ in range(10):
            outcome, x = self.create(dict(prealloc, capacity=8 * MiB))
            outcomes.append(outcome)
            if outcome != "ok":
                break
            made.append(x)
        self.assertEqual(outcomes[-1], "refused", outcomes)
        self.assertGreaterEqual(len(made), 6, outcomes)
        # what fits the free space at submission, but not with the volume's
        # journal record and metadata beside it, fails in the task
        free = self.free()
        outcome, err = self.create(dict(prealloc, capacity=free - free % 4096))
        self.assertEqual(outcome, "failed", err)
        self.assertIn("qemu-img", err["message"])  # the tool's own words, after the domain's
        # filled to the last pages: then even a sparse create's journal record may not fit
        free = self.free()
        outcome, x = self.create(dict(prealloc, capacity=free - free % 4096 - 4 * 4096))
        if outcome == "ok":
            made.append(x)
        for _ in range(3):
            outcome, x = self.create({"format": "qcow2", "capacity": 64 * MiB})
            if outcome == "ok":
                made.append(x)
        # nothing left behind by any refusal or failure
        r = subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:%d" % d.port, "check", self.dom],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st, imgs = d.get("/v1/domains/%s/images" % self.dom)
        self.assertEqual(sorted(i["uuid"] for i in imgs), sorted(made))
        self.assertEqual(sorted(os.listdir(os.path.join(self.mnt, "images"))), sorted(made))
        self.assertEqual(os.listdir(os.path.join(self.mnt, "dom_md", "journal")), [])
        # space freed: the next create works
        d.run_task("DELETE", "/v1/domains/%s/images/%s" % (self.dom, made[0]))
        outcome, x = self.create(dict(prealloc, capacity=8 * MiB))
        self.assertEqual(outcome, "ok", x)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
