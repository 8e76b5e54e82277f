"""Collects the fuzz corpora from real inputs: runs integration tests of
tests/integration/ with the harness watching, and keeps what the real agent
and LVM produced (run as root, like the block domain tests):

  body          every request body the tests send
  config        every sanpoold.conf the tests write
  volume_meta   every volume .meta file a file domain holds at the end of a test
  lvm_report    `lvs`, `vgs` and `pvs --segments` JSON reports of each block
                domain's VG (first line: the VG name, as fuzz_lvm_report reads)
  block_tags    each volume LV's name and tags (one a line)
  slot_journal  every non-free slot of a block domain's journal LV, read from
                the loop device before each daemon start (after a crash: the
                record recovery will replay)

Usage: SANPOOLD=build/agent/sanpoold python3 fuzz/seeds/capture.py [test modules]
Files are named by content hash, so running it again adds only new inputs."""
import glob
import hashlib
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
os.chdir(os.path.join(HERE, "..", "..", "tests", "integration"))

import sanpool  # noqa: E402
import test_block_domain  # noqa: E402

SLOT_SIZE = 4096


def keep(kind, data):
    if isinstance(data, str):
        data = data.encode()
    if not data:
        return
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


current = {"test": None}

orig_request = sanpool.Daemon.request


def request(self, method, path, body=None, raw=None, headers=None):
    if raw is not None:
        keep("body", raw)
    elif body is not None:
        keep("body", json.dumps(body))
    return orig_request(self, method, path, body, raw, headers)


orig_start = sanpool.Daemon.start


def start(self, *a, **kw):
    with open(self.conf, "rb") as f:
        keep("config", f.read())
    t = current["test"]
    if isinstance(t, test_block_domain.BlockTest) and t.loop and t.vg:
        capture_block(t)
    return orig_start(self, *a, **kw)


def capture_block(t):
    lvs = t.lvm("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
                "-o", "lv_name,lv_size,lv_tags,lv_active", t.vg)
    vgs = t.lvm("vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
                "vg_name,vg_tags,vg_size,vg_free,vg_extent_size,vg_mda_size,vg_mda_free,vg_seqno,lv_count,pv_count",
                t.vg)
    segs = t.lvm("pvs", "--segments", "--reportformat", "json", "--units", "b", "--nosuffix",
                 "-o", "vg_name,pv_name,lv_name,pe_start,vg_extent_size,pvseg_start,pvseg_size")
    for r in (lvs, vgs, segs):
        if r.returncode == 0:
            keep("lvm_report", t.vg + "\n" + r.stdout.strip())
    if lvs.returncode == 0:
        for lv in json.loads(lvs.stdout)["report"][0]["lv"]:
            if lv["lv_tags"]:
                keep("block_tags", "\n".join([lv["lv_name"]] + lv["lv_tags"].split(",")))
    if segs.returncode == 0:
        for s in json.loads(segs.stdout)["report"][0]["pvseg"]:
            if s["lv_name"] != "journal":
                continue
            off = int(s["pe_start"]) + int(s["pvseg_start"]) * int(s["vg_extent_size"])
            size = int(s["pvseg_size"]) * int(s["vg_extent_size"])
            with open(s["pv_name"], "rb") as dev:
                dev.seek(off)
                data = dev.read(min(size, 1024 * SLOT_SIZE))
            for i in range(0, len(data), SLOT_SIZE):
                slot = data[i:i + SLOT_SIZE]
                if any(slot[:64]):
                    keep("slot_journal", slot.rstrip(b"\0"))


orig_teardown = sanpool.DaemonTest.tearDown


def teardown(self):
    for meta in glob.glob(os.path.join(self.tmp, "**", "*.meta"), recursive=True):
        with open(meta, "rb") as f:
            keep("volume_meta", f.read())
    if isinstance(self, test_block_domain.BlockTest) and self.loop and self.vg:
        capture_block(self)
    return orig_teardown(self)


orig_setup = sanpool.DaemonTest.setUp


def setup(self):
    current["test"] = self
    return orig_setup(self)


sanpool.Daemon.request = request
sanpool.Daemon.start = start
sanpool.DaemonTest.tearDown = teardown
sanpool.DaemonTest.setUp = setup

if __name__ == "__main__":
    names = sys.argv[1:] or ["test_images", "test_bad_input", "test_block_domain"]
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    unittest.TextTestRunner(verbosity=1).run(suite)
