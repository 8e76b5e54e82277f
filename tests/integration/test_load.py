"""A short load test (bench/load.py's clients, 32 keep-alive connections):
first the whole mix with creates and deletes, then reads only (task list
included, now of a fixed length); no request fails, and over the reads the
daemon's memory levels off (a leak of some hundred bytes per request would
pass the bound). The clean exit at the end runs LeakSanitizer over all that
was allocated, changes included. (Ended tasks are kept, up to a limit, so
memory grows with changes by design.) No timing is asserted: speed is
bench/load.py's figures."""
import os
import sys
import unittest

from sanpool import DaemonTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "bench"))
import load  # noqa: E402

SECONDS = int(os.environ.get("SANPOOL_LOAD_SECONDS", "30"))
READS_SECONDS = SECONDS * 2 // 3  # the rest of the time with changes
# ASan keeps freed memory in quarantine (256 MiB by default): a small one
# lets the daemon's memory level off as a release build's does
ASAN_OPTIONS = ("abort_on_error=0:detect_leaks=1:quarantine_size_mb=1:thread_local_quarantine_size_kb=16:"
                "allocator_release_to_os_interval_ms=500")
RSS_GROWTH_MAX_MIB = 4


class LoadTest(DaemonTest):
    def setUp(self):
        super().setUp()
        # the daemon again, with the small quarantine
        self.d.stop()
        self.d.start(env_extra={"ASAN_OPTIONS": ASAN_OPTIONS})

    def rss_kib(self):
        with open("/proc/%d/status" % self.d.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def test_concurrent_clients_no_errors_memory_levels_off(self):
        dom = self.dom
        targets = []
        for i in range(20):
            image, _ = self.d.create_image(dom, name="l%d" % i)
            acc, _ = self.d.run_task("POST", self.img_path(image) + "/snapshots")
            targets.append((image, acc["volume"]))
        mixed = load.run_load(self.d.port, self.rss_kib, dom, targets, SECONDS - READS_SECONDS, 32, 2, seed=7)
        self.assertEqual(mixed["errors"], [])
        self.assertGreater(mixed["changes"], 0, mixed)
        reads = load.run_load(self.d.port, self.rss_kib, dom, targets, READS_SECONDS, 32, 2, seed=8,
                              changes_too=False)
        print("\nload: %d requests with %d changes, then %d reads (%.0f req/s); over the reads RSS %.1f -> %.1f "
              "MiB (max %.1f) after warm-up" % (mixed["requests"], mixed["changes"], reads["requests"],
                                                reads["rps"], reads["rss_start_kib"] / 1024,
                                                reads["rss_end_kib"] / 1024, reads["rss_max_kib"] / 1024),
              flush=True)
        self.assertEqual(reads["errors"], [])
        self.assertGreater(reads["requests"], 1000, reads)
        # the second half of the reads: new connection threads and allocator caches have settled
        half = [v for t, v in reads["rss_samples"] if t >= READS_SECONDS / 2]
        print("load: RSS over the second half of the reads: %s MiB" % " ".join("%.1f" % (v / 1024) for v in half))
        self.assertLess((max(half) - half[0]) / 1024, RSS_GROWTH_MAX_MIB, reads)


if __name__ == "__main__":
    unittest.main()
