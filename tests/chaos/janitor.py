"""Nothing of a chaos run may outlive it: processes, namespaces, veths, the bridge, mounts.

on_exit(...) registers the undo steps of this run (run in order by atexit, each guarded, also
after an exception or SIGTERM, which chaos.py turns into SystemExit). A run killed with
SIGKILL cannot clean up after itself, so clean_stale() (called at the start of every run)
removes what runs whose harness process is gone left behind. Everything a run makes is named
after the harness's pid: namespaces kc<pid>n<i>, the bridge kc<pid>br, host-side veths
kc<pid>h<i>, and the work dir /tmp/keel-chaos-<pid>-* (data dirs, tmpfs mounts; node
processes name it in --data-dir).
"""
import atexit
import os
import re
import shutil
import signal
import subprocess

_TRACKED = []


def track(proc):
    """A process to kill on the way out (the nodes are the cluster's; this is for the rest)."""
    _TRACKED.append(proc)


def on_exit(*steps):
    def undo():
        for proc in _TRACKED:
            try:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            except Exception:
                pass
        for step in steps:
            try:
                step()
            except Exception as e:  # keep undoing the rest
                print(f"chaos: cleanup step failed: {e}")
    atexit.register(undo)


def harness_alive(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"chaos.py" in f.read()
    except OSError:
        return False


def clean_stale():
    """Removes what SIGKILLed runs left: their node processes, mounts, namespaces, bridges."""
    me = os.getpid()
    dead = lambda pid: pid != me and not harness_alive(pid)  # noqa: E731
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        # Nodes name the work dir in --data-dir, keel-chaos in --key-file; the relay exits by
        # itself when its harness's end of its stdin closes.
        m = re.search(r"/tmp/keel-chaos-(\d+)-", cmdline)
        if m and dead(int(m.group(1))):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
    except OSError:
        mounts = []
    for path in mounts:
        m = re.search(r"/keel-chaos-(\d+)-", path)
        if m and dead(int(m.group(1))):
            subprocess.run(["umount", "-l", path], check=False)
    for entry in os.listdir("/tmp"):
        m = re.match(r"keel-chaos-(\d+)-", entry)
        if m and dead(int(m.group(1))):
            shutil.rmtree(os.path.join("/tmp", entry), ignore_errors=True)
    if os.geteuid() != 0:
        return
    listing = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True, check=False).stdout
    for name in re.findall(r"^(kc(\d+)n\d+)", listing, re.M):
        if dead(int(name[1])):
            subprocess.run(["ip", "netns", "del", name[0]], check=False)
    links = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, text=True, check=False).stdout
    for name, pid in re.findall(r"^\d+: (kc(\d+)(?:br|h\d+))[@:]", links, re.M):
        if dead(int(pid)):
            subprocess.run(["ip", "link", "del", name], check=False, stderr=subprocess.DEVNULL)
