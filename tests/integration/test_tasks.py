"""Tasks: progress while running, abort (running and queued), busy images."""
import os
import unittest

from sanpool import GiB, MiB, Daemon, DaemonTest, tree_snapshot


def fill(path, size, byte=0xAB):
    """Writes real data into a raw volume, as a VM would."""
    chunk = bytes([byte]) * (4 * MiB)
    with open(path, "r+b") as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)


class TaskTest(DaemonTest):
    conf_extra = "task_workers = 1\n"

    def setUp(self):
        super().setUp()
        st, self.dom2 = self.d.post("/v1/domains", {"name": "second"})
        self.assertEqual(st, 201)
        self.src, vol = self.d.create_image(self.dom, fmt="raw", capacity=GiB)
        st, v = self.d.get(self.img_path(self.src) + "/volumes/" + vol)
        fill(v["path"], 768 * MiB)

    def start_copy(self):
        st, acc = self.d.post(self.img_path(self.src) + "/copy", {"domain": self.dom2["uuid"], "format": "qcow2"})
        self.assertEqual(st, 202, acc)
        return acc

    def wait_running_with_progress(self, task):
        """Polls until the task runs and reports progress; returns the values seen."""
        seen = []
        while True:
            st, t = self.d.get("/v1/tasks/" + task)
            self.assertIn(t["state"], ("queued", "running"), t)
            seen.append(t["progress"])
            if t["state"] == "running" and 0 < t["progress"] < 100:
                return seen

    def dom2_images(self):
        st, imgs = self.d.get("/v1/domains/%s/images" % self.dom2["uuid"])
        self.assertEqual(st, 200)
        return imgs

    def test_abort_running_copy_rolls_back(self):
        acc = self.start_copy()
        seen = self.wait_running_with_progress(acc["task"])
        self.assertEqual(seen, sorted(seen))
        st, t = self.d.post("/v1/tasks/%s/abort" % acc["task"])
        self.assertEqual(st, 202, t)
        t = self.d.wait_task(acc["task"])
        self.assertEqual(t["state"], "aborted", t)
        self.assertEqual(t["error"]["code"], "aborted")
        self.assertEqual(self.dom2_images(), [])
        images_dir = os.path.join(self.d.data_dir, "domains", self.dom2["uuid"], "images")
        self.assertEqual(os.listdir(images_dir), [])
        # the source is free again
        st, img = self.d.get(self.img_path(self.src))
        self.assertFalse(img["busy"])
        self.d.run_task("POST", self.img_path(self.src) + "/snapshots")

    def test_abort_queued_task_never_runs(self):
        copy = self.start_copy()
        self.wait_running_with_progress(copy["task"])
        # one worker: this one waits behind the copy
        st, queued = self.d.post(self.img_path(), {"name": "later", "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202)
        st, t = self.d.get("/v1/tasks/" + queued["task"])
        self.assertEqual(t["state"], "queued")
        st, _ = self.d.post("/v1/tasks/%s/abort" % queued["task"])
        self.assertEqual(st, 202)
        self.d.post("/v1/tasks/%s/abort" % copy["task"])
        t = self.d.wait_task(queued["task"])
        self.assertEqual(t["state"], "aborted")
        st, _ = self.d.get(self.img_path(queued["image"]))
        self.assertEqual(st, 404)
        journal = os.path.join(self.d.data_dir, "domains", self.dom, "dom_md", "journal")
        self.d.wait_task(copy["task"])
        self.assertEqual(os.listdir(journal), [])

    def test_busy_image_refuses_a_second_change(self):
        acc = self.start_copy()
        self.wait_running_with_progress(acc["task"])
        st, err = self.d.post(self.img_path(self.src) + "/snapshots")
        self.assertEqual(st, 409, err)
        self.assertEqual(err["error"]["code"], "busy")
        self.assertIn(acc["task"], err["error"]["message"])
        t = self.d.wait_task(acc["task"])
        self.assertEqual(t["state"], "finished")
        # an ended task cannot be aborted
        st, err = self.d.post("/v1/tasks/%s/abort" % acc["task"])
        self.assertEqual(st, 409, err)

    def test_sigterm_rolls_back_running_and_keeps_queued_for_restart(self):
        copy = self.start_copy()
        self.wait_running_with_progress(copy["task"])
        st, queued = self.d.post(self.img_path(), {"name": "later", "format": "qcow2", "capacity": GiB})
        self.assertEqual(st, 202)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        for task in (copy["task"], queued["task"]):
            st, t = self.d.get("/v1/tasks/" + task)
            self.assertEqual(st, 200, t)
            self.assertTrue(t["recovered"], t)
            self.assertEqual(t["state"], "failed", t)
            self.assertEqual(t["error"]["code"], "rolled_back")
        self.assertEqual(self.dom2_images(), [])
        st, _ = self.d.get(self.img_path(queued["image"]))
        self.assertEqual(st, 404)
        for dom in (self.dom, self.dom2["uuid"]):
            journal = os.path.join(self.d.data_dir, "domains", dom, "dom_md", "journal")
            self.assertEqual(os.listdir(journal), [])

    def test_image_larger_than_the_file_system_is_refused_and_changes_nothing(self):
        # a preallocated image larger than the file system is refused at once (a
        # tool's failure inside a task, with its message, is test_faults.FullDiskTest's)
        before = tree_snapshot(os.path.join(self.d.data_dir, "domains", self.dom, "images"))
        st, e = self.d.post(self.img_path(), {"name": "huge", "format": "raw", "allocation": "preallocated",
                                              "capacity": 60 << 40})
        self.assertEqual(st, 507, e)
        self.assertEqual((e["error"]["code"], e["error"]["field"]), ("no_space", "capacity"), e)
        self.assertIn(self.dom, e["error"]["message"])
        st, tasks = self.d.get("/v1/tasks")
        self.assertEqual([t for t in tasks if t["op"] == "create_volume" and t["state"] != "finished"], [])
        after = tree_snapshot(os.path.join(self.d.data_dir, "domains", self.dom, "images"))
        self.assertEqual(before, after)


if __name__ == "__main__":
    unittest.main()
