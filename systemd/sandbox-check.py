#!/usr/bin/env python3
"""Runs the daemon under the sandbox its systemd unit describes, as far as that can be done
without systemd as PID 1, and checks that it still does its job.

    sandbox-check.py BINARY UNIT_FILE REPO_DIR

Reproduced from the unit:
  - SystemCallFilter= (allow list minus the ~ groups, expanded by this host's systemd-analyze,
    i.e. exactly the system calls systemd would allow) and SystemCallArchitectures=native, as a
    seccomp filter loaded before execve -- with KILL_PROCESS for anything else, stricter than
    the unit's SystemCallErrorNumber=EPERM, so a forbidden call cannot hide behind an error path;
  - MemoryDenyWriteExecute=yes (systemd's seccomp rules: no W+X mmap, no PROT_EXEC mprotect);
  - RestrictAddressFamilies= (socket() with any other family fails with EAFNOSUPPORT);
  - DynamicUser=/CapabilityBoundingSet=/AmbientCapabilities=/NoNewPrivileges=: an unprivileged
    uid/gid without groups, an empty capability bounding set, no_new_privs (setpriv).
Not reproduced (needs systemd's mount/namespace setup): ProtectSystem=, ProtectHome=,
PrivateTmp=, PrivateDevices=, ProtectProc=, RestrictNamespaces=, LockPersonality=, ... The
daemon runs with its files in a directory it cannot write to.

The daemon then probes the bundled simulator (demo scenario) through all four layers with
the real AWS SDK, resolving the endpoint by name (`localhost`, so getaddrinfo/NSS run), tells a
pretend service manager READY=1 and pings its watchdog, answers /metrics and /probe, reloads
on SIGHUP and exits 0 on SIGTERM. A control run with one needed system call removed must die of
SIGSYS, which proves the filter is really applied.

Needs python3-seccomp (libseccomp's bindings) and setpriv (util-linux); fails if missing.
"""

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

UID = 61873  # in systemd's DynamicUser range (61184-65519)


def fail(msg):
    print(f"sandbox-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


try:
    import seccomp  # noqa: E402
except ImportError:
    fail("python3-seccomp is missing (apt-get install python3-seccomp)")


def unit_settings(path):
    """[Service] key -> list of values, in order."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def expand(group, seen=None):
    """The system calls of a systemd syscall group, recursively, per this host's systemd."""
    seen = seen if seen is not None else set()
    if group in seen:
        return set()
    seen.add(group)
    r = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", group],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"systemd-analyze syscall-filter {group}: {r.stderr.strip()}")
    calls = set()
    for line in r.stdout.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name.startswith("@"):
            calls |= expand(name, seen)
        else:
            calls.add(name)
    return calls


def allowed_syscalls(settings):
    allow, deny = None, set()
    for value in settings.get("SystemCallFilter", []):
        invert = value.startswith("~")
        items = value.lstrip("~").split()
        names = set()
        for it in items:
            names |= expand(it) if it.startswith("@") else {it}
        if invert:
            deny |= names
        elif allow is None:
            # systemd adds @default to every allow list.
            allow = names | expand("@default")
        else:
            allow |= names
    if allow is None:
        fail("the unit has no SystemCallFilter allow list")
    return sorted(allow - deny)


FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}


def child_filters(allowed, families, wx_deny):
    """Loads the filters in the child, before execve (like systemd)."""
    # The allow list goes last: it forbids seccomp() itself.
    g = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    if wx_deny:
        prot_write, prot_exec, shm_exec = 0x2, 0x4, 0o100000
        g.add_rule(seccomp.ERRNO(errno.EPERM), "mmap",
                   seccomp.Arg(2, seccomp.MASKED_EQ, prot_write | prot_exec, prot_write | prot_exec))
        for call in ("mprotect", "pkey_mprotect"):
            g.add_rule(seccomp.ERRNO(errno.EPERM), call,
                       seccomp.Arg(2, seccomp.MASKED_EQ, prot_exec, prot_exec))
        g.add_rule(seccomp.ERRNO(errno.EPERM), "shmat",
                   seccomp.Arg(2, seccomp.MASKED_EQ, shm_exec, shm_exec))
    if families is not None:
        for fam in range(0, 46):
            if fam not in families:
                g.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                           seccomp.Arg(0, seccomp.EQ, fam))
    g.load()
    f = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
    for name in allowed:
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture
    f.load()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(url, method="GET", timeout=10):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


def wait(what, limit, cond, log):
    end = time.time() + limit
    while time.time() < end:
        if cond():
            return
        time.sleep(0.25)
    fail(f"{what}: not after {limit}s\n--- daemon log (tail) ---\n{tail(log)}")


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def spawn_sandboxed(work, binary, args, env, log, allowed, families, wx_deny, tag):
    """setpriv drops to the unprivileged identity, then this script (in --exec mode) loads the
    filters and execs the daemon: the filters apply from the daemon's execve on, as in systemd."""
    allow_file = os.path.join(work, f"allowed-{tag}")
    with open(allow_file, "w") as f:
        f.write("\n".join(allowed))
    os.chmod(allow_file, 0o644)
    me = os.path.join(work, "sandbox-check.py")
    if not os.path.exists(me):
        shutil.copy(os.path.abspath(__file__), me)
        os.chmod(me, 0o644)
    fams = ",".join(str(x) for x in sorted(families)) if families is not None else "any"
    cmd = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
           sys.executable, me, "--exec", allow_file, fams, "yes" if wx_deny else "no", "--",
           binary] + args
    return subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd="/", close_fds=True)


def exec_filtered(argv):
    """--exec ALLOWFILE FAMILIES WX -- BINARY ARGS...: load the filters, exec the daemon."""
    allow_file, fams, wx = argv[0], argv[1], argv[2]
    if argv[3] != "--":
        fail("usage: --exec ALLOWFILE FAMILIES WX -- BINARY ARGS...")
    with open(allow_file) as f:
        allowed = [l.strip() for l in f if l.strip()]
    families = None if fams == "any" else {int(x) for x in fams.split(",")}
    child_filters(allowed, families, wx == "yes")
    os.execv(argv[4], argv[4:])


def main():
    if len(sys.argv) != 4:
        fail(__doc__.splitlines()[2].strip())
    binary, unit, repo = sys.argv[1:]
    if shutil.which("setpriv") is None:
        fail("setpriv is missing (util-linux)")
    if os.geteuid() != 0:
        fail("must run as root (to drop to an unprivileged uid like DynamicUser=yes)")
    settings = unit_settings(unit)
    allowed = allowed_syscalls(settings)
    families = None
    for v in settings.get("RestrictAddressFamilies", []):
        families = {FAMILIES[x] for x in v.split() if x in FAMILIES}
    wx_deny = settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes"
    if settings.get("SystemCallArchitectures", [""])[-1] != "native":
        fail("the unit does not restrict system calls to the native architecture")
    print(f"sandbox-check: {len(allowed)} system calls allowed; address families "
          f"{sorted(families) if families else 'any'}; W^X {'on' if wx_deny else 'off'}",
          file=sys.stderr)

    work = tempfile.mkdtemp(prefix="bae-sandbox-")
    os.chmod(work, 0o755)
    try:
        run(binary, repo, work, allowed, families, wx_deny)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(binary, repo, work, allowed, families, wx_deny):
    # Files the unprivileged daemon must read (and cannot write).
    bin_copy = os.path.join(work, "bedrock-access-exporter")
    shutil.copy(binary, bin_copy)
    os.chmod(bin_copy, 0o755)
    cfg = os.path.join(work, "config.toml")
    awscfg = os.path.join(work, "aws-config")
    empty = os.path.join(work, "empty")
    shutil.copy(os.path.join(repo, "config/demo/exporter.toml"), cfg)
    shutil.copy(os.path.join(repo, "config/demo/aws-config"), awscfg)
    open(empty, "w").close()
    for p in (cfg, awscfg, empty):
        os.chmod(p, 0o644)

    # The simulator (test infrastructure: not sandboxed).
    sim_port = free_port()
    sim_log = os.path.join(work, "simulate.log")
    sim = subprocess.Popen(
        [bin_copy, "simulate", f"--scenario={os.path.join(repo, 'config/demo/scenario.toml')}",
         f"--listen=127.0.0.1:{sim_port}"],
        stdout=open(sim_log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    daemon = None
    try:
        wait("simulator listening", 30,
             lambda: socket.socket().connect_ex(("127.0.0.1", sim_port)) == 0, sim_log)

        # The pretend service manager.
        notify_path = os.path.join(work, "notify.sock")
        manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        manager.bind(notify_path)
        os.chmod(notify_path, 0o777)
        manager.settimeout(0.2)
        notes = []

        def drain():
            while True:
                try:
                    notes.append(manager.recv(4096).decode())
                except (socket.timeout, BlockingIOError):
                    return

        port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "AWS_ENDPOINT_URL": f"http://localhost:{sim_port}",
            "AWS_CONFIG_FILE": awscfg,
            "AWS_SHARED_CREDENTIALS_FILE": empty,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NOTIFY_SOCKET": notify_path,
            "WATCHDOG_USEC": "2000000",
        }
        args = [f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=debug"]
        log = os.path.join(work, "daemon.log")
        daemon = spawn_sandboxed(work, bin_copy, args, env, log, allowed, families, wx_deny, "unit")
        base = f"http://127.0.0.1:{port}"

        def alive():
            if daemon.poll() is not None:
                fail(f"the sandboxed daemon died: {describe(daemon.returncode)}\n{tail(log)}")
            return True

        wait("/-/ready answers 200", 30, lambda: alive() and http(base + "/-/ready")[0] == 200, log)
        # The process really runs as the sandbox says (setpriv and python exec'd into it).
        with open(f"/proc/{daemon.pid}/status") as f:
            status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        want = {"Uid": str(UID), "NoNewPrivs": "1", "Seccomp": "2", "CapBnd": "0000000000000000",
                "CapEff": "0000000000000000", "CapAmb": "0000000000000000"}
        for k, v in want.items():
            got = status.get(k, "").split()
            if not got or got[0] != v:
                fail(f"/proc/{daemon.pid}/status {k}: {status.get(k)!r}, want {v}")
        filters = status.get("Seccomp_filters", "").strip()
        if filters and int(filters) < 2:
            fail(f"{filters} seccomp filters on the daemon, want 2")
        wait("READY=1 from the sandboxed daemon", 10,
             lambda: drain() or any("READY=1" in n for n in notes), log)

        def healthy_probed():
            alive()
            st, body = http(base + "/metrics")
            return st == 200 and any(
                l.startswith("bedrock_access_probe_success{") and 'target="healthy-claude"' in l
                and l.rstrip().endswith(" 1") for l in body.splitlines())
        wait("healthy-claude probed successfully through all four layers", 60, healthy_probed, log)

        st, body = http(base + "/probe?target=healthy-claude", timeout=30)
        if st != 200 or "bedrock_access_probe_success" not in body:
            fail(f"/probe?target=healthy-claude: {st}\n{body[:2000]}")

        os.kill(daemon.pid, signal.SIGHUP)
        wait("reload after SIGHUP", 20,
             lambda: alive() and "configuration reloaded" in tail(log, 400), log)
        st, body = http(base + "/metrics")
        if "bedrock_access_exporter_config_last_reload_successful 1" not in body:
            fail("config_last_reload_successful is not 1 after SIGHUP")

        drain()
        if not any(n.strip() == "WATCHDOG=1" for n in notes):
            fail(f"no watchdog ping from the sandboxed daemon: {notes}")

        os.kill(daemon.pid, signal.SIGTERM)
        try:
            rc = daemon.wait(20)
        except subprocess.TimeoutExpired:
            fail("no exit 20 s after SIGTERM")
        if rc != 0:
            fail(f"exit after SIGTERM: {describe(rc)}\n{tail(log)}")
        daemon = None
        print("sandbox-check: the daemon works under the unit's system-call filter, W^X, "
              "address families and an unprivileged identity", file=sys.stderr)

        # Control: without epoll the daemon cannot run; it must die of SIGSYS, proving the
        # filter is applied at all.
        crippled = [c for c in allowed if not c.startswith("epoll_")]
        ctl_log = os.path.join(work, "control.log")
        ctl = spawn_sandboxed(work, bin_copy,
                              args[:1] + [f"--web.listen-address=127.0.0.1:{free_port()}"],
                              env, ctl_log, crippled, families, wx_deny, "control")
        try:
            rc = ctl.wait(20)
        except subprocess.TimeoutExpired:
            ctl.kill()
            fail("control run without epoll_* kept running: the filter is not applied")
        if rc != -signal.SIGSYS:
            fail(f"control run without epoll_*: {describe(rc)}, expected death by SIGSYS")
        print("sandbox-check: control run without epoll_* died of SIGSYS (the filter is applied)",
              file=sys.stderr)
    finally:
        for p in (daemon, sim):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def describe(rc):
    if rc is not None and rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit {rc}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--exec":
        exec_filtered(sys.argv[2:])
    else:
        main()
