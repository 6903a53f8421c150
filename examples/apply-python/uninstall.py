#!/usr/bin/env python3
"""Uninstalls the service install.sh installed — stops and disables it,
removes its unit file and config directory, removes its account — all or
nothing, through `unwind apply --json`, and reports what happened from the
JSON outcome. Exits with unwind's code: 0 removed, 1 a step failed and
everything is back as it was, 2 the rollback failed (run `unwind recover`),
3 another run holds the lock, 4 the transaction was refused as invalid,
5 an unfinished transaction must be recovered first.

Usage: uninstall.py NAME
Environment: the same as install.sh (JOURNAL_ROOT, CONFIG_DIR, USERS_PREFIX,
MANAGER, UNWIND).
"""
import json
import os
import re
import subprocess
import sys


def manager_args():
    """The systemd kinds' manager arguments, from MANAGER ("system" or "user HOME RUNTIME_DIR")."""
    words = os.environ.get("MANAGER", "system").split()
    if words[0] == "user":
        home, runtime_dir = words[1], words[2]
        return {"scope": "user", "home": home, "runtimeDir": runtime_dir, "unitDir": f"{home}/.config/systemd/user"}
    return {"scope": "system"}


def transaction(name):
    """The uninstall as data: the same kinds and arguments as the TypeScript API."""
    manager = manager_args()
    unit = f"{name}.service"
    unit_dir = manager.get("unitDir", "/etc/systemd/system")
    users = {"prefix": os.environ["USERS_PREFIX"]} if os.environ.get("USERS_PREFIX") else {}
    return {
        "name": f"uninstall {name}",
        "steps": [
            {"kind": "systemd.stop", "args": {**manager, "unit": unit}},
            {"kind": "systemd.disable", "args": {**manager, "unit": unit}},
            # allowCopy: on overlayfs (containers) a file reports another device than its
            # directory, so staging by rename is refused; these files are small, copy them.
            {"kind": "files.remove", "args": {"paths": [f"{unit_dir}/{unit}", os.environ.get("CONFIG_DIR", f"/etc/{name}")], "allowCopy": True}},
            {"kind": "systemd.daemonReload", "args": manager},
            {"kind": "users.removeUser", "args": {"name": name, "removeHome": False, **users}},
        ],
    }


def main(argv):
    if len(argv) != 2 or not re.fullmatch(r"[a-z_][a-z0-9_-]*", argv[1]):
        print("usage: uninstall.py NAME", file=sys.stderr)
        return 4
    name = argv[1]
    root = os.environ.get("JOURNAL_ROOT", f"/var/lib/{name}-installer")
    unwind = os.environ.get("UNWIND", "unwind")
    # An argv list, never a shell string; the transaction goes in on standard input.
    run = subprocess.run(
        [unwind, "apply", "--json", "--root", root, "-"],
        input=json.dumps(transaction(name)),
        capture_output=True,
        text=True,
    )
    try:
        result = json.loads(run.stdout)
    except json.JSONDecodeError:
        # No JSON: unwind could not start (bad root, missing command). Its stderr says why.
        sys.stderr.write(run.stderr)
        return run.returncode or 4
    if "problems" in result:
        for problem in result["problems"]:
            print(f"invalid: {problem['pointer']}: {problem['message']}", file=sys.stderr)
        return result["exitCode"]
    outcome = result["outcome"]
    for step in outcome["steps"]:
        print(f"{step['status']:>12}  {step['description']}")
    status = outcome["status"]
    if status == "committed":
        print(f"{name} is uninstalled.")
    elif status == "rolled-back":
        print(f"uninstall failed: {outcome['cause']['message']}; everything is back as it was.", file=sys.stderr)
    elif status == "rollback-failed":
        print(f"uninstall failed and so did its rollback; run: {outcome['resume']}", file=sys.stderr)
    else:
        print(f"uninstall refused, nothing was touched: {outcome['cause']['message']}", file=sys.stderr)
    return result["exitCode"]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
