"""The sandbox itself (resnet_course/grading/sandbox.py), with small Python programs instead of notebooks.

Each test starts one sandbox over a fresh scratch folder and asserts one guarantee of docs/grading.md:
the view of the file system, the user, the network, the limits on memory, processes, wall time and
output, and that nothing is left running. The notebooks' grading through nbgrader is in
tests/test_nbgrader_roundtrip.py; the codec and the judge's proxy are in tests/test_judge.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

from resnet_course.grading import sandbox
from resnet_course.grading.paths import CODE_ROOT
from tests.needs_sandbox import SANDBOX

MARKER = f"resnet-sandbox-test-{uuid.uuid4().hex}"      # in every test program's command line
pytestmark = SANDBOX


def run(tmp_path: Path, code: str, **limits) -> tuple[dict, str]:
    code = textwrap.dedent(code) + f"\n# {MARKER}\n"
    limits.setdefault("scratch_bytes", 64 * 2**20)
    box = sandbox.start([sys.executable, "-c", code], sandbox.Limits(**limits))
    box.process.wait(timeout=120)
    report = box.finish()
    return report, report["stdout"]


def left_running() -> list[str]:
    return subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout.split()


def test_it_runs_python_as_nobody_and_sees_only_what_grading_needs(tmp_path):
    report, out = run(tmp_path, f"""
        import os, numpy, public_tests, test_utils, resnets_utils
        print('uid', os.getuid(), os.getgid())
        print('course', sorted(os.listdir('/course')))
        for path in {[str(CODE_ROOT / 'source'), str(CODE_ROOT / 'gradebook.db'), str(CODE_ROOT / 'submitted'),
                      str(CODE_ROOT / 'tools'), str(CODE_ROOT / 'public_tests.py'), '/home', '/etc/passwd']!r}:
            print('sees' if os.path.exists(path) else 'hidden', path)
        for folder in {sorted({str(p) for root in sandbox._python_roots() for p in root.parents[:-1]})!r}:
            print('in', folder, sorted(os.listdir(folder)))      # only the way to the Python installation
        """)
    assert report["exit_status"] == 0, report["stderr"]
    assert "uid 65534 65534" in out
    assert "course ['public_tests.py', 'resnet_course', 'resnets_utils.py', 'test_utils.py']" \
        in out, out
    assert "sees" not in out, out
    ways = {str(p) for root in sandbox._python_roots() for p in [root, *root.parents[:-1]]}
    for line in out.splitlines():
        if line.startswith("in "):
            folder, entries = line[3:].split(" ", 1)
            assert {str(Path(folder) / e) for e in eval(entries)} <= ways, line     # noqa: S307 - our own output


def test_it_cannot_write_outside_its_scratch_folder(tmp_path):
    import site

    targets = ["/course/public_tests.py", str(Path(site.getsitepackages()[0]) / "zz_attack.pth"),
               str(Path(sys.executable).resolve().parent / "zz"), "/usr/zz"]
    report, out = run(tmp_path, f"""
        for path in {targets!r}:
            try:
                open(path, 'a').write('x')
                print('wrote', path)
            except OSError as exc:
                print('refused', path, type(exc).__name__)
        open('/scratch/mine', 'w').write('ok')
        open('/tmp/mine', 'w').write('ok')
        print('scratch ok')
        """)
    assert "wrote" not in out and "scratch ok" in out, out
    assert not (Path(site.getsitepackages()[0]) / "zz_attack.pth").exists()


def test_its_scratch_and_tmp_are_tmpfs_of_their_own_and_full_at_their_size(tmp_path):
    """Filling its disk fills only its own tmpfs: no host file system is writable in the sandbox."""
    report, out = run(tmp_path, """
        import os
        for folder in ('/scratch', '/tmp'):
            written = 0
            try:
                with open(os.path.join(folder, 'fill'), 'wb') as f:
                    while True:
                        f.write(b'x' * 2**20)
                        f.flush()
                        written += 1
            except OSError as exc:
                print(folder, 'full after', written, 'MB', exc.errno)
            os.remove(os.path.join(folder, 'fill'))
        made = 0
        try:
            for i in range(200_000):
                open(f'/scratch/f{i}', 'w').close()
                made += 1
        except OSError as exc:
            print('inodes stop', exc.errno)
        print('files', made)
        mounts = [line.split()[1:3] for line in open('/proc/mounts')]
        print('writable', sorted(m for m, t in mounts if t not in ('proc', 'tmpfs', 'devtmpfs', 'mqueue', 'devpts')
                                  and m.startswith('/') and os.access(m, os.W_OK)))
        """, scratch_bytes=32 * 2**20)
    assert report["exit_status"] == 0, report["stderr"]
    assert "/scratch full after 32 MB" in out or "/scratch full after 31 MB" in out, out
    assert "/tmp full after" in out, out
    assert "writable []" in out, out


def test_it_runs_as_the_uid_it_is_given_and_its_key_ring_is_its_own(tmp_path):
    """Two sandboxes with their own uids share no per-user kernel object: a key one adds, the other cannot find."""
    keyring = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        ADD_KEY, KEYCTL = (248, 250) if os.uname().machine == 'x86_64' else (217, 219)
        print('uid', os.getuid())
        """
    first = 2_100_000_000 + os.getpid() % 1000 * 4
    _, out = run(tmp_path, keyring + """
        key = libc.syscall(ADD_KEY, b'user', b'resnet-secret', b'from the first', 14, -4)
        print('added', key > 0, ctypes.get_errno())
        """, uid=first)
    assert f"uid {first}" in out and "added True" in out, out
    _, out = run(tmp_path, keyring + """
        found = libc.syscall(KEYCTL, 10, -4, b'user', b'resnet-secret', 0)
        print('found', found > 0)
        """, uid=first + 2)
    assert f"uid {first + 2}" in out and "found False" in out, out
    _, out = run(tmp_path, keyring + """
        print('found', libc.syscall(KEYCTL, 10, -4, b'user', b'resnet-secret', 0) > 0)
        """, uid=first)
    assert "found True" in out, out  # the control: the same uid finds it (one uid for all was a channel)


def test_it_reaches_no_network_not_even_the_hosts_loopback(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(15)
    reached = []
    threading.Thread(target=lambda: reached.append(_accept(listener)), daemon=True).start()
    port = listener.getsockname()[1]
    report, out = run(tmp_path, f"""
        import socket
        for address in (('127.0.0.1', {port}), ('1.1.1.1', 53)):
            try:
                socket.create_connection(address, timeout=3)
                print('reached', address)
            except OSError as exc:
                print('no network', address, type(exc).__name__)
        """)
    listener.close()
    assert "reached" not in out, out
    assert reached in ([], [None]), reached


def _accept(listener):
    try:
        return listener.accept()
    except OSError:
        return None


def test_memory_beyond_the_limit_kills_the_sandbox(tmp_path):
    report, out = run(tmp_path, """
        hold = []
        while True:
            hold.append(bytearray(50_000_000))
        """, memory_bytes=300 * 2**20)
    assert report["exit_status"] not in (0, None), report
    assert report["peak_memory_bytes"] is None or report["peak_memory_bytes"] <= 300 * 2**20
    assert report["memory_limit_hit"], report


def test_a_fork_bomb_stops_at_the_pids_limit_and_nothing_outlives_the_sandbox(tmp_path):
    report, out = run(tmp_path, """
        import os, time
        made = 0
        for _ in range(1000):
            try:
                if os.fork() == 0:
                    os.setsid()
                    time.sleep(600)
                    os._exit(0)
                made += 1
            except OSError:
                break
        print('forked', made)
        """, pids=64)
    forked = int(out.split("forked")[1].split()[0])
    assert forked < 64, out
    assert left_running() == [], "processes left running"


def test_the_wall_time_limit_kills_the_whole_tree(tmp_path):
    report, _ = run(tmp_path, """
        import os, time
        if os.fork() == 0:
            while True:
                time.sleep(1)
        while True:
            pass
        """, wall_seconds=3)
    assert report["killed_at_wall_time"], report
    assert report["seconds"] < 30
    assert left_running() == [], "processes left running"


def test_output_is_read_through_a_bounded_reader(tmp_path):
    report, out = run(tmp_path, """
        import os
        os.write(1, b'x' * 50_000_000)
        """, output_bytes=10_000)
    assert report["exit_status"] == 0
    assert len(out) < 20_000 and "more bytes not kept" in out


def test_killing_everything_it_can_signal_ends_only_itself(tmp_path):
    report, out = run(tmp_path, """
        import os, signal
        for pid in (os.getppid(), 1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as exc:
                print('refused', pid, type(exc).__name__)
        os.kill(-1, signal.SIGKILL)
        """)
    assert os.getpid() > 0                       # this process (the host) is alive
    assert "refused 1" in out or report["exit_status"] != 0, report
