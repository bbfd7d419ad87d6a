"""Run a command as an ordinary user on a "machine" whose kernel refuses user namespaces until
`sudo sysctl -w user.max_user_namespaces=N` allows them, without touching the real machine.

    python tests/ci_sandbox.py --user NAME [--max-user-namespaces N] -- COMMAND ARGS...

Run as root. It forks; the child enters a new user namespace in which the parent maps every
user and group id to itself (so files keep their owners, and setuid-root programs such as sudo
work as they do outside), then, as that namespace's root, sets `user.max_user_namespaces` (a
per-namespace limit: 0, the default, makes the kernel refuse every user namespace below it),
becomes NAME (its groups too) and execs COMMAND. Inside, NAME's `sudo sysctl -w
user.max_user_namespaces=15000` raises the limit of this namespace only: the machine's own
setting is left as it was. The exit status is COMMAND's.

tests/userns_sandbox.py maps only root and one user, which is enough for the suite but not for
sudo (it switches to other ids while reading its sudoers); tests/test_ci_kit_jobs.py uses this one.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import sys

CLONE_NEWUSER = 0x10000000
EVERY_ID = "0 0 4294967295\n"


def _child(user: pwd.struct_passwd, limit: int, command: list[str], ready: int, go: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
        os.write(ready, b"u")
        if os.read(go, 1) != b"m":
            raise SystemExit("ci_sandbox: the parent could not map the namespace")
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write(str(limit))
        os.initgroups(user.pw_name, user.pw_gid)
        os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
        os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
        os.execvp(command[0], command)
    except BaseException as e:  # never return into the parent's code
        print(f"ci_sandbox: {e}", file=sys.stderr)
        os._exit(126)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ci_sandbox")
    parser.add_argument("--user", required=True)
    parser.add_argument("--max-user-namespaces", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if os.geteuid() != 0:
        parser.error("run as root (it maps every id into the namespace)")
    user = pwd.getpwnam(args.user)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _child(user, args.max_user_namespaces, command, ready_w, go_r)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"u":
            os.waitpid(pid, 0)
            print("ci_sandbox: the child could not enter a user namespace", file=sys.stderr)
            return 126
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(EVERY_ID)
        os.write(go_w, b"m")
    finally:
        os.close(go_w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
