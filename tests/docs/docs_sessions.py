#!/usr/bin/env python3
"""The documented example sessions, run against fixture hosts, must print what the docs show.

Usage: docs_sessions.py BUILD_DIR [DOC.md ...]   (default: docs/cli.md)

A session is every fenced block that follows a line `<!-- docs-test: NAME -->` (blocks with the
same NAME run in order, against one corepind). In a block:
  - `$ COMMAND` is run with bash in a scratch directory (corepin from BUILD_DIR on PATH, the
    corepind of the session in COREPIN_URL); the lines after it, up to the next `$ `, are its
    expected output (stdout and stderr, in that order);
  - `$ cat FILE` followed by lines writes those lines to FILE instead: the doc's file is the input;
  - `$ corepind ...` is skipped (the session's corepind is this script's); `$?` is the exit
    status of the command before;
  - an expected line `...` (or one that begins with it, `... (the core map)`) matches any number
    of lines; a time in milliseconds (`3.1 ms`) and a
    date and time (`2026-11-26 09:58:16`) match any other.
Each session gets its own corepind (127.0.0.1, a free port, its own --db; fixture hosts keep
their domains next to it). Exit 0 when every output matches, 1 with a diff otherwise.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MARK = re.compile(r"^<!-- docs-test: ([\w.-]+) -->\s*$")


def sessions(doc):
    """{name: [(command, [expected lines], file or None)]} in document order."""
    out = {}
    lines = open(doc).read().splitlines()
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        i += 1
        block = []
        while i < len(lines) and not lines[i].startswith("```"):
            block.append(lines[i])
            i += 1
        steps = out.setdefault(m.group(1), [])
        for line in block:
            if line.startswith("$ "):
                steps.append([line[2:], [], None])
            elif steps:
                steps[-1][1].append(line)
        for step in steps:
            cat = re.fullmatch(r"cat (\S+)", step[0])
            if cat:
                step[2] = cat.group(1)
    return out


def normalize(line):
    line = re.sub(r"\b\d+(\.\d+)? ms\b", "N ms", line.rstrip())
    return re.sub(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b", "DATE TIME", line)


def matches(expected, actual):
    """True when `actual` lines match `expected`, where a line "..." matches any run of lines."""
    exp = [normalize(l) for l in expected]
    act = [normalize(l) for l in actual]
    while exp and exp[-1] == "":
        exp.pop()
    while act and act[-1] == "":
        act.pop()

    def walk(e, a):
        if e == len(exp):
            return a == len(act)
        if exp[e].strip().startswith("..."):  # "..." or "  ... (the core map, as in host show)"
            return any(walk(e + 1, k) for k in range(a, len(act) + 1))
        return a < len(act) and exp[e] == act[a] and walk(e + 1, a + 1)

    return walk(0, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_corepind(build, work):
    port = free_port()
    # Fixture hosts keep their domains next to the --db file by default: a fresh session sees none.
    env = {k: v for k, v in os.environ.items() if k != "COREPIN_FIXTURE_STATE_DIR"}
    log = open(os.path.join(work, "corepind.log"), "w")
    corepind = os.path.join(build, "src/daemon/corepind")
    args = [corepind, "--db", os.path.join(work, "state/corepin.db"), "--listen", "127.0.0.1:%d" % port,
            "--probe-interval-ms", "0", "--reconcile-interval", "0"]
    # The sessions use simulated hosts (fixture:, test:///), which a corepind that can refuse
    # them takes only when told.
    if "--allow-simulated-hosts" in subprocess.run([corepind, "--help"], capture_output=True, text=True).stdout:
        args.append("--allow-simulated-hosts")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = "http://127.0.0.1:%d" % port
    for _ in range(200):  # until it answers (a few seconds at most), or it died
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(url + "/v1/hosts", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("corepind did not start; its log: " + open(log.name).read())


def run(name, steps, build, src):
    work = tempfile.mkdtemp(prefix="corepin-docs-%s-" % name)
    proc, url = start_corepind(build, work)
    env = dict(os.environ, COREPIN_URL=url, PATH=os.path.join(build, "src/cli") + ":" + os.environ["PATH"])
    failed, status = 0, 0
    try:
        os.symlink(os.path.join(src, "examples"), os.path.join(work, "examples"))
        for command, expected, file in steps:
            if file:  # the doc shows the file: it is the input
                with open(os.path.join(work, file), "w") as f:
                    f.write("\n".join(expected).rstrip("\n") + "\n")
                continue
            if command.startswith("corepind "):  # the session's corepind is this script's
                continue
            # $? is the previous command's exit status, as in the shell the docs show.
            r = subprocess.run(["bash", "-c", "(exit %d); %s" % (status, command)], cwd=work, env=env, capture_output=True,
                               text=True, timeout=120)
            status = r.returncode
            actual = (r.stdout + r.stderr).splitlines()
            if not matches(expected, actual):
                failed += 1
                print("docs session %s: `%s` printed:\n%s\n--- the docs show:\n%s\n" %
                      (name, command, "\n".join(actual), "\n".join(expected)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("docs session %s: work directory and corepind log kept in %s" % (name, work))
    return failed


def main():
    build = os.path.abspath(sys.argv[1])
    src = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
    docs = sys.argv[2:] or [os.path.join(src, "docs/cli.md")]
    failed, total = 0, 0
    for doc in docs:
        for name, steps in sessions(doc).items():
            total += sum(1 for s in steps if not s[2])
            failed += run(name, steps, build, src)
    if total == 0:
        sys.exit("no documented session (<!-- docs-test: NAME -->) found in " + ", ".join(docs))
    print("%d of %d documented commands print what the docs show" % (total - failed, total))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
