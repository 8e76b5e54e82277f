#!/usr/bin/env python3
"""Load test: many concurrent keep-alive clients on loopback for a bounded
time, a mix of reads (domain, image and volume lists and objects, tasks,
host) and some changes (an image created, then deleted, each waited for).
Every answer must be the expected 2xx; the daemon's RSS is sampled every
second to show whether memory stays flat (no leak).

    python3 bench/load.py [BUILD_DIR]

SANPOOL_LOAD_SECONDS (default 60), SANPOOL_LOAD_CONNECTIONS (default 64),
SANPOOL_LOAD_PROCS (client processes sharing the connections, default 2).
The clients are Python: on a 2-core machine they, not the daemon, set the
request rate (the daemon's own GET throughput is bench/api_get.py's).

Figures: load_rps, load_p50_ms, load_p99_ms, load_errors (must be 0),
load_changes, load_rss_start_mib (after a warm-up of a sixth of the run),
load_rss_end_mib, load_rss_slope_kib_per_min (least squares over the samples
after the warm-up), load_rss_growth_kib (rss_growth: the highest RSS of the
last third less the highest of the middle third; flat memory is ~0 or less).
The daemon keeps TASKS_KEPT tasks (tasks_kept; 2,000 by default), so that
its task history is full within the warm-up and memory is bounded by then;
the clients therefore read no old task again (it may be gone). A second
phase of reads only (half as long): load_reads_rps, load_reads_errors,
load_reads_rss_end_mib, load_reads_rss_slope_kib_per_min,
load_reads_rss_growth_kib. Last, per route, wrk
on 8 fixed connections three times: load_route_rss_growth_kib, the largest
RSS growth between the first and the last run (a leak per request shows
there, without the noise of new connection threads and the task history).
"""
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MiB, Daemon, cleanup, figure, loadavg, note, percentile, populate, workdir  # noqa: E402

IMAGES = 50
TASKS_KEPT = 200


class Stats:
    def __init__(self):
        self.lat_ms = []
        self.errors = []
        self.changes = 0


def client_thread(port, dom, targets, deadline, seed, stats, lock, changes_too, recent_tasks=8):
    """One keep-alive connection issuing the mix until deadline (reads only
    unless changes_too). It reads its recent_tasks last tasks again (0: the
    volume list instead: a daemon keeping few tasks may have dropped them)."""
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    lat, errors, changes = [], [], 0
    tasks = []

    def call(method, path, body=None, expect=200, timed=True):
        raw = json.dumps(body).encode() if body is not None else None
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=raw)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError) as e:
            errors.append("%s %s: %s" % (method, path, e))
            conn.close()
            return None
        if timed:
            lat.append((time.monotonic() - t0) * 1000)
        if resp.status != expect:
            errors.append("%s %s: %d %s" % (method, path, resp.status, data[:200]))
            return None
        return json.loads(data) if data else None

    def change(method, path, body=None):
        acc = call(method, path, body, expect=202)
        if acc is None:
            return None
        if recent_tasks:
            tasks.append(acc["task"])
            del tasks[:-recent_tasks]  # recent ones: the daemon keeps the last thousand or more ended tasks
        while True:  # long poll, not a latency sample
            t = call("GET", "/v1/tasks/%s?wait_ms=10000" % acc["task"], timed=False)
            if t is None:
                return None
            if t["state"] not in ("queued", "running"):
                break
        if t["state"] != "finished":
            errors.append("%s %s: task %s" % (method, path, t["state"]))
            return None
        return acc

    imgs = "/v1/domains/%s/images" % dom
    while time.monotonic() < deadline:
        r = rnd.random()
        image, volume = rnd.choice(targets)
        if r < 0.30:
            call("GET", imgs)
        elif r < 0.55:
            call("GET", "%s/%s/volumes/%s" % (imgs, image, volume))
        elif r < 0.70:
            call("GET", "%s/%s" % (imgs, image))
        elif r < 0.80:
            call("GET", "/v1/domains")
        elif r < 0.88:
            call("GET", "/v1/host")
        elif r < 0.95:
            if tasks:
                call("GET", "/v1/tasks/%s" % rnd.choice(tasks))
            else:
                call("GET", "%s/%s/volumes" % (imgs, image))
        elif r < 0.99:
            call("GET", "/v1/tasks")
        elif changes_too:
            acc = change("POST", imgs, {"name": "load", "format": "qcow2", "capacity": 64 * MiB})
            if acc and change("DELETE", "%s/%s" % (imgs, acc["image"])):
                changes += 2
    conn.close()
    with lock:
        stats.lat_ms += lat
        stats.errors += errors
        stats.changes += changes


def client_proc(port, dom, targets, deadline, threads, seed, queue, changes_too, recent_tasks):
    stats, lock = Stats(), threading.Lock()
    ts = [threading.Thread(target=client_thread, args=(port, dom, targets, deadline, "%d-%d" % (seed, i), stats,
                                                       lock, changes_too, recent_tasks)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    queue.put((stats.lat_ms, stats.errors, stats.changes))


def slope_per_min(samples):
    """Least-squares slope of [(seconds, kib)] in KiB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    den = sum((t - mx) ** 2 for t, _ in samples)
    return 60 * sum((t - mx) * (v - my) for t, v in samples) / den if den else 0.0


def rss_growth(samples):
    """RSS growth after a warm-up, in KiB: the highest sample of the last
    third of the run less the highest of the middle third (the first third
    is the warm-up: connection threads start, malloc arenas and the task
    history fill). Memory that stays bounded, even going up and down by the
    size of the largest answers, gives ~0 or less; memory that keeps growing
    (a leak per request or per change) gives what it grew in a third of
    the run. Peaks rather than single samples or a fitted slope: the
    samples swing by some MiB as large answers are built and trimmed, on
    a shared machine at whatever moment the sampler runs."""
    if not samples:
        return 0
    end = samples[-1][0]
    middle = [v for t, v in samples if end / 3 <= t < 2 * end / 3]
    last = [v for t, v in samples if t >= 2 * end / 3]
    return max(last) - max(middle) if middle and last else 0


def run_load(port, rss_kib, dom, targets, seconds, connections, procs, seed=1, changes_too=True, recent_tasks=8):
    """Runs the clients against the daemon on port for seconds, sampling
    rss_kib() every second; returns a dict of results."""
    start = time.monotonic()
    deadline = start + seconds
    queue = multiprocessing.Queue()
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    ps = [multiprocessing.Process(target=client_proc, args=(port, dom, targets, deadline, n, seed * 100 + i, queue,
                                                           changes_too, recent_tasks))
          for i, n in enumerate(per)]
    for p in ps:
        p.start()
    rss = []
    next_sample = start
    while time.monotonic() < deadline:
        rss.append((time.monotonic() - start, rss_kib()))
        next_sample += 1
        time.sleep(max(0, next_sample - time.monotonic()))  # the sampling period, not a synchronisation
    results = [queue.get(timeout=300) for _ in ps]
    for p in ps:
        p.join()
    elapsed = time.monotonic() - start
    lat = [x for r in results for x in r[0]]
    errors = [x for r in results for x in r[1]]
    warm = [s for s in rss if s[0] >= seconds / 6]
    return {
        "requests": len(lat),
        "rps": len(lat) / elapsed,
        "p50_ms": percentile(lat, 50) if lat else 0.0,
        "p99_ms": percentile(lat, 99) if lat else 0.0,
        "errors": errors,
        "changes": sum(r[2] for r in results),
        "rss_start_kib": warm[0][1] if warm else 0,
        "rss_end_kib": warm[-1][1] if warm else 0,
        "rss_max_kib": max(v for _, v in warm) if warm else 0,
        "rss_slope_kib_per_min": slope_per_min(warm),
        "rss_growth_kib": rss_growth(rss),
        "rss_samples": rss,
    }


def route_rss_growth(d, paths, runs=3, seconds=4):
    """Per route: wrk (8 keep-alive connections, the same all along) runs
    times; the RSS growth from after the first run to after the last, in
    KiB. Memory that grows with the number of requests shows here, apart
    from what connection threads and the task history add."""
    out = {}
    for name, path in paths.items():
        rss, n = [], 0
        for _ in range(runs):
            r = subprocess.run(["wrk", "-t1", "-c8", "-d%ds" % seconds, "http://127.0.0.1:%d%s" % (d.port, path)],
                               capture_output=True, text=True, check=True).stdout
            n += int(re.search(r"(\d+) requests in", r).group(1))
            rss.append(d.rss_kib())
        out[name] = (n, rss[-1] - rss[0], rss)
    return out


def prepare(d, images=IMAGES):
    """A domain with images of two volumes each: what the reads fetch."""
    dom = d.default_domain()
    return dom, [(image, top) for image, _, top in populate(d, dom, images)]


def main():
    seconds = int(os.environ.get("SANPOOL_LOAD_SECONDS", "60"))
    connections = int(os.environ.get("SANPOOL_LOAD_CONNECTIONS", "64"))
    procs = int(os.environ.get("SANPOOL_LOAD_PROCS", "2"))
    wd = workdir("load")
    d = Daemon(wd, conf_extra="tasks_kept = %d\n" % TASKS_KEPT).start()
    try:
        dom, targets = prepare(d)
        note("load %s before: %d connections in %d processes for %d s" % (loadavg(), connections, procs, seconds))
        res = run_load(d.port, d.rss_kib, dom, targets, seconds, connections, procs, recent_tasks=0)
        note("load %s after; %d requests" % (loadavg(), res["requests"]))
        note("RSS MiB every 10 s: " + " ".join("%.1f" % (v / 1024) for _, v in res["rss_samples"][::10]))
        for e in res["errors"][:10]:
            note("error: " + e)
        figure("load_rps", res["rps"], "req/s")
        figure("load_p50_ms", res["p50_ms"], "ms")
        figure("load_p99_ms", res["p99_ms"], "ms")
        figure("load_errors", len(res["errors"]), "errors")
        figure("load_changes", res["changes"], "tasks")
        figure("load_rss_start_mib", res["rss_start_kib"] / 1024, "MiB")
        figure("load_rss_end_mib", res["rss_end_kib"] / 1024, "MiB")
        figure("load_rss_slope_kib_per_min", res["rss_slope_kib_per_min"], "KiB/min")
        figure("load_rss_growth_kib", res["rss_growth_kib"], "KiB")
        # then reads only: the task history no longer grows, memory must not either
        reads = run_load(d.port, d.rss_kib, dom, targets, seconds // 2, connections, procs, seed=2, changes_too=False,
                         recent_tasks=0)
        note("reads only: RSS MiB every 10 s: " + " ".join("%.1f" % (v / 1024) for _, v in reads["rss_samples"][::10]))
        for e in reads["errors"][:10]:
            note("error: " + e)
        figure("load_reads_rps", reads["rps"], "req/s")
        figure("load_reads_errors", len(reads["errors"]), "errors")
        figure("load_reads_rss_end_mib", reads["rss_end_kib"] / 1024, "MiB")
        figure("load_reads_rss_slope_kib_per_min", reads["rss_slope_kib_per_min"], "KiB/min")
        figure("load_reads_rss_growth_kib", reads["rss_growth_kib"], "KiB")
        if shutil.which("wrk"):
            image, volume = targets[0]
            routes = route_rss_growth(d, {"host": "/v1/host", "domains": "/v1/domains",
                                          "images": "/v1/domains/%s/images" % dom,
                                          "volume": "/v1/domains/%s/images/%s/volumes/%s" % (dom, image, volume),
                                          "tasks": "/v1/tasks"})
            for name, (n, growth, rss) in routes.items():
                note("route %s: %d requests, RSS KiB after each run: %s" % (name, n, rss))
            figure("load_route_rss_growth_kib", max(g for _, g, _ in routes.values()), "KiB")
        if res["errors"] or reads["errors"]:
            sys.exit("bench: %d errors under load" % (len(res["errors"]) + len(reads["errors"])))
    finally:
        d.stop()
        cleanup(wd)


if __name__ == "__main__":
    main()
