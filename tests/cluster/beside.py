"""Runs cluster test modules beside others, as one ctest entry:

    python3 beside.py [--from SCENARIO] MAIN... -- SIDE...   (in tests/cluster, as root)

The MAIN modules run here (as `python3 -m unittest -v MAIN...`); the SIDE modules
run in a child process (`python3 -m unittest -v SIDE...`, each line of its output
prefixed "[beside]"), started as soon as MAIN's first cluster is up (a booting
cluster takes every core by itself, the scenarios after it leave room), or with
--from as MAIN's scenario SCENARIO (a test method's name) starts: where MAIN's
hosts wait more than they work (a SCENARIO no MAIN module has is refused). If
that moment never comes (MAIN failed early), the side runs after MAIN. Each side
has its own cluster (its own guests, target, work dir) and cleans up as alone. The
exit status is 0 only if both passed. Each module still runs alone with
`python3 -m unittest`.

What runs beside what is chosen by CPU: sides whose guests mostly wait beside
mains whose guests mostly wait (one host works at a time; sanlock's host-dead
time, multipathd's checks, queueing limits). tests/CMakeLists.txt names them.
"""
import importlib
import os
import signal
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


class Side:
    """The SIDE modules' process; its output relayed line by line."""

    def __init__(self, modules):
        self.modules = modules
        self.proc = None

    def start(self, why):
        if self.proc is not None:
            return
        harness.log("%s: %s beside it" % (why, " ".join(self.modules)))
        # PDEATHSIG: it dies with this process even if this one is SIGKILLed (ctest's timeout)
        self.proc = subprocess.Popen([sys.executable, "-m", "unittest", "-v"] + self.modules, cwd=HERE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, errors="replace", preexec_fn=harness._die_with_parent)
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def _relay(self):
        for line in self.proc.stdout:
            sys.stderr.write("[beside] " + line)
            sys.stderr.flush()

    def wait(self):
        rc = self.proc.wait()
        self.relay.join()
        return rc

    def stop(self):
        """SIGTERM (its harness cleans up, as on Ctrl-C), then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv):
    start_at = None
    if argv[:1] == ["--from"]:
        start_at, argv = argv[1], argv[2:]
    if "--" not in argv[1:-1]:
        sys.exit("usage: beside.py [--from SCENARIO] MAIN... -- SIDE...")
    mains, sides = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    if start_at and not any(isinstance(c, type) and issubclass(c, unittest.TestCase) and hasattr(c, start_at)
                            for m in mains for c in vars(importlib.import_module(m)).values()):
        sys.exit("beside.py: no scenario %s in %s" % (start_at, " ".join(mains)))
    side = Side(sides)
    if start_at:
        harness.SCENARIO_START.append(lambda name: name == start_at and side.start(name + " starts"))
    else:
        harness.CLUSTER_UP.append(lambda cluster: side.start("cluster up"))
    try:
        main_ok = unittest.main(module=None, argv=["beside.py"] + mains, verbosity=2, exit=False) \
            .result.wasSuccessful()
        side.start("%s done" % " ".join(mains))  # if that moment never came
        side_rc = side.wait()
    finally:
        side.stop()
    harness.log("%s: %s; %s: %s" % (" ".join(mains), "passed" if main_ok else "FAILED", " ".join(sides),
                                    "passed" if side_rc == 0 else "FAILED (exit %d)" % side_rc))
    return 0 if main_ok and side_rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
