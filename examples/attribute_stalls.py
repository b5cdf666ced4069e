#!/usr/bin/env python3
"""Attributes pagerd's slow deliveries in am_compare's open-loop phase.

Runs `am_compare --rounds 0` with the store's batch trace while `perf sched record`
(kernel scheduler events, written to tmpfs so the recording's own writes do not reach the
disk under test) watches the machine, then, for each of pagerd's deliveries over the
threshold, reports what the writer, the disk and the CPUs were doing:

- slow commit: a write batch whose COMMIT (the WAL's fdatasync) took 10 ms or more;
- slow batch: a write batch whose statements took 10 ms or more (pagerd's own work);
- lock wait: a batch's BEGIN waited 5 ms or more for the write lock (a WAL restart holds it);
- waited for a CPU: a pagerd thread runnable 4 ms or more before it ran, and what the CPUs
  did meanwhile (idle CPUs while a thread waits mean the host did not run this machine);
- long slices: a task on a CPU for 8 ms or more without a switch, labelled pagerd's or the
  loader's (a guest task that long is usually the host holding the vCPU, which the guest
  counts as the task's run time);
- the gaps between batches: 5 ms or more with no job at the writer (requests not reaching it);
- otherwise: not attributed.

Usage (as root, from the checkout, after `cargo build --release --bins --examples`):
    python3 examples/attribute_stalls.py [--runs N] [--threshold MS] [--keep DIR] [--keep-perf]

Each run's perf recording (~300 MB in /dev/shm) is removed after its report unless
--keep-perf; then `perf sched timehist -i FILE --time A,B` (monotonic seconds: wall clock
minus the printed offset) shows the scheduler around a stall.
"""

import argparse
import collections
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

BATCH = re.compile(r"write batch jobs=(\d+) exec_us=(\d+) commit_us=(\d+)(?: lock_us=(\d+))?")
RESTART = re.compile(r"WAL restart us=(\d+)")
CHECKPOINT = re.compile(r"checkpoint log=\d+ copied=\d+ us=(\d+)")
STALL = re.compile(r"\+([0-9.]+) s ([0-9.]+) ms \(probe ([0-9.]+)\)")
TASK = re.compile(r"^(.*)\[(\d+)(?:/(\d+))?\]$")


def log_time(line):
    stamp = datetime.datetime.strptime(line[:27], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def run_once(out_dir, n):
    """One traced open-loop run; returns (am_compare output, log path, perf data, offset)."""
    perf_data = f"/dev/shm/pagerd-stalls-{os.getpid()}-{n}.data"
    log = os.path.join(out_dir, f"run{n}.log")
    # perf's `-k mono` stamps are CLOCK_MONOTONIC; the log and am_compare use the wall clock.
    offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
    perf = subprocess.Popen(
        ["perf", "sched", "record", "-k", "mono", "-a", "-o", perf_data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    out = subprocess.run(
        [
            "target/release/examples/am_compare",
            "--pagerd",
            "target/release/pagerd",
            "--rounds",
            "0",
            "--log-filter",
            "pagerd::store=trace",
            "--keep-log",
            log,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    perf.send_signal(2)
    perf.wait()
    with open(os.path.join(out_dir, f"run{n}.out"), "w") as f:
        f.write(out)
    return out, log, perf_data, offset


def sched_slices(perf_data, start, end):
    """(end time, cpu, task name, pid, wait ms, scheduling delay ms, run ms) per slice."""
    text = subprocess.run(
        ["perf", "sched", "timehist", "-i", perf_data, "--time", f"{start:.6f},{end:.6f}"],
        capture_output=True,
        text=True,
    ).stdout
    slices = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or not re.match(r"^\d+\.\d+$", f[0]):
            continue
        m = TASK.match(" ".join(f[2:-3]))
        name, pid = (m.group(1), m.group(3) or m.group(2)) if m else (f[2], "")
        wait, delay, run = map(float, f[-3:])
        slices.append((float(f[0]), int(f[1].strip("[]")), name, pid, wait, delay, run))
    return slices


def process_ids(perf_data):
    """pagerd's pid and the loader's, from the whole recording (a stall's window may hold no
    thread with a telling name). pagerd's is its checkpoint thread's; the loader's the pid
    most seen as `am_compare` (the children it forks carry that name until they exec)."""
    text = subprocess.run(
        ["perf", "script", "-i", perf_data, "--comms", "pagerd-checkpoi,am_compare",
         "-F", "comm,pid"],
        capture_output=True,
        text=True,
    ).stdout
    pagerd, seen = set(), collections.Counter()
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2:
            if f[0] == "am_compare":
                seen[f[1]] += 1
            else:
                pagerd.add(f[1])
    return pagerd, {pid for pid, _ in seen.most_common(1)}


def attribute(out, log, perf_data, offset, threshold):
    lines = out.splitlines()
    pagerd_stalls = next(l for l in lines[2:] if "one per stall" in l)
    start = float(re.search(r"phase from unix ([0-9.]+)", pagerd_stalls).group(1))
    with open(log) as f:
        trace = [l for l in f if l.startswith("20")]
    batches, checkpoints, restarts = [], [], []
    for l in trace:
        if m := BATCH.search(l):
            batches.append(
                (log_time(l), int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0))
            )
        elif m := CHECKPOINT.search(l):
            checkpoints.append((log_time(l), int(m.group(1))))
        elif m := RESTART.search(l):
            restarts.append((log_time(l), int(m.group(1))))
    pids, loader = process_ids(perf_data)
    report = []
    for at, ms, probe in ((float(a), float(m), float(p)) for a, m, p in STALL.findall(pagerd_stalls)):
        if ms < threshold:
            continue
        a, b = start + at, start + at + ms / 1e3
        found = []
        for t, jobs, ex, cm, lock in batches:
            began = t - (ex + cm) / 1e6
            if began - lock / 1e6 < b and began > a and lock >= 5_000:
                found.append(f"the writer waited {lock / 1e3:.1f} ms for the write lock")
            if began < b and t > a - 0.005:
                if cm >= 10_000:
                    found.append(f"slow commit {cm / 1e3:.1f} ms (batch of {jobs})")
                if ex >= 10_000:
                    found.append(f"slow batch {ex / 1e3:.1f} ms of statements ({jobs} jobs)")
        for t, us in checkpoints:
            if t - us / 1e6 < b and t > a:
                found.append(f"a checkpoint of {us / 1e3:.1f} ms overlapped")
        for t, us in restarts:
            if t - us / 1e6 < b and t > a:
                found.append(f"a WAL restart of {us / 1e3:.1f} ms overlapped")
        # Gaps between one batch's end and the next one's start (its lock wait included).
        for (end, *_), (t, _, ex, cm, lock) in zip(batches, batches[1:]):
            start_next = t - (ex + cm + lock) / 1e6
            if start_next - end >= 0.005 and end < b and start_next > a:
                found.append(f"the writer had no job for {(start_next - end) * 1e3:.1f} ms")
        slices = sched_slices(perf_data, a - offset - 0.01, b - offset)
        idle_ms = sum(s[6] for s in slices if s[2] == "<idle>")
        waits = [s for s in slices if s[3] in pids and s[5] >= 4]
        if waits:
            worst = max(waits, key=lambda s: s[5])
            found.append(
                f"a pagerd thread waited {worst[5]:.1f} ms for a CPU "
                f"(CPUs idle {idle_ms:.1f} ms of the window meanwhile)"
            )
        long_runs = [s for s in slices if s[6] >= 8 and s[2] != "<idle>"]
        for s in long_runs:
            who = "pagerd's " if s[3] in pids else "the loader's " if s[3] in loader else ""
            found.append(f"{who}{s[2]}[{s[3]}] held cpu{s[1]} for {s[6]:.1f} ms")
        if probe >= 5:
            found.append(f"the loader's 1 ms sleeper woke {probe:.1f} ms late")
        report.append(f"  +{at:.3f} s {ms:.1f} ms: " + ("; ".join(found) or "not attributed"))
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--threshold", type=float, default=15.0, help="ms")
    p.add_argument("--keep", help="directory for each run's output and log")
    p.add_argument(
        "--keep-perf", action="store_true", help="leave each run's perf data in /dev/shm"
    )
    args = p.parse_args()
    out_dir = args.keep or tempfile.mkdtemp(prefix="pagerd-stalls-")
    os.makedirs(out_dir, exist_ok=True)
    for n in range(1, args.runs + 1):
        out, log, perf_data, offset = run_once(out_dir, n)
        try:
            lines = out.splitlines()
            print(f"run {n}")
            print("\n".join(lines[1:5]))
            print("\n".join(attribute(out, log, perf_data, offset, args.threshold)))
        finally:
            if args.keep_perf:
                print(f"  perf data: {perf_data} (offset {offset:.6f})")
            else:
                os.remove(perf_data)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
