"""GET /metrics: the Prometheus text exposition format 0.0.4, checked by a
small parser of that format, and counters that move with what the daemon
does: requests by route pattern and status class, tasks by state, LVM
command latencies, domain space."""
import http.client
import math
import re
import unittest

import test_block_domain
from sanpool import DaemonTest, GiB

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|\Z)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def unescape(s):
    return re.sub(r'\\([\\"n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError("bad labels %r at %d" % (text, pos))
        if m.group(1) in labels:
            raise ValueError("label %s twice in %r" % (m.group(1), text))
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) == "histogram":
            return base
    return name


def parse_exposition(text):
    """Parses the text format; raises ValueError on anything the format forbids.
    Returns ({(name, frozenset(labels)): value}, {family: type})."""
    if not text.endswith("\n"):
        raise ValueError("exposition does not end with a newline")
    samples, types, helps, seen_families, current = {}, {}, set(), [], None
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    raise ValueError("bad metric name in %r" % line)
                if parts[1] == "HELP":
                    if name in helps:
                        raise ValueError("second HELP for %s" % name)
                    helps.add(name)
                else:
                    if name in types or len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError("bad or second TYPE: %r" % line)
                    if name in seen_families:
                        raise ValueError("TYPE of %s after its samples" % name)
                    types[name] = parts[3]
            continue
        if not line.strip():
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?\d+)?\Z", line)
        if not m:
            raise ValueError("bad sample line %r" % line)
        name, labels, value = m.group(1), parse_labels(m.group(3) or ""), m.group(4)
        v = float(value)  # accepts +Inf, -Inf, NaN as the format spells them
        fam = family_of(name, types)
        if fam != current:
            if fam in seen_families:
                raise ValueError("samples of %s are not together" % fam)
            seen_families.append(fam)
            current = fam
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError("sample %r twice" % line)
        samples[key] = v
    check_histograms(samples, types)
    return samples, types


def check_histograms(samples, types):
    for fam, t in types.items():
        if t != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((float(le), v))
        for labels, buckets in series.items():
            buckets.sort()
            if not math.isinf(buckets[-1][0]):
                raise ValueError("%s%s has no +Inf bucket" % (fam, dict(labels)))
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                raise ValueError("%s%s buckets are not cumulative" % (fam, dict(labels)))
            if samples.get((fam + "_count", labels)) != counts[-1]:
                raise ValueError("%s%s _count is not the +Inf bucket" % (fam, dict(labels)))
            if (fam + "_sum", labels) not in samples:
                raise ValueError("%s%s has no _sum" % (fam, dict(labels)))


def value(samples, metric, **labels):
    return samples.get((metric, frozenset(labels.items())), 0.0)


class ParserTest(unittest.TestCase):
    """The test's parser refuses what the format forbids (else it proves nothing)."""

    def test_refuses_malformed(self):
        bad = [
            "x 1",  # no final newline
            "x{a=\"1\" 1\n",
            "x{a=1} 1\n",
            "x one\n",
            "# TYPE x counter\n# TYPE x counter\nx 1\n",
            "x 1\n# TYPE x counter\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
            "a 1\nb 1\na{x=\"y\"} 1\n",
        ]
        for text in bad:
            with self.assertRaises(ValueError, msg=text):
                parse_exposition(text)
        s, t = parse_exposition('# HELP a x\\ny\n# TYPE a gauge\na{l="q\\"\\n\\\\"} -Inf\n')
        self.assertEqual(value(s, "a", l='q"\n\\'), float("-inf"))
        self.assertEqual(t, {"a": "gauge"})


class Scraper:
    def scrape(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(resp.getheader("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return parse_exposition(body)


class MetricsTest(Scraper, DaemonTest):
    def test_requests_counted_by_route_pattern_and_status_class(self):
        before, types = self.scrape()
        self.assertEqual(types["sanpool_http_requests_total"], "counter")
        self.assertEqual(types["sanpool_http_request_duration_seconds"], "histogram")
        for _ in range(3):
            self.assertEqual(self.d.get("/v1/host")[0], 200)
        st, _ = self.d.get("/v1/domains/%s/images/%s" % (self.dom, "00000000-0000-4000-8000-000000000000"))
        self.assertEqual(st, 404)
        st, _ = self.d.request("POST", "/v1/domains/%s/images" % self.dom, raw=b"{not json")
        self.assertEqual(st, 400)
        self.assertEqual(self.d.get("/v1/no/such/thing")[0], 404)
        after, _ = self.scrape()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        req = "sanpool_http_requests_total"
        self.assertEqual(delta(req, method="GET", route="/v1/host", code="2xx"), 3)
        self.assertEqual(delta(req, method="GET", route="/v1/domains/{domain}/images/{image}", code="4xx"), 1)
        self.assertEqual(delta(req, method="POST", route="/v1/domains/{domain}/images", code="4xx"), 1)
        self.assertEqual(delta(req, method="GET", route="unmatched", code="4xx"), 1)
        # the first scrape is counted once it is answered: seen by the second
        self.assertEqual(delta(req, method="GET", route="/metrics", code="2xx"), 1)
        self.assertEqual(delta("sanpool_http_request_duration_seconds_count", method="GET", route="/v1/host"), 3)
        self.assertGreater(delta("sanpool_http_request_duration_seconds_sum", method="GET", route="/v1/host"), 0)

    def test_tasks_by_state_and_domain_space(self):
        before, types = self.scrape()
        self.assertEqual(types["sanpool_tasks"], "gauge")
        self.assertEqual({dict(l)["state"] for n, l in before if n == "sanpool_tasks"},
                         {"queued", "running", "finished", "failed", "aborted"})
        self.d.create_image(self.dom, capacity=GiB)
        st, acc = self.d.post("/v1/domains/%s/images" % self.dom, {"format": "vmdk", "capacity": GiB})
        self.assertEqual(st, 400, acc)  # refused up front: no task
        after, _ = self.scrape()
        self.assertEqual(value(after, "sanpool_tasks", state="finished") -
                         value(before, "sanpool_tasks", state="finished"), 1)
        self.assertEqual(value(after, "sanpool_tasks", state="failed"), value(before, "sanpool_tasks", state="failed"))

        st, dom = self.d.get("/v1/domains/%s" % self.dom)
        self.assertEqual(st, 200)
        labels = dict(domain=self.dom, name=dom["name"], kind="file")
        self.assertEqual(value(after, "sanpool_domain_total_bytes", **labels), dom["total_bytes"])
        free = value(after, "sanpool_domain_free_bytes", **labels)
        self.assertTrue(0 < free <= dom["total_bytes"], free)

    def test_metrics_takes_only_get(self):
        st, err = self.d.post("/metrics", {})
        self.assertEqual(st, 405, err)


class BlockMetricsTest(Scraper, test_block_domain.BlockTest):
    def test_lvm_command_latencies_and_block_domain_space(self):
        self.start_with_block(size=8 * GiB)
        before, types = self.scrape()
        self.assertEqual(types["sanpool_lvm_command_duration_seconds"], "histogram")
        self.assertGreaterEqual(value(before, "sanpool_lvm_command_duration_seconds_count", command="vgcreate"), 1)
        self.assertGreaterEqual(value(before, "sanpool_lvm_command_duration_seconds_count", command="pvcreate"), 1)
        self.d.create_image(self.dom, fmt="raw", capacity=GiB, allocation="preallocated")
        after, _ = self.scrape()
        self.assertGreaterEqual(value(after, "sanpool_lvm_command_duration_seconds_count", command="lvcreate") -
                                value(before, "sanpool_lvm_command_duration_seconds_count", command="lvcreate"), 1)

        size, free, _ = self.vg_report()
        labels = dict(domain=self.dom, name="blk", kind="block")
        self.assertEqual(value(after, "sanpool_domain_total_bytes", **labels), size)
        self.assertEqual(value(after, "sanpool_domain_free_bytes", **labels), free)
        self.assertLess(value(after, "sanpool_domain_free_bytes", **labels),
                        value(before, "sanpool_domain_free_bytes", **labels))


# only the test above: not every block domain test again
for _name in dir(test_block_domain.BlockTest):
    if _name.startswith("test_"):
        setattr(BlockMetricsTest, _name, None)

if __name__ == "__main__":
    unittest.main()
