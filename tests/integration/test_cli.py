"""sanpoolctl, the real binary, against the real daemon: every command over the API."""
import json
import os
import re
import stat
import subprocess
import time
import unittest

from sanpool import MiB, SANPOOLCTL, DaemonTest

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CliTest(DaemonTest):
    def empty_dir(self, name):
        """A new empty directory: a file domain is only formatted into one."""
        path = os.path.join(self.tmp, name)
        os.mkdir(path)
        return path

    def ctl(self, *args, rc=0):
        """Runs sanpoolctl against this test's daemon; checks the exit status."""
        env = dict(os.environ)
        env.pop("SANPOOL_URL", None)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        p = subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:%d" % self.d.port] + list(args),
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, rc, "sanpoolctl %s\nstdout:\n%s\nstderr:\n%s" % (args, p.stdout, p.stderr))
        return p

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def image_by_name(self, name, domain=None):
        st, imgs = self.d.get("/v1/domains/%s/images" % (domain or self.dom))
        self.assertEqual(st, 200)
        found = [i for i in imgs if i["name"] == name]
        self.assertEqual(len(found), 1, imgs)
        return found[0]

    def create(self, name, fmt="qcow2", capacity="64M", *extra, rc=0):
        return self.ctl("image", "create", "--name", name, "--format", fmt, "--capacity", capacity, *extra, rc=rc)


class ReadTest(CliTest):
    def test_host(self):
        out = self.ctl("host").stdout
        self.assertRegex(out, r"(?m)^HOSTNAME\s+\S+")
        self.assertRegex(out, r"(?m)^TASKS\s+.*finished=0")
        host = self.ctl_json("host")
        self.assertEqual(host["api_version"], "v1")

    def test_pool_and_domain_lists_match_the_api(self):
        st, pools = self.d.get("/v1/pools")
        self.assertEqual(self.ctl_json("pool", "list"), pools)
        self.assertEqual(self.ctl_json("pool", "show", pools[0]["uuid"]), pools[0])
        lines = self.ctl("pool", "list").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["UUID", "NAME", "MASTER", "DOMAIN", "DOMAINS"])
        self.assertIn(pools[0]["uuid"], lines[1])
        # free space moves: compare what does not
        doms = self.ctl_json("domain", "list")
        self.assertEqual([d["uuid"] for d in doms], [self.dom])
        self.assertEqual(self.ctl_json("domain", "show", self.dom)["name"], doms[0]["name"])
        self.assertIn(self.dom, self.ctl("domain", "list").stdout)

    def test_pool_and_domain_create(self):
        pool = self.ctl_json("pool", "create", "--name", "p2", "--master-domain-name", "m2",
                             "--path", self.empty_dir("p2"))
        st, api = self.d.get("/v1/pools/" + pool["uuid"])
        self.assertEqual(st, 200)
        self.assertEqual(api, pool)
        out = self.ctl("domain", "create", "--name", "d3", "--pool", pool["uuid"],
                       "--path", self.empty_dir("d3")).stdout
        self.assertRegex(out, r"(?m)^NAME\s+d3$")
        st, api = self.d.get("/v1/pools/" + pool["uuid"])
        self.assertEqual(len(api["domains"]), 2)


class ImageCliTest(CliTest):
    def test_create_list_show(self):
        p = self.create("disk1", "qcow2", "64M")
        self.assertRegex(p.stderr, r"task \S+ create_volume: finished")
        self.assertNotIn("\r", p.stderr)  # no bar when stderr is not a terminal
        self.assertRegex(p.stdout, r"(?m)^IMAGE NAME\s+disk1$")
        self.create("disk2", "raw", "1G", "--preallocated")
        img = self.image_by_name("disk1")
        self.assertEqual(img["capacity"], 64 * MiB)
        raw = self.image_by_name("disk2")
        st, vols = self.d.get(self.img_path(raw["uuid"]) + "/volumes")
        self.assertEqual(vols[0]["allocation"], "preallocated")

        st, api = self.d.get(self.img_path())
        self.assertEqual(self.ctl_json("image", "list"), api)
        self.assertEqual(self.ctl_json("image", "list", "--domain", self.dom), api)
        lines = self.ctl("image", "list").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["UUID", "NAME", "FORMAT", "CAPACITY", "VOLUMES", "TEMPLATE", "LEGALITY"])
        rows = {l.split()[1]: l.split() for l in lines[1:]}
        self.assertEqual(rows["disk1"], [img["uuid"], "disk1", "qcow2", "64", "MiB", "1", "no", "LEGAL"])
        self.assertEqual(rows["disk2"][3:5], ["1", "GiB"])
        # columns are aligned: every row starts its NAME where the header does
        col = lines[0].index("NAME")
        self.assertTrue(all(l[col:].startswith(("disk1", "disk2")) for l in lines[1:]), lines)

        st, api = self.d.get(self.img_path(img["uuid"]))
        self.assertEqual(self.ctl_json("image", "show", img["uuid"]), api)
        self.assertEqual(self.ctl_json("image", "show", "disk1"), api)  # by name
        out = self.ctl("image", "show", "disk1").stdout
        self.assertRegex(out, r"(?m)^CAPACITY\s+64 MiB \(67108864 bytes\)$")
        self.assertIn(img["top_volume"], out)

    def test_snapshot_template_clone_copy_resize_delete(self):
        self.create("base", "raw", "16M")
        img = self.image_by_name("base")["uuid"]
        base = self.image_by_name("base")["top_volume"]

        snap = self.ctl_json("snapshot", "create", img)
        self.assertEqual(snap["state"], "finished")
        top = snap["result"]["uuid"]
        self.assertEqual(snap["result"]["parent"], base)
        st, chain = self.d.get(self.img_path(img) + "/snapshots")
        self.assertEqual(self.ctl_json("snapshot", "list", img), chain)
        self.assertEqual([v["uuid"] for v in chain], [base, top])
        st, vols = self.d.get(self.img_path(img) + "/volumes")
        self.assertEqual(self.ctl_json("volume", "list", "base"), vols)
        st, vol = self.d.get(self.img_path(img) + "/volumes/" + top)
        self.assertEqual(self.ctl_json("volume", "show", img, top), vol)

        # delete the top snapshot: merged into its parent
        out = self.ctl("snapshot", "delete", img, top).stdout
        self.assertRegex(out, r"(?m)^VOLUMES\s+1$")
        st, chain = self.d.get(self.img_path(img) + "/snapshots")
        self.assertEqual([v["uuid"] for v in chain], [base])

        # grow, then the volume delete of a new top
        self.ctl("image", "resize", img, "--capacity", "32M")
        self.assertEqual(self.d.get(self.img_path(img))[1]["capacity"], 32 * MiB)
        top = self.ctl_json("snapshot", "create", "base")["result"]["uuid"]
        self.ctl("volume", "delete", img, top)
        st, vols = self.d.get(self.img_path(img) + "/volumes")
        self.assertEqual([v["uuid"] for v in vols], [base])

        # template and clone
        out = self.ctl("image", "template", img).stdout
        self.assertRegex(out, r"(?m)^TEMPLATE\s+yes$")
        clone = self.ctl_json("image", "clone", "base", "--name", "vm1")["result"]
        self.assertEqual(clone["image_name"], "vm1")
        self.assertEqual(clone["parent"], base)
        st, api = self.d.get(self.img_path(clone["image"]))
        self.assertEqual(api["template_source"]["image"], img)
        lines = self.ctl("image", "list").stdout.splitlines()
        self.assertRegex([l for l in lines if " base " in l][0], r"\syes\s+LEGAL$")

        # copy the clone to another domain, flattened
        dom2 = self.ctl_json("domain", "create", "--name", "other", "--path", self.empty_dir("other"))["uuid"]
        copy = self.ctl_json("image", "copy", "vm1", "--to-domain", dom2, "--format", "raw")
        self.assertEqual(copy["state"], "finished")
        st, imgs = self.d.get("/v1/domains/%s/images" % dom2)
        self.assertEqual(len(imgs), 1)
        self.assertEqual(imgs[0]["format"], "raw")
        self.assertEqual(imgs[0]["capacity"], 32 * MiB)
        self.assertEqual(self.ctl_json("image", "list", "--domain", dom2), imgs)

        # the template cannot go while its clone exists: an API error, exit 1
        p = self.ctl("image", "delete", img, rc=1)
        self.assertIn("template", p.stderr)
        self.ctl("image", "delete", "vm1")
        self.ctl("image", "delete", img)
        self.assertEqual(self.d.get(self.img_path())[1], [])


class ErrorCliTest(CliTest):
    def test_api_error_exit_1_with_message_and_field(self):
        p = self.create("tiny", "qcow2", "100", rc=1)
        self.assertIn("capacity must be between", p.stderr)
        self.assertIn("field: capacity", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.create("odd", "vmdk", "1G", rc=1)
        self.assertIn("format must be raw or qcow2", p.stderr)
        p = self.ctl("image", "show", "00000000-0000-4000-8000-000000000000", rc=1)
        self.assertIn("not found", p.stderr)
        p = self.ctl("image", "show", "nosuchname", rc=1)
        self.assertIn("nosuchname", p.stderr)
        self.create("small", "qcow2", "64M")
        p = self.ctl("image", "resize", "small", "--capacity", "32M", rc=1)
        self.assertIn("images only grow", p.stderr)

    def test_unreachable_daemon_exit_1(self):
        p = subprocess.run([SANPOOLCTL, "--url", "http://127.0.0.1:1", "host"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("error", p.stderr)

    def test_usage_errors_exit_2(self):
        for args in ([], ["frob"], ["image"], ["image", "frob"], ["--bogus", "host"],
                     ["image", "create", "--name", "x", "--format", "raw"],
                     ["image", "create", "--name", "x", "--format", "raw", "--capacity", "10X"],
                     ["image", "create", "--name", "x", "--format", "raw", "--capacity", "-1"],
                     ["image", "list", "--capacity", "1G"], ["image", "show"], ["pool", "show", "a", "b"],
                     ["pool", "show", "not-a-uuid"], ["task", "wait", "123"], ["image", "list", "--domain"],
                     ["image", "list", "--domain", "nope"]):
            p = self.ctl(*args, rc=2)
            self.assertIn("sanpoolctl", p.stderr, args)
        p = self.ctl("--help")
        self.assertIn("image create", p.stdout)

    def test_sizes(self):
        for text, size in (("1048576", MiB), ("2M", 2 * MiB), ("3m", 3 * MiB), ("1G", 1 << 30),
                           ("1GiB", 1 << 30), ("4096K", 4 * MiB), ("1T", 1 << 40)):
            name = "s" + text.lower()
            self.create(name, "qcow2", text)
            self.assertEqual(self.image_by_name(name)["capacity"], size, text)


class TaskCliTest(CliTest):
    # One worker, and a qemu-img whose convert (copies) waits for a file: a
    # second task stays queued for as long as the test needs.
    conf_extra = "task_workers = 1\n"

    def setUp(self):
        super().setUp()
        self.d.stop()
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        self.gate = os.path.join(self.tmp, "gate")
        self.fail_mark = os.path.join(self.tmp, "fail")
        real = subprocess.run(["sh", "-c", "command -v qemu-img"], capture_output=True, text=True).stdout.strip()
        wrapper = os.path.join(bindir, "qemu-img")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "if [ \"$1\" = convert ]; then\n"
                    "  while [ -e %s ]; do sleep 0.05; done\n"
                    "  if [ -e %s ]; then echo 'simulated convert failure' >&2; exit 1; fi\n"
                    "fi\n"
                    "exec %s \"$@\"\n" % (self.gate, self.fail_mark, real))
        os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
        self.d.start(env_extra={"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})

    def tearDown(self):
        if os.path.exists(self.gate):
            os.unlink(self.gate)
        super().tearDown()

    def test_no_wait_then_task_wait(self):
        self.create("src", "qcow2", "16M")
        self.create("other", "qcow2", "16M")
        dom2 = self.ctl_json("domain", "create", "--name", "o", "--path", self.empty_dir("o"))["uuid"]
        open(self.gate, "w").close()
        task = self.ctl("--no-wait", "image", "copy", "src", "--to-domain", dom2).stdout.strip()
        self.assertRegex(task, UUID_RE)
        st, api = self.d.get("/v1/tasks/" + task)
        self.assertIn(api["state"], ("queued", "running"))
        self.assertIn(task, self.ctl("task", "list").stdout)
        self.assertEqual(self.ctl_json("task", "show", task)["uuid"], task)
        self.assertRegex(self.ctl("task", "show", task).stdout, r"(?m)^STATE\s+(queued|running)$")
        # queued behind the copy (one worker); src itself is busy while it is copied
        accepted = self.ctl_json("--no-wait", "snapshot", "create", "other")
        self.assertRegex(accepted["task"], UUID_RE)
        self.assertEqual(accepted["href"], "/v1/tasks/" + accepted["task"])
        os.unlink(self.gate)
        p = self.ctl("task", "wait", task)
        self.assertRegex(p.stderr, r"task %s copy_image: finished" % task)
        self.assertRegex(p.stdout, r"(?m)^NAME\s+src$")
        final = self.ctl_json("task", "wait", accepted["task"])
        st, api = self.d.get("/v1/tasks/" + accepted["task"])
        self.assertEqual(final, api)
        self.assertEqual(final["state"], "finished")

    def ctl_env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        return env

    def test_abort_queued_task(self):
        self.create("src", "qcow2", "16M")
        self.create("other", "qcow2", "16M")
        dom2 = self.ctl_json("domain", "create", "--name", "o", "--path", self.empty_dir("o"))["uuid"]
        open(self.gate, "w").close()
        running = self.ctl("--no-wait", "image", "copy", "src", "--to-domain", dom2).stdout.strip()
        queued = self.ctl("--no-wait", "image", "copy", "other", "--to-domain", dom2).stdout.strip()
        # the client asks for the abort, then follows the task until it ends
        abort = subprocess.Popen([SANPOOLCTL, "--url", "http://127.0.0.1:%d" % self.d.port, "task", "abort", queued],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.ctl_env())
        try:
            # the daemon logs the accepted abort (debug): only then may the queue move
            deadline = time.monotonic() + 60
            while "POST /v1/tasks/%s/abort -> 202" % queued not in self.d.read_log():
                self.assertLess(time.monotonic(), deadline, "abort never reached the daemon")
                if abort.poll() is not None:
                    self.fail("task abort ended early: %s" % (abort.communicate(),))
                time.sleep(0.05)
        finally:
            if os.path.exists(self.gate):
                os.unlink(self.gate)
        out, err = abort.communicate(timeout=120)
        self.assertEqual(abort.returncode, 0, err)
        self.assertRegex(err, r"task %s copy_image: aborted" % queued)
        p = self.ctl("task", "wait", queued, rc=1)
        self.assertIn("aborted", p.stderr)
        p = self.ctl("task", "abort", queued, rc=1)
        self.assertIn("already ended", p.stderr)
        self.assertEqual(self.ctl_json("task", "wait", running)["state"], "finished")

    def test_failed_task_exit_1(self):
        self.create("src", "qcow2", "16M")
        dom2 = self.ctl_json("domain", "create", "--name", "o", "--path", self.empty_dir("o"))["uuid"]
        open(self.fail_mark, "w").close()
        p = self.ctl("image", "copy", "src", "--to-domain", dom2, rc=1)
        m = re.search(r"task (\S+) copy_image: failed", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertIn("sanpoolctl: error: task %s failed" % m.group(1), p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.ctl("task", "wait", m.group(1), rc=1)
        self.assertIn("failed", p.stderr)
        self.assertEqual(self.ctl_json("task", "show", m.group(1))["state"], "failed")
        os.unlink(self.fail_mark)
        self.ctl("image", "copy", "src", "--to-domain", dom2)
        self.assertEqual(len(self.d.get("/v1/domains/%s/images" % dom2)[1]), 1)

if __name__ == "__main__":
    unittest.main()
