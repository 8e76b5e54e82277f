"""Extends asked on any host of a pool, through the mailbox on shared storage
(lib/mailbox.h), with simulated hosts (simhosts.py: real sanlock daemons and
sanpoolds) and LV activation off (no device-mapper here: the LVs grow for real
in the VG metadata, checked with lvs).

- block master (inbox/outbox LVs read and written on the PV): a host that is
  not SPM extends through the mailbox, the LV grows by one chunk, its history
  says so; the SPM extends directly; a size past what the capacity needs is
  capped; the SPM agent killed after growing an LV but before answering
  (crash point): the next SPM answers the pending request without growing the
  LV again.
- file master (dom_md/inbox and outbox files) with a block domain in the pool:
  the same path, and a request re-sent with the sequence number the SPM
  answered already is not run again, while the next sequence number is; five
  requests for one volume made while no SPM answers are served by one extend.
"""
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import unittest

from sanpool import GiB, MiB
from simhosts import call, start_hosts, stop_hosts, wait_for
from test_block_domain import lv_size, lvm, make_loop, max_thin_lv_size

INITIAL = 128 * MiB
CHUNK = 256 * MiB
CONF = "lvm_activation = no\nthin_initial_size_mib = 128\nthin_extend_chunk_mib = 256\n"

# ---- the records of lib/mailbox.h, written by the test as a host would ----
SLOT = 4096
RECORD = 512
REQUEST_MAGIC, REPLY_MAGIC = 0x51424d53, 0x52424d53


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xffffffff
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >> 8)
    return c ^ 0xffffffff


def request_record(host, seq, size, domain="", image="", volume="", kind=1):
    rec = bytearray(RECORD)
    struct.pack_into("<IHHQIIQQ", rec, 0, REQUEST_MAGIC, 1, host, seq, 0, kind, size, 0)
    for off, text in ((40, domain), (80, image), (120, volume)):
        rec[off:off + len(text)] = text.encode()
    struct.pack_into("<I", rec, 16, crc32c(bytes(rec)))
    return bytes(rec)


def read_slot(path, host):
    with open(path, "rb") as f:
        f.seek((host - 1) * SLOT)
        return f.read(RECORD)


def write_slot(path, host, rec):
    fd = os.open(path, os.O_WRONLY | os.O_DSYNC)
    try:
        os.pwrite(fd, rec + bytes(SLOT - len(rec)), (host - 1) * SLOT)
    finally:
        os.close(fd)


def seq_of(rec):
    return struct.unpack_from("<Q", rec, 8)[0]


class MailboxTest(unittest.TestCase):
    nhosts = 3

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sanpool-mailbox-")
        self.loop = make_loop(self.root, 8 * GiB)
        self.vg = None
        self.hosts = start_hosts(self.root, self.nhosts, conf_extra=CONF)

    def tearDown(self):
        stop_hosts(self.hosts, None)
        if self.vg:
            self.lvm("vgremove", "-f", self.vg)
        self.lvm("pvremove", "-y", self.loop)
        subprocess.run(["losetup", "-d", self.loop])
        if not os.environ.get("SANPOOL_KEEP_TMP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def lvm(self, *argv):
        return lvm(os.path.join(self.hosts[0].dir, "run", "lvm"), [self.loop], *argv)

    def lv_size(self, lv):
        return lv_size(os.path.join(self.hosts[0].dir, "run", "lvm"), self.loop, self.vg, lv)

    def join_all(self):
        for h in self.hosts:
            wait_for("host %d to join" % h.id, lambda: h.joined(self.pool), timeout=90)

    def start_spm(self, h):
        wait_for("host %d to become SPM" % h.id,
                 lambda: h.call("POST", "/v1/pools/%s/spm/start" % self.pool)[0] == 200, timeout=30)

    def create(self, h, name, capacity=GiB):
        st, acc = h.call("POST", "/v1/domains/%s/images" % self.vg,
                         {"name": name, "format": "qcow2", "capacity": capacity})
        self.assertEqual(st, 202, acc)
        task = wait_for("task", lambda: (lambda r: r[1] if r[1]["state"] not in ("queued", "running") else None)(
            h.call("GET", "/v1/tasks/" + acc["task"])))
        self.assertEqual(task["state"], "finished", task)
        return acc["image"], acc["volume"]

    def url(self, image, volume):
        return "/v1/domains/%s/images/%s/volumes/%s" % (self.vg, image, volume)

    def extend(self, h, image, volume, body=None):
        st, v = h.call("POST", self.url(image, volume) + "/extend", body)
        self.assertEqual(st, 200, v)
        return v

    def history(self, h, image, volume):
        st, v = h.call("GET", self.url(image, volume))
        self.assertEqual(st, 200, v)
        return [(e["from"], e["to"], e["via"], e["host"]) for e in v["extend_history"]]


class BlockMasterTest(MailboxTest):
    def test_extend_from_any_host_and_spm_failover_with_a_request_pending(self):
        h1, h2, h3 = self.hosts
        st, p = h1.call("POST", "/v1/pools", {"name": "san", "master_domain_name": "lun1", "kind": "block",
                                              "devices": [self.loop]})
        self.assertEqual(st, 201, p)
        self.pool, self.vg = p["uuid"], p["master_domain"]
        for h in (h2, h3):
            st, q = h.call("POST", "/v1/pools/%s/connect" % self.pool, {"kind": "block", "devices": [self.loop]})
            self.assertEqual(st, 200, q)
        self.join_all()
        self.start_spm(h1)
        image, vol = self.create(h1, "thin")
        image2, vol2 = self.create(h1, "thin2")
        self.assertEqual(self.lv_size(vol), INITIAL)

        # host 2 is not SPM: through the mailbox, by one chunk
        v = self.extend(h2, image, vol)
        self.assertEqual((v["extend"]["from"], v["extend"]["to"], v["lv_size"]), (INITIAL, INITIAL + CHUNK,
                                                                                  INITIAL + CHUNK), v)
        self.assertEqual(self.lv_size(vol), INITIAL + CHUNK)
        self.assertEqual(self.history(h2, image, vol), [(INITIAL, INITIAL + CHUNK, "mailbox", 2)])
        self.assertEqual(self.history(h1, image, vol), [])  # kept where it was asked
        # the SPM itself: directly
        v = self.extend(h1, image, vol)
        self.assertEqual(self.lv_size(vol), INITIAL + 2 * CHUNK)
        self.assertEqual(self.history(h1, image, vol), [(INITIAL + CHUNK, INITIAL + 2 * CHUNK, "direct", 1)])
        # never past what the capacity needs
        full = max_thin_lv_size(GiB)
        v = self.extend(h3, image, vol, {"size": 100 * GiB})
        self.assertEqual((v["extend"]["to"], self.lv_size(vol)), (full, full))
        self.assertEqual(self.history(h3, image, vol), [(INITIAL + 2 * CHUNK, full, "mailbox", 3)])
        st, metrics = h3.call_text("/metrics")
        self.assertIn('sanpool_extend_duration_seconds_count{domain="%s",via="mailbox"} 1' % self.vg, metrics)

        # the SPM agent grows the LV of host 2's request and dies before answering
        h1.d.kill()
        h1.start(env_extra={"SANPOOL_CRASH_AT": "mailbox.before_reply"})
        wait_for("host 1 to rejoin", lambda: h1.joined(self.pool), timeout=90)
        self.start_spm(h1)
        answer = {}
        asker = threading.Thread(target=lambda: answer.update(
            r=call(h2.port, "POST", self.url(image2, vol2) + "/extend", timeout=90)))
        asker.start()
        self.assertEqual(h1.d.proc.wait(timeout=60), -9)  # the crash point fired
        h1.d.kill()
        self.assertEqual(self.lv_size(vol2), INITIAL + CHUNK)  # grown, not answered
        self.assertTrue(asker.is_alive())
        # host 3 becomes SPM and answers the pending request without growing the LV again
        self.start_spm(h3)
        asker.join(timeout=60)
        self.assertFalse(asker.is_alive())
        st, v = answer["r"]
        self.assertEqual(st, 200, v)
        self.assertEqual(v["extend"]["to"], INITIAL + CHUNK)
        self.assertEqual(self.lv_size(vol2), INITIAL + CHUNK)
        self.assertEqual(self.history(h2, image2, vol2), [(INITIAL, INITIAL + CHUNK, "mailbox", 2)])


class FileMasterTest(MailboxTest):
    nhosts = 2

    def test_extend_through_files_and_a_resent_request_is_not_run_twice(self):
        h1, h2 = self.hosts
        shared = os.path.join(self.root, "shared", "master")
        os.makedirs(shared)
        st, p = h1.call("POST", "/v1/pools", {"name": "nfs", "master_domain_name": "master", "kind": "file",
                                              "path": shared})
        self.assertEqual(st, 201, p)
        self.pool = p["uuid"]
        inbox, outbox = (os.path.join(shared, "dom_md", n) for n in ("inbox", "outbox"))
        # host 3 is the test itself, writing records by hand: announced, so polled at once
        write_slot(inbox, 3, request_record(3, 0, 0, kind=0))
        wait_for("host 1 to join", lambda: h1.joined(self.pool), timeout=90)
        self.start_spm(h1)
        # force: host 2 connects after, so which hosts see the loop device is not known yet
        st, d = h1.call("POST", "/v1/domains", {"name": "lun", "kind": "block", "pool": self.pool,
                                                "devices": [self.loop], "force": True})
        self.assertEqual(st, 201, d)
        self.vg = d["uuid"]
        st, q = h2.call("POST", "/v1/pools/%s/connect" % self.pool, {"kind": "file", "path": shared})
        self.assertEqual(st, 200, q)
        self.join_all()
        image, vol = self.create(h1, "thin", capacity=4 * GiB)
        image2, vol2 = self.create(h1, "marker", capacity=4 * GiB)

        v = self.extend(h2, image, vol)
        self.assertEqual(self.lv_size(vol), INITIAL + CHUNK)
        self.assertEqual(self.history(h2, image, vol), [(INITIAL, INITIAL + CHUNK, "mailbox", 2)])
        sent = read_slot(inbox, 2)
        seq = seq_of(sent)
        self.assertEqual(seq_of(read_slot(outbox, 2)), seq)

        # host 2's request re-sent with the same sequence number (here asking
        # for more, so that running it again would show): answered already, not run
        write_slot(inbox, 2, request_record(2, seq, 2 * GiB, self.vg, image, vol))
        # two requests of host 3 answered after it: the SPM has read slot 2 since
        for n, size in ((1, INITIAL + CHUNK), (2, INITIAL + 2 * CHUNK)):
            write_slot(inbox, 3, request_record(3, n, size, self.vg, image2, vol2))
            wait_for("answer %d to host 3" % n, lambda: seq_of(read_slot(outbox, 3)) == n, timeout=30)
        self.assertEqual(self.lv_size(vol2), INITIAL + 2 * CHUNK)
        self.assertEqual(self.lv_size(vol), INITIAL + CHUNK)
        self.assertEqual(seq_of(read_slot(outbox, 2)), seq)
        # the next sequence number is a new request: run
        write_slot(inbox, 2, request_record(2, seq + 1, 2 * GiB, self.vg, image, vol))
        wait_for("the answer to host 2", lambda: seq_of(read_slot(outbox, 2)) == seq + 1, timeout=30)
        self.assertEqual(self.lv_size(vol), 2 * GiB)
        # host 2's agent goes on after the requests it did not make: "a chunk
        # more" is more than what host 2 last saw (its device's size, all its
        # writer can have used), which the LV has already; then from there
        v = self.extend(h2, image, vol)
        self.assertEqual((v["extend"]["from"], v["extend"]["to"]), (INITIAL + CHUNK, 2 * GiB))
        self.assertGreater(seq_of(read_slot(inbox, 2)), seq + 1)
        self.assertEqual(self.lv_size(vol), 2 * GiB)
        v = self.extend(h2, image, vol)
        self.assertEqual((v["extend"]["from"], v["extend"]["to"]), (2 * GiB, 2 * GiB + CHUNK))

        # five requests for one volume while no SPM answers: one extend serves them all
        st, _ = h1.call("POST", "/v1/pools/%s/spm/stop" % self.pool)
        self.assertEqual(st, 200)
        answers = []
        askers = [threading.Thread(target=lambda: answers.append(
            call(h2.port, "POST", self.url(image, vol) + "/extend", timeout=90))) for _ in range(5)]
        for t in askers:
            t.start()
        wait_for("five extends waiting on host 2",
                 lambda: "sanpool_extends_waiting 5\n" in h2.call_text("/metrics")[1], timeout=30)
        self.start_spm(h1)
        for t in askers:
            t.join(timeout=60)
        self.assertEqual([(st, v["extend"]["from"], v["extend"]["to"]) for st, v in answers],
                         [(200, 2 * GiB + CHUNK, 2 * GiB + 2 * CHUNK)] * 5, answers)
        self.assertEqual(self.lv_size(vol), 2 * GiB + 2 * CHUNK)
        self.assertEqual(self.history(h2, image, vol), [(INITIAL, INITIAL + CHUNK, "mailbox", 2),
                                                        (INITIAL + CHUNK, 2 * GiB, "mailbox", 2),
                                                        (2 * GiB, 2 * GiB + CHUNK, "mailbox", 2),
                                                        (2 * GiB + CHUNK, 2 * GiB + 2 * CHUNK, "mailbox", 2)])
        self.assertIn("sanpool_extends_waiting 0\n", h2.call_text("/metrics")[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
