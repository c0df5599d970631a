#!/usr/bin/env python3
"""Runs the test binaries cargo built, several at a time.

`cargo test` runs its test binaries one after another. Most of rill's time
goes to the real-Kafka binaries (tests/), which spend it waiting on brokers
they start themselves (each binary starts its own cluster on its own ports;
see tests/src/ports.rs), so two of them side by side finish in about the
time of one. This runs the binaries from `cargo test --no-run
--message-format=json` the way cargo would (working directory = the
package's directory), `--jobs` at a time, longest first as far as the
`--first` list says, and never two binaries of the `--exclusive` list at
once (the 3-node Kafka clusters: six brokers on two cores would starve each
other's timeouts).

Each binary's output is printed in one piece when it ends, headed by cargo's
own `Running ...` line, so `test result:` lines and failures read as in a
`cargo test` log. Exit status: 0 if every binary passed, 1 otherwise (the
failed ones are listed last). A binary still running after
`PER_BINARY_TIMEOUT_S` is killed and counts as failed, with what it printed
so far: a hang fails the run in good time instead of holding CI to its limit.

    scripts/test-binaries.py ARTIFACTS.json [--jobs N] [--only a,b]
        [--first a,b] [--exclusive a,b]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# The longest binary (the 3-node cluster's) takes about 4 minutes on 2 cores.
PER_BINARY_TIMEOUT_S = 900


class Binary:
    def __init__(self, artifact, workspace):
        target = artifact["target"]
        self.name = target["name"]
        self.kind = target["kind"][0]
        self.executable = artifact["executable"]
        self.cwd = str(Path(artifact["manifest_path"]).parent)
        # What `cargo test` sets for a running test (tests may read them at
        # run time, e.g. `${env:CARGO_PKG_NAME}` in a config test).
        package_name, package_version = package_name_version(artifact["package_id"], self.cwd)
        self.env = dict(
            os.environ,
            CARGO_MANIFEST_DIR=self.cwd,
            CARGO_MANIFEST_PATH=artifact["manifest_path"],
            CARGO_PKG_NAME=package_name,
            CARGO_PKG_VERSION=package_version,
            CARGO_CRATE_NAME=self.name.replace("-", "_"),
        )
        src = Path(target["src_path"])
        src = src.relative_to(self.cwd) if src.is_relative_to(self.cwd) else src
        exe = Path(self.executable)
        exe = exe.relative_to(workspace) if exe.is_relative_to(workspace) else exe
        prefix = "unittests " if self.kind in ("lib", "bin", "proc-macro") else ""
        self.header = f"     Running {prefix}{src} ({exe})"


def package_name_version(package_id, package_dir):
    """`path+file:///dir#name@1.0.0`, or `path+file:///dir/name#1.0.0` when
    the directory is named after the package."""
    fragment = package_id.rsplit("#", 1)[-1]
    if "@" in fragment:
        name, version = fragment.rsplit("@", 1)
        return name, version
    return Path(package_dir).name, fragment


def load(artifacts_path, workspace):
    binaries = []
    seen = set()
    with open(artifacts_path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line.startswith("{"):
                continue
            artifact = json.loads(line)
            if artifact.get("reason") != "compiler-artifact":
                continue
            if not artifact.get("profile", {}).get("test") or not artifact.get("executable"):
                continue
            if artifact["executable"] in seen:
                continue
            seen.add(artifact["executable"])
            binaries.append(Binary(artifact, workspace))
    return binaries


def names(text):
    return [n for n in (text or "").split(",") if n]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("RILL_TEST_JOBS", "2")))
    parser.add_argument("--only", help="run only these test binaries (names, comma-separated)")
    parser.add_argument("--first", help="start these first, in this order")
    parser.add_argument("--exclusive", help="never run two of these at the same time")
    args = parser.parse_args()

    workspace = Path.cwd()
    binaries = load(args.artifacts, workspace)
    if args.only:
        wanted = names(args.only)
        # Integration tests win over a library or binary of the same name.
        by_name = {b.name: b for b in sorted(binaries, key=lambda b: b.kind == "test")}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            sys.exit(f"test-binaries: no test binary named {', '.join(missing)} in {args.artifacts}")
        binaries = [by_name[n] for n in wanted]
    if not binaries:
        sys.exit(f"test-binaries: no test binaries in {args.artifacts}")

    first = names(args.first)
    order = {name: i for i, name in enumerate(first)}
    # Stable: listed ones first in the given order, the rest as cargo built them.
    queue = sorted(binaries, key=lambda b: order.get(b.name, len(order)))
    exclusive = set(names(args.exclusive))

    lock = threading.Condition()
    running_exclusive = [False]
    failed = []
    started = time.monotonic()

    def take():
        """The next binary this worker may start, or None when all are taken."""
        with lock:
            while queue:
                for i, binary in enumerate(queue):
                    if binary.name in exclusive and running_exclusive[0]:
                        continue
                    del queue[i]
                    if binary.name in exclusive:
                        running_exclusive[0] = True
                    return binary
                lock.wait()
            return None

    def worker():
        while (binary := take()) is not None:
            begun = time.monotonic()
            try:
                result = subprocess.run(
                    [binary.executable], cwd=binary.cwd, env=binary.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=PER_BINARY_TIMEOUT_S
                )
                passed, status, output = result.returncode == 0, f"exited {result.returncode}", result.stdout
            except subprocess.TimeoutExpired as e:
                passed, status, output = False, f"was killed (still running at {PER_BINARY_TIMEOUT_S}s: a hang?)", e.output or b""
            took = time.monotonic() - begun
            with lock:
                if binary.name in exclusive:
                    running_exclusive[0] = False
                at = time.monotonic() - started
                sys.stdout.write(f"{binary.header}\n")
                sys.stdout.write(output.decode("utf-8", errors="replace"))
                sys.stdout.write(f"test-binaries: {binary.name} {status} after {took:.1f}s (at {at:.0f}s)\n\n")
                sys.stdout.flush()
                if not passed:
                    failed.append(binary.header.strip())
                lock.notify_all()

    workers = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    if failed:
        print("test-binaries: these test binaries failed:")
        for header in failed:
            print(f"    {header}")
        return 1
    print(f"test-binaries: all {len(binaries)} test binaries passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
