"""Fills an LVM VG to N LVs in seconds instead of an hour: the VG's metadata
is dumped with `vgcfgbackup`, a template volume LV already in it (made the
normal way, by the agent or by `lvcreate`) is copied N - count times with new
names, LV ids, tags and extents, and the text is loaded back with
`vgcfgrestore`. LVM then rewrites the metadata in its own form on the next
command, so what the VG holds is what N creates would have left (the caller
checks it with `lvs`: count, tags).

Only for VGs without active LVs (the benchmarks run with activation off)."""
import os
import random
import re
import string

_ID_CHARS = string.ascii_letters + string.digits


def lvm_id():
    """An LVM object id: 32 characters of [A-Za-z0-9] in groups 6-4-4-4-4-4-6."""
    s = "".join(random.choice(_ID_CHARS) for _ in range(32))
    parts, i = [], 0
    for n in (6, 4, 4, 4, 4, 4, 6):
        parts.append(s[i:i + n])
        i += n
    return "-".join(parts)


def _lv_blocks(text):
    """(start, end, name) of each LV section in logical_volumes { ... }."""
    lvs_at = text.index("\tlogical_volumes {")
    out, pos = [], text.index("\n", lvs_at) + 1
    pat = re.compile(r"^\t\t(\S+) \{\n", re.M)
    while True:
        m = pat.search(text, pos)
        if not m:
            break
        # an LV section ends at the first line that is two tabs and "}"
        end = text.index("\n\t\t}\n", m.end()) + len("\n\t\t}\n")
        out.append((m.start(), end, m.group(1)))
        pos = end
    return out


def fill(run_lvm, vg, template_lv, count, n, make_lv, scratch):
    """Adds n - count copies of template_lv to vg. run_lvm(argv) runs an LVM
    command with the right lvm.conf and device filter; make_lv(k) returns
    (lv name, list of tags) for the k-th new LV. The copies take the extents
    after the highest one in use, each as many as the template. Returns n."""
    if n <= count:
        return count
    path = os.path.join(scratch, "%s.vgfill" % vg)
    run_lvm(["vgcfgbackup", "-f", path, vg])
    with open(path) as f:
        text = f.read()
    blocks = _lv_blocks(text)
    tmpl = next(text[s:e] for s, e, name in blocks if name == template_lv)
    if "segment_count = 1\n" not in tmpl:
        raise RuntimeError("template LV %s has more than one segment" % template_lv)
    extents = int(re.search(r"extent_count = (\d+)", tmpl).group(1))
    # the highest extent in use: each segment's start on pv0 plus its count
    used = 0
    for s, e, _ in blocks:
        b = text[s:e]
        for cnt, start in re.findall(r"extent_count = (\d+)[\s\S]*?\"pv0\", (\d+)", b):
            used = max(used, int(start) + int(cnt))
    pe_count = int(re.search(r"pe_count = (\d+)", text).group(1))
    if used + (n - count) * extents > pe_count:
        raise RuntimeError("VG %s: %d extents free, %d needed" % (vg, pe_count - used, (n - count) * extents))
    tags_line = re.compile(r"^\t\t\ttags = \[.*\]\n", re.M)
    copies = []
    for k in range(n - count):
        name, tags = make_lv(k)
        b = tmpl.replace("\t\t%s {\n" % template_lv, "\t\t%s {\n" % name, 1)
        b = re.sub(r'id = "[^"]+"', 'id = "%s"' % lvm_id(), b, count=1)
        b = tags_line.sub("\t\t\ttags = [%s]\n" % ", ".join('"%s"' % t for t in tags), b, count=1)
        b = re.sub(r'"pv0", \d+', '"pv0", %d' % (used + k * extents), b, count=1)
        copies.append(b)
    last_end = blocks[-1][1]
    text = text[:last_end] + "\n" + "\n".join(copies) + text[last_end:]
    seqno = int(re.search(r"\tseqno = (\d+)", text).group(1))
    text = re.sub(r"\tseqno = \d+", "\tseqno = %d" % (seqno + 1), text, count=1)
    with open(path, "w") as f:
        f.write(text)
    run_lvm(["vgcfgrestore", "-f", path, vg])
    os.unlink(path)
    return n
