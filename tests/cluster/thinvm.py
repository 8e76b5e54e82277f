"""Libvirt VMs on thin volumes in cluster guests: what test_thin.py and bench/thin_extend.py share.

A VM needs no OS: SeaBIOS finds nothing to boot and waits, while writes are made inside
its qemu with HMP qemu-io on the virtio disk's backend (the notes in
shared/notes/cluster-test-machines.md). qemu-io prints to qemu's stdout (the VM's log),
not to the monitor; it goes through the device's BlockBackend but not its error policy,
so a write past the LV end fails rather than pausing the VM.
"""
import time

from harness import HarnessError

VM_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>{boot}</os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='block' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' error_policy='stop'/>
      <source dev='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>{devices}
  </devices>
</domain>
"""


def wait_until(what, fn, timeout=120):
    """Polls fn() -> (done, last) every 0.2 s; returns last, or raises with it after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        done, last = fn()
        if done:
            return last
        time.sleep(0.2)
    raise HarnessError("%s: not within %ds; last: %s" % (what, timeout, str(last)[:3000]))


def pool_with_spm(spm, others, dev, name="thin"):
    """A pool whose master is a block domain on dev: spm creates it and becomes its SPM, the
    others connect. Returns (pool, master domain)."""
    st, p = spm.post("/v1/pools", {"name": name, "master_domain_name": name + "blk", "kind": "block",
                                   "devices": [dev]})
    if st != 201:
        raise HarnessError("pool create: %s %s" % (st, p))
    pool = p["uuid"]
    for g in others:
        st, q = g.post("/v1/pools/%s/connect" % pool, {"kind": "block", "devices": [dev]})
        if st != 200:
            raise HarnessError("%s: connect: %s %s" % (g.name, st, q))
    for g in [spm] + list(others):
        wait_until("%s joined" % g.name, lambda: (lambda ls: (bool(ls) and all(x["state"] == "joined" for x in ls),
                                                               ls))(g.get("/v1/pools/" + pool)[1]["spm"]["lockspaces"]),
                   timeout=180)
    st, s = spm.post("/v1/pools/%s/spm/start" % pool)
    if st != 200 or s["spm"]["role"] != "spm":
        raise HarnessError("spm/start: %s %s" % (st, s))
    for g in others:
        wait_until("%s sees host %d as SPM" % (g.name, spm.host_id),
                   lambda: (lambda sp: (sp["spm_host"] == spm.host_id, sp))(g.get("/v1/pools/" + pool)[1]["spm"]))
    return pool, p["master_domain"]


def start_vm(host, name, path, boot="", devices="", memory_mib=64):
    """Defines and starts VM name with path as its virtio disk; boot and devices are more
    XML for its <os> (e.g. a kernel to boot) and its <devices>."""
    xml = VM_XML.format(name=name, path=path, boot=boot, devices=devices, memory_mib=memory_mib)
    host.run("cat > /run/%s.xml <<'EOF'\n%sEOF\nvirsh define /run/%s.xml" % (name, xml, name), check=True)
    host.run("virsh start %s" % name, check=True, timeout=300)


def remove_vm(host, name):
    host.run("virsh destroy %s; virsh undefine %s" % (name, name), check=True)


def qemu_io(host, vm, cmd, timeout=300):
    """A qemu-io command inside the VM's qemu, on its virtio disk (as the guest's writes would)."""
    qio = 'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "%s"' % cmd
    rc, out = host.run("virsh qemu-monitor-command %s --hmp '%s'" % (vm, qio), timeout=timeout)
    if rc != 0:
        raise HarnessError("%s: qemu-io %s: %s" % (host.name, cmd, out))
    return out


def thin_state(host):
    st, s = host.get("/v1/host/thin")
    if st != 200:
        raise HarnessError("%s: GET /v1/host/thin: %s %s" % (host.name, st, s))
    return s


def drive(host, volume):
    """The monitor's record of the drive writing volume on host, or None."""
    for d in thin_state(host)["drives"]:
        if d["volume"] == volume:
            return d
    return None


def settled(host, volume):
    """(done, state): no extend of the volume waits or runs and its threshold is armed past qemu's
    allocation (the writer has stopped and the LV has room)."""
    s = thin_state(host)
    d = next((x for x in s["drives"] if x["volume"] == volume), None)
    return (d is not None and not d["extending"] and (d["full"] or d["threshold"] > d["allocation"])
            and s["extends_waiting"] == 0 and s["extends_running"] == 0), s
