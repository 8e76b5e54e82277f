"""Runs cluster test modules beside others, as one ctest entry:

    python3 beside.py MAIN... -- SIDE...   (in tests/cluster, as root)

The MAIN modules run here (as `python3 -m unittest -v MAIN...`); the SIDE modules
run in a child process (`python3 -m unittest -v SIDE...`, each line of its output
prefixed "[beside]"), started as soon as MAIN's first cluster is up: a booting
cluster takes every core by itself, the scenarios after it leave room. Each side
has its own cluster (its own guests, target, work dir) and cleans up as alone. The
exit status is 0 only if both passed. Each module still runs alone with
`python3 -m unittest`.

What runs beside what is chosen by CPU: sides whose guests mostly wait beside
mains whose guests mostly wait (one host works at a time; sanlock's host-dead
time, multipathd's checks, queueing limits). tests/CMakeLists.txt names them.
"""
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

    def start(self, cluster=None):
        if self.proc is not None:
            return
        harness.log("%s beside it: %s" % ("cluster up" if cluster else "no cluster", " ".join(self.modules)))
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
    if "--" not in argv[1:-1]:
        sys.exit("usage: beside.py MAIN... -- SIDE...")
    mains, sides = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    side = Side(sides)
    harness.CLUSTER_UP.append(side.start)
    try:
        main_ok = unittest.main(module=None, argv=["beside.py"] + mains, verbosity=2, exit=False) \
            .result.wasSuccessful()
        side.start()  # if MAIN never had a cluster up (it failed or skipped)
        side_rc = side.wait()
    finally:
        side.stop()
    harness.log("%s: %s; %s: %s" % (" ".join(mains), "passed" if main_ok else "FAILED", " ".join(sides),
                                    "passed" if side_rc == 0 else "FAILED (exit %d)" % side_rc))
    return 0 if main_ok and side_rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
