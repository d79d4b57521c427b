#!/usr/bin/env python3
"""fwdwatch daemon benchmark driver (standard library only; libsystemd through ctypes).

Run by scripts/bench/daemon.sh; every subcommand except `summarize` and `journald-answers` runs
INSIDE the benchmark's network namespace (`ip netns exec NS python3 bench.py ...`), so
/proc/sys/net and the rtnetlink socket are the namespace's.

  latency   flip net.ipv4.conf.<uplink>.forwarding and time write-returned -> alert seen
            (JSON line on the daemon's stdout, or the entry queryable in the journal), next to the
            floor: the RTM_NEWNETCONF message on our own rtnetlink socket, on the same flips.
  churn     create N veth pairs on bridges and delete them in one burst while the daemon runs.
  idle      leave the daemon alone; count context switches, CPU and RSS.
  summarize merge the parts into one JSON file and print a table.

Every phase writes one JSON object (its figures) to --part.
"""

import argparse
import ctypes
import json
import math
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------------------------
# Small helpers


def now():
    """Monotonic seconds (CLOCK_MONOTONIC)."""
    return time.monotonic()


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def stats_ms(seconds):
    """Median, p90, p99, max and mean of durations given in seconds, in milliseconds."""
    if not seconds:
        return None
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(percentile(ms, 50), 4),
        "p90_ms": round(percentile(ms, 90), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "max_ms": round(max(ms), 4),
        "mean_ms": round(sum(ms) / len(ms), 4),
    }


def write_part(path, document):
    with open(path, "w") as f:
        json.dump(document, f, indent=2, sort_keys=True)
        f.write("\n")


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid):
    """utime + stime per live thread, keyed by 'tid comm'."""
    threads = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return threads
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        threads[f"{tid} {comm}"] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return threads


def status_fields(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                values[name] = value.strip()
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def context_switches(pid):
    """Per-thread (voluntary + nonvoluntary) context switches, keyed by 'tid comm'."""
    threads = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return threads
    for tid in tids:
        fields = status_fields(f"/proc/{pid}/task/{tid}/status")
        if not fields:
            continue
        count = int(fields.get("voluntary_ctxt_switches", 0)) + int(fields.get("nonvoluntary_ctxt_switches", 0))
        threads[f"{tid} {fields.get('Name', '?')}"] = count
    return threads


def rss_kib(pid):
    value = status_fields(f"/proc/{pid}/status").get("VmRSS", "0 kB")
    return int(value.split()[0])


def memory_kib(pid):
    """VmRSS and its parts (anonymous, file-backed, shmem), VmHWM, in KiB."""
    fields = status_fields(f"/proc/{pid}/status")
    return {name: int(fields.get(name, "0 kB").split()[0])
            for name in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")}


def memory_detail(pid, top=10):
    """PSS from smaps_rollup and the largest resident mappings by file (KiB): where the RSS lives."""
    detail = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("Pss", "Pss_Anon", "Pss_File", "Private_Dirty"):
                    detail[name] = int(value.split()[0])
        by_file = {}
        current = None
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                    current = os.path.basename(head[5]) if len(head) > 5 else "[anon]"
                elif head and head[0] == "Rss:":
                    by_file[current] = by_file.get(current, 0) + int(head[1])
        detail["largest_rss"] = dict(sorted(by_file.items(), key=lambda item: -item[1])[:top])
    except OSError:
        pass
    return detail


class SwitchCounter:
    """Context switches of all threads of a process over a window, including threads that start or
    exit during it (a thread pool's workers come and go): sample often, keep each thread's first and
    last count; a thread first seen after the start counts from 0."""

    def __init__(self, pid):
        self.pid = pid
        self.first = context_switches(pid)
        self.last = dict(self.first)
        self.born = 0

    def sample(self):
        for key, count in context_switches(self.pid).items():
            if key not in self.first:
                self.first[key] = 0
                self.born += 1
            self.last[key] = count

    def deltas(self):
        return {key: self.last[key] - self.first[key] for key in self.last if self.last[key] != self.first[key]}


# ---------------------------------------------------------------------------------------------
# The daemon under test


class NotifySocket:
    """A NOTIFY_SOCKET of our own: counts READY/STATUS/WATCHDOG datagrams the daemon sends.

    A thread drains it at once, like PID 1 would: the queue holds only net.unix.max_dgram_qlen (10)
    datagrams and the daemon's sd_notify() blocks when it is full (a STATUS= goes out every evaluation)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.lock = threading.Lock()
        self.ready = 0
        self.status = 0
        self.watchdog = 0
        self.other = 0
        self.last_status = ""
        self.thread = threading.Thread(target=self._drain_forever, name="notify", daemon=True)
        self.thread.start()

    def _drain_forever(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                continue
            with self.lock:
                for line in data.decode(errors="replace").split("\n"):
                    if line == "READY=1":
                        self.ready += 1
                    elif line.startswith("STATUS="):
                        self.status += 1
                        self.last_status = line[7:]
                    elif line == "WATCHDOG=1":
                        self.watchdog += 1
                    elif line:
                        self.other += 1

    def counts(self):
        with self.lock:
            return {"ready": self.ready, "status": self.status, "watchdog": self.watchdog, "other": self.other}

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Daemon:
    """`fwdwatch run` as a child process. JSON lines are read from its stdout without a thread."""

    def __init__(self, binary, target, config, workdir, watchdog_usec=None, extra_args=()):
        self.notify = NotifySocket(workdir)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify.path
        env.pop("WATCHDOG_PID", None)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        else:
            env.pop("WATCHDOG_USEC", None)
        self.stderr_path = os.path.join(workdir, f"daemon-{target}-{int(time.time() * 1000)}.stderr")
        self.stderr_file = open(self.stderr_path, "w")
        self.process = subprocess.Popen(
            [binary, "run", "--log-target", target, "--config", config, *extra_args],
            stdout=subprocess.PIPE, stderr=self.stderr_file, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.process.pid
        self.stdout_fd = self.process.stdout.fileno()
        os.set_blocking(self.stdout_fd, False)
        self.buffer = b""
        self.lines = []  # (monotonic seconds when read, parsed object or {"unparsed": text})
        self.eof = False

    def read_available(self):
        """Reads what stdout has; returns the new lines as (seen_at, object)."""
        fresh = []
        while True:
            try:
                chunk = os.read(self.stdout_fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            seen = now()
            self.buffer += chunk
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                try:
                    record = json.loads(line)
                except ValueError:
                    record = {"unparsed": line.decode(errors="replace")}
                fresh.append((seen, record))
        self.lines.extend(fresh)
        return fresh

    def wait_ready(self, timeout=60.0):
        deadline = now() + timeout
        while now() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.stderr_text()}")
            select.select([self.stdout_fd], [], [], 0.02)
            self.read_available()
            if self.notify.counts()["ready"]:
                return True
        raise RuntimeError(f"daemon sent no READY=1 within {timeout} s: {self.stderr_text()}")

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout`; returns (exit status, seconds to exit)."""
        if self.process.poll() is not None:
            return self.process.returncode, 0.0
        start = now()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        elapsed = now() - start
        self.read_available()
        self.notify.close()
        self.stderr_file.close()
        return self.process.returncode, elapsed

    def stderr_text(self):
        if not self.stderr_file.closed:
            self.stderr_file.flush()
        with open(self.stderr_path) as f:
            return f.read()[-2000:]

    def alerts(self):
        return [record for _, record in self.lines if record.get("type") == "alert"]

    def notices(self):
        return [record for _, record in self.lines if record.get("type") == "notice"]

    def active_keys(self):
        """rule+subject of every alert raised (or changed) and not resolved since."""
        active = set()
        for record in self.alerts():
            key = f"{record.get('rule')} {record.get('subject')}"
            if record.get("state") == "resolved":
                active.discard(key)
            else:
                active.add(key)
        return active


# ---------------------------------------------------------------------------------------------
# rtnetlink: the floor (RTNLGRP_IPV4_NETCONF)

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
RTNLGRP_IPV4_NETCONF = 24
RTM_NEWNETCONF = 80
NETCONFA_IFINDEX = 1
NETCONFA_FORWARDING = 2


class NetconfListener:
    """Our own rtnetlink socket subscribed to IPv4 netconf changes: the kernel's floor."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_IPV4_NETCONF)
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def read_available(self):
        """(seen_at, ifindex, forwarding) for every RTM_NEWNETCONF queued."""
        events = []
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                return events
            seen = now()
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    break
                if kind == RTM_NEWNETCONF:
                    ifindex, forwarding = None, None
                    attr = offset + 16 + 4  # nlmsghdr + netconfmsg (family + padding)
                    end = offset + length
                    while attr + 4 <= end:
                        alen, atype = struct.unpack_from("=HH", data, attr)
                        if alen < 4:
                            break
                        if atype == NETCONFA_IFINDEX:
                            ifindex = struct.unpack_from("=i", data, attr + 4)[0]
                        elif atype == NETCONFA_FORWARDING:
                            forwarding = struct.unpack_from("=i", data, attr + 4)[0]
                        attr += (alen + 3) & ~3
                    events.append((seen, ifindex, forwarding))
                offset += (length + 3) & ~3

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# The journal, queried through libsystemd (no sd_journal_wait: it is woken by a 250-500 ms timer)


class JournalQuery:
    """Entries of one PID, read by repeated queries (not a follower: sd_journal_wait is woken late).

    reseek=True (default) re-seeks to the cursor of the last entry seen before every query, like
    `journalctl --after-cursor` polling. reseek=False keeps one reader at the tail calling
    sd_journal_next(): with systemd 252 that reader was seen missing a freshly stored entry for
    seconds, until the next entry arrived (measured: 11 of 300 flips; journald had stored them in < 5 ms)."""

    def __init__(self, pid, reseek=True):
        self.lib = ctypes.CDLL("libsystemd.so.0")
        self.lib.sd_journal_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        for name in ("sd_journal_next", "sd_journal_seek_tail", "sd_journal_seek_head", "sd_journal_previous",
                     "sd_journal_process"):
            getattr(self.lib, name).argtypes = [ctypes.c_void_p]
        self.lib.sd_journal_add_match.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.lib.sd_journal_get_data.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
        self.lib.sd_journal_close.argtypes = [ctypes.c_void_p]
        self.lib.sd_journal_get_cursor.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)]
        self.lib.sd_journal_seek_cursor.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.lib.sd_journal_test_cursor.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.libc = ctypes.CDLL(None)
        self.libc.free.argtypes = [ctypes.c_void_p]
        self.lib.sd_journal_get_monotonic_usec.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_char_p]
        self.handle = ctypes.c_void_p()
        result = self.lib.sd_journal_open(ctypes.byref(self.handle), 1)  # SD_JOURNAL_LOCAL_ONLY
        if result < 0:
            raise OSError(-result, "sd_journal_open")
        match = f"_PID={pid}".encode()
        self.lib.sd_journal_add_match(self.handle, match, len(match))
        self.lib.sd_journal_seek_tail(self.handle)
        self.lib.sd_journal_previous(self.handle)  # the last existing entry: next() yields only newer ones
        self.processes = 0
        self.reseek = reseek
        self.cursor = self.current_cursor()

    def current_cursor(self):
        pointer = ctypes.c_char_p()
        if self.lib.sd_journal_get_cursor(self.handle, ctypes.byref(pointer)) < 0:
            return None
        value = pointer.value
        self.libc.free(ctypes.cast(pointer, ctypes.c_void_p))
        return value

    def reposition(self):
        """Seeks to the last entry seen (or the head when there was none)."""
        if self.cursor is None:
            self.lib.sd_journal_seek_head(self.handle)
            return
        self.lib.sd_journal_seek_cursor(self.handle, self.cursor)
        if self.lib.sd_journal_next(self.handle) > 0 and self.lib.sd_journal_test_cursor(self.handle, self.cursor) <= 0:
            # The cursor's entry is gone (rotation/vacuum): step back so next() yields this one.
            self.lib.sd_journal_previous(self.handle)

    def field(self, name):
        data = ctypes.c_void_p()
        size = ctypes.c_size_t()
        if self.lib.sd_journal_get_data(self.handle, name.encode(), ctypes.byref(data), ctypes.byref(size)) < 0:
            return None
        raw = ctypes.string_at(data, size.value).decode(errors="replace")
        return raw.partition("=")[2]

    def monotonic(self):
        """The entry's __MONOTONIC_TIMESTAMP (when journald received it), in CLOCK_MONOTONIC seconds."""
        usec = ctypes.c_uint64()
        boot_id = ctypes.create_string_buffer(16)
        if self.lib.sd_journal_get_monotonic_usec(self.handle, ctypes.byref(usec), boot_id) < 0:
            return None
        return usec.value / 1e6

    def read_available(self, fields=("FWDWATCH_RULE", "FWDWATCH_STATE", "FWDWATCH_SUBJECT", "MESSAGE_ID")):
        """New entries as (seen_at, {field: value, "received": journald's monotonic time}). Calls
        sd_journal_process() when nothing is new, so files journald opened since (rotation) are picked up."""
        entries = []
        for attempt in (0, 1):
            if self.reseek:
                self.reposition()
            while self.lib.sd_journal_next(self.handle) > 0:
                seen = now()
                entry = {name: self.field(name) for name in fields}
                entry["received"] = self.monotonic()
                entries.append((seen, entry))
                self.cursor = self.current_cursor()
            if entries or attempt == 1:
                break
            self.lib.sd_journal_process(self.handle)
            self.processes += 1
        return entries

    def close(self):
        self.lib.sd_journal_close(self.handle)


def journald_answers(path="/run/systemd/journal/socket"):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


# ---------------------------------------------------------------------------------------------
# Phase 1: detection latency


def write_sysctl(path, value):
    """Writes with one write(2); returns the monotonic time the write returned and its duration."""
    fd = os.open(path, os.O_WRONLY)
    try:
        start = now()
        os.write(fd, value)
        returned = now()
    finally:
        os.close(fd)
    return returned, returned - start


def run_latency(args):
    workdir = tempfile.mkdtemp(prefix="fwdwatch-bench-")
    config = os.path.join(workdir, "fwdwatch.toml")
    with open(config, "w") as f:
        f.write("[daemon]\nflap-hold-seconds = 0\n")
        if args.coalesce_ms is not None:
            f.write(f"coalesce-milliseconds = {args.coalesce_ms}\n")
    uplink = args.uplink
    sysctl = f"/proc/sys/net/ipv4/conf/{uplink}/forwarding"
    with open(f"/sys/class/net/{uplink}/ifindex") as f:
        ifindex = int(f.read())
    write_sysctl(sysctl, b"1")

    listener = NetconfListener()
    daemon = Daemon(args.binary, args.target, config, workdir)
    journal = None
    result = {"target": args.target, "flips_requested": args.flips, "gap_ms": args.gap_ms,
              "journal_reader": args.journal_reader if args.target == "journal" else None,
              "coalesce_ms": args.coalesce_ms if args.coalesce_ms is not None else "default (20)",
              "uplink": uplink}
    try:
        daemon.wait_ready()
        ready_at = now()
        flips_raw = []
        if args.target == "journal":
            journal = JournalQuery(daemon.pid, reseek=args.journal_reader == "reseek")
        # The topology was built just before: the bridge's carrier event comes ~1 s later (linkwatch is
        # rate-limited to 1/s) and would open a coalescing window under an early flip.
        time.sleep(args.settle)
        daemon.read_available()
        listener.read_available()
        if journal:
            journal.read_available()

        floor, alert, write_time, missed = [], [], [], []
        journal_seen = []  # per entry the query returned: flip, state, ms from journald's receipt, ms from write
        received = []  # journald's own receive time (__MONOTONIC_TIMESTAMP) - write returned
        value = 1
        for flip in range(args.flips):
            value = 1 - value
            expected_state = "raised" if value == 0 else "resolved"
            # Leave the coalescing window (20 ms by default) behind us: this measures a lone change.
            time.sleep((args.gap_ms + random.uniform(0, args.gap_jitter_ms)) / 1000.0)
            written, took = write_sysctl(sysctl, b"%d" % value)
            write_time.append(took)
            floor_at, alert_at = None, None
            deadline = written + args.timeout
            while (floor_at is None or alert_at is None) and now() < deadline:
                if args.target == "json":
                    wanted = [listener, daemon.stdout_fd]
                    select.select(wanted, [], [], max(0.0, deadline - now()))
                else:
                    # Busy-ish polling: check the journal, then sleep at most `poll_us`.
                    select.select([listener], [], [], args.poll_us / 1e6)
                for seen, index, forwarding in listener.read_available():
                    if floor_at is None and index == ifindex and forwarding == value:
                        floor_at = seen
                if args.target == "json":
                    for seen, record in daemon.read_available():
                        if (alert_at is None and record.get("type") == "alert"
                                and record.get("rule") == "interface-forwarding-disabled"
                                and record.get("subject") == uplink and record.get("state") == expected_state):
                            alert_at = seen
                    if daemon.eof:
                        break
                else:
                    for seen, entry in journal.read_available():
                        journal_seen.append((flip, entry.get("FWDWATCH_STATE"),
                                             round((seen - entry["received"]) * 1000, 3) if entry.get("received") else None,
                                             round((seen - written) * 1000, 3)))
                        if (alert_at is None and entry.get("FWDWATCH_RULE") == "interface-forwarding-disabled"
                                and entry.get("FWDWATCH_SUBJECT") == uplink
                                and entry.get("FWDWATCH_STATE") == expected_state):
                            alert_at = seen
                            if entry.get("received") is not None:
                                received.append(entry["received"] - written)
            flips_raw.append([round(written - ready_at, 4),
                              round((alert_at - written) * 1000, 4) if alert_at is not None else None,
                              round((floor_at - written) * 1000, 4) if floor_at is not None else None])
            if floor_at is not None:
                floor.append(floor_at - written)
            if alert_at is not None:
                alert.append(alert_at - written)
            else:
                missed.append({"flip": flip, "value": value, "state": expected_state})
                if not daemon.alive():
                    break
        result.update({
            "flips_done": len(write_time),
            "alert": stats_ms(alert),
            "floor": stats_ms(floor),
            "write": stats_ms(write_time),
            "missed": missed,
            "daemon_alive": daemon.alive(),
            "journal_process_calls": journal.processes if journal else None,
            "journald_received": stats_ms(received) if journal else None,
        })
        if journal:
            # Cross-check: what journalctl finds afterwards for the daemon's PID, against what the query saw.
            time.sleep(0.5)
            for _, entry in journal.read_available():
                journal_seen.append(("after", entry.get("FWDWATCH_STATE"), None, None))
            listed = subprocess.run(["journalctl", "-o", "json", f"_PID={daemon.pid}"], capture_output=True,
                                    text=True).stdout.splitlines()
            states = [json.loads(line).get("FWDWATCH_STATE") for line in listed if line.startswith("{")]
            result["journal_cross_check"] = {
                "journalctl_alert_entries": sum(1 for x in states if x in ("raised", "resolved")),
                "query_alert_entries": sum(1 for x in journal_seen if x[1] in ("raised", "resolved")),
                "seen_after_run": sum(1 for x in journal_seen if x[0] == "after"),
            }
            if missed:
                result["journal_seen_near_misses"] = [x for x in journal_seen if x[0] == "after" or any(
                    abs(x[0] - m["flip"]) <= 1 for m in missed)]
        if alert and floor:
            result["ratio_median"] = round(percentile(alert, 50) / max(percentile(floor, 50), 1e-9), 1)
            result["ratio_p99"] = round(percentile(alert, 99) / max(percentile(floor, 99), 1e-9), 1)
        # Per flip: seconds since READY (the 5 s sweep timer starts there), alert and floor latency (ms).
        result["raw"] = flips_raw
    finally:
        status, seconds = daemon.stop()
        result["exit_status"] = status
        result["stop_seconds"] = round(seconds, 3)
        result["daemon_stderr_tail"] = daemon.stderr_text()[-500:]
        shutil.rmtree(workdir, ignore_errors=True)
        listener.close()
        if journal:
            journal.close()
    write_part(args.part, result)
    log(f"latency {args.target}: alert {result.get('alert')} floor {result.get('floor')}")


# ---------------------------------------------------------------------------------------------
# Phase 2: churn


def run_ip_batch(commands, daemon, namespace=None, timeout=900):
    """Runs `ip -batch` and keeps reading the daemon's stdout meanwhile (a full pipe would block it).
    Returns the batch's wall time."""
    with tempfile.NamedTemporaryFile("w", prefix="fwdwatch-bench-batch-", delete=False) as f:
        f.write("".join(commands))
        path = f.name
    argv = ["ip"] + (["-n", namespace] if namespace else []) + ["-batch", path]
    start = now()
    try:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while process.poll() is None:
            if daemon:
                select.select([daemon.stdout_fd], [], [], 0.05)
                daemon.read_available()
            else:
                time.sleep(0.05)
            if now() - start > timeout:
                process.kill()
        elapsed = now() - start
        errors = process.stderr.read()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {errors[-1000:]}")
        return elapsed
    finally:
        os.unlink(path)


def wait_quiet(daemon, quiet=3.0, cpu_idle=0.05, timeout=600.0):
    """Waits until the daemon wrote no line for `quiet` s and used < `cpu_idle` CPU-s in the last second.
    Returns (seconds waited, time of the last line or None)."""
    start = now()
    last_line = now()
    last_cpu, last_cpu_at = cpu_seconds(daemon.pid), now()
    busy = True
    while now() - start < timeout:
        select.select([daemon.stdout_fd], [], [], 0.1)
        if daemon.read_available():
            last_line = now()
        if not daemon.alive():
            break
        if now() - last_cpu_at >= 1.0:
            cpu = cpu_seconds(daemon.pid)
            busy = cpu - last_cpu >= cpu_idle
            last_cpu, last_cpu_at = cpu, now()
        if not busy and now() - last_line >= quiet:
            break
    return now() - start, last_line


def check_keys(binary):
    completed = subprocess.run([binary, "check", "--json", "--sample", "0", "--config", "/dev/null"],
                               capture_output=True, text=True, timeout=120)
    document = json.loads(completed.stdout)
    return {f"{f.get('rule')} {f.get('subject')}" for f in document.get("findings", [])}


class Profiler:
    """perf record -g on the daemon's PID while a phase runs (only with --perf)."""

    def __init__(self, pid, path):
        self.path = path
        self.process = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", path],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self, report_path):
        """Writes an inclusive (children) profile by symbol, demangled when swift-demangle is on PATH."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)
        report = subprocess.run(
            ["perf", "report", "-i", self.path, "--stdio", "--children", "-g", "none", "--sort", "sym",
             "--percent-limit", "2"], capture_output=True, text=True, timeout=300).stdout
        demangle = subprocess.run(["sh", "-c", "command -v swift-demangle"], capture_output=True, text=True).stdout.strip()
        if demangle:
            report = subprocess.run([demangle, "--simplified"], input=report, capture_output=True, text=True).stdout
        with open(report_path, "w") as out:
            out.write(report)


def host_veths():
    """Names of our churn veths still present in this namespace (/sys is the namespace's)."""
    return [name for name in os.listdir("/sys/class/net") if name.startswith("fwv")]


def run_churn(args):
    workdir = tempfile.mkdtemp(prefix="fwdwatch-bench-")
    bridges = math.ceil(args.veths / args.ports_per_bridge)
    trickle = min(args.veths, max(0, round(args.veths * args.trickle_fraction)))
    result = {"veth_pairs": args.veths, "bridges": bridges, "peer_namespace": args.peer_namespace,
              "trickle_pairs": trickle, "phases": {}}

    # The bridges exist before the daemon starts; the veths come and go while it runs.
    setup = []
    for b in range(bridges):
        setup += [f"link add fwb{b} type bridge\n", f"address add 10.{100 + b}.0.1/16 dev fwb{b}\n",
                  f"link set fwb{b} up\n"]
    run_ip_batch(setup, None)

    daemon = Daemon(args.binary, "json", "/dev/null", workdir, extra_args=args.daemon_args)

    def counters():
        return {"lines": len(daemon.lines), "status": daemon.notify.counts()["status"],
                "cpu": cpu_seconds(daemon.pid), "rss": rss_kib(daemon.pid), "threads": thread_cpu_seconds(daemon.pid)}

    def measure(name, action):
        """Runs `action` (returns its own wall time), waits until the daemon is quiet, records the phase."""
        before = counters()
        profiler = Profiler(daemon.pid, os.path.join(args.perf_dir, f"perf-{name}.data")) if args.perf else None
        started = now()
        action_seconds = action()
        settle, last_line = wait_quiet(daemon)
        after = counters() if daemon.alive() else dict(before, cpu=before["cpu"])
        if profiler:
            profiler.stop(os.path.join(args.perf_dir, f"perf-{name}.txt"))
        window = daemon.lines[before["lines"]:after["lines"]]
        phase = {
            "action_seconds": round(action_seconds, 2),
            "daemon_cpu_seconds": round(after["cpu"] - before["cpu"], 3),
            "evaluations": after["status"] - before["status"],
            "json_lines": after["lines"] - before["lines"],
            "alerts_raised": sum(1 for _, r in window if r.get("state") == "raised"),
            "alerts_resolved": sum(1 for _, r in window if r.get("state") == "resolved"),
            "resync_notices": sum(1 for _, r in window if "Netlink events were lost" in r.get("message", "")),
            "quiet_after_action_seconds": round(settle, 2),
            "last_line_after_start_seconds": round(max(0.0, last_line - started), 2),
            "rss_kib_after": after["rss"],
        }
        # CPU by thread (threads that exited meanwhile are missing): the netlink reader vs the event loop.
        phase["cpu_seconds_by_thread"] = {
            key: round(value - before["threads"].get(key, 0.0), 2)
            for key, value in (after.get("threads") or {}).items() if value - before["threads"].get(key, 0.0) >= 0.05}
        # When the daemon said what, relative to the start of the action (the kernel finished at action_seconds).
        for state in ("raised", "resolved"):
            times = [seen - started for seen, r in daemon.lines[before["lines"]:after["lines"]] if r.get("state") == state]
            if times:
                phase[f"{state}_first_last_seconds"] = [round(min(times), 2), round(max(times), 2)]
        result["phases"][name] = phase
        log(f"churn {name}: action {action_seconds:.1f} s, quiet after {settle:.1f} s more, "
            f"cpu {phase['daemon_cpu_seconds']:.2f} s, {phase['evaluations']} evaluations")

    def create():
        commands, peers_up = [], []
        for i in range(args.veths):
            bridge = i // args.ports_per_bridge
            commands += [f"link add fwv{i} type veth peer name fwp{i} netns {args.peer_namespace}\n",
                         f"link set fwv{i} master fwb{bridge}\n", f"link set fwv{i} up\n"]
            peers_up.append(f"link set fwp{i} up\n")
        return run_ip_batch(commands, daemon) + run_ip_batch(peers_up, daemon, namespace=args.peer_namespace)

    def delete_one_by_one():
        # `ip link del` one after the other: the kernel takes ~20 ms per veth (an RCU grace period each).
        return run_ip_batch([f"link del fwv{i}\n" for i in range(trickle)], daemon)

    def delete_burst():
        # Deleting the peers' namespace unregisters every remaining pair in one batch: a real burst.
        start = now()
        subprocess.run(["ip", "netns", "delete", args.peer_namespace], check=True)
        while host_veths() and now() - start < 600:
            select.select([daemon.stdout_fd], [], [], 0.05)
            daemon.read_available()
        return now() - start

    try:
        daemon.wait_ready()
        wait_quiet(daemon, quiet=2.0)
        result["rss_kib_before"] = rss_kib(daemon.pid)
        log(f"churn: creating {args.veths} veth pairs on {bridges} bridges")
        measure("create", create)
        result["port_alerts_active_after_create"] = len(
            [k for k in daemon.active_keys() if k.startswith("bridge-port")])
        if trickle:
            log(f"churn: deleting {trickle} pairs one by one")
            measure("delete_one_by_one", delete_one_by_one)
        log(f"churn: deleting the other {args.veths - trickle} pairs in one burst (ip netns delete of the peers)")
        measure("delete_burst", delete_burst)

        alive = daemon.alive()
        expected = check_keys(args.binary) if alive else None
        active = daemon.active_keys()
        result.update({
            "survived": alive,
            "resync_notices_total": sum(1 for r in daemon.notices()
                                        if "Netlink events were lost" in r.get("message", "")),
            "error_notices": [r.get("message") for r in daemon.notices()
                              if r.get("priority") in ("err", "error", "3", 3)][:5],
            "active_after": sorted(active),
            "check_after": sorted(expected) if expected is not None else None,
            "converged": expected is not None and active == expected,
            "veths_left": len(host_veths()),
        })
        if expected is not None and active != expected:
            result["only_daemon"] = sorted(active - expected)[:20]
            result["only_check"] = sorted(expected - active)[:20]
    finally:
        status, seconds = daemon.stop()
        result["exit_status"] = status
        result["stop_seconds"] = round(seconds, 3)
        result["daemon_stderr_tail"] = daemon.stderr_text()[-500:]
        shutil.rmtree(workdir, ignore_errors=True)
    write_part(args.part, result)
    log(f"churn: survived={result.get('survived')} converged={result.get('converged')}")


# ---------------------------------------------------------------------------------------------
# Phase 3: idle


def run_idle(args):
    workdir = tempfile.mkdtemp(prefix="fwdwatch-bench-")
    daemon = Daemon(args.binary, "json", "/dev/null", workdir, watchdog_usec=args.watchdog_usec)
    result = {"seconds": args.seconds, "watchdog_usec": args.watchdog_usec}
    try:
        daemon.wait_ready()
        time.sleep(args.settle)
        notify0 = daemon.notify.counts()
        counter = SwitchCounter(daemon.pid)
        cpu0, memory0 = cpu_seconds(daemon.pid), memory_kib(daemon.pid)
        threads0 = len(counter.first)
        start = now()
        while now() - start < args.seconds:
            select.select([daemon.stdout_fd], [], [], max(0.0, min(0.25, args.seconds - (now() - start))))
            daemon.read_available()
            counter.sample()
        elapsed = now() - start
        counter.sample()
        cpu1, memory1 = cpu_seconds(daemon.pid), memory_kib(daemon.pid)
        notify1 = daemon.notify.counts()
        per_thread = counter.deltas()
        total = sum(per_thread.values())
        minutes = elapsed / 60.0
        result.update({
            "measured_seconds": round(elapsed, 2),
            "threads_start": threads0,
            "threads_end": len(context_switches(daemon.pid)),
            "threads_started_during": counter.born,
            "context_switches": total,
            "wakeups_per_minute": round(total / minutes, 1),
            "per_thread_switches": per_thread,
            "status_messages": notify1["status"] - notify0["status"],
            "watchdog_messages": notify1["watchdog"] - notify0["watchdog"],
            "expected_timer_wakeups_per_minute": round(60.0 / 5.0 + (60.0 / (args.watchdog_usec / 2e6)
                                                                     if args.watchdog_usec else 0), 1),
            "cpu_seconds": round(cpu1 - cpu0, 3),
            "rss_kib_start": memory0["VmRSS"],
            "rss_kib_end": memory1["VmRSS"],
            "memory_kib_start": memory0,
            "memory_kib_end": memory1,
            "memory_detail_end": memory_detail(daemon.pid),
            "json_lines": len(daemon.lines),
        })
    finally:
        status, seconds = daemon.stop()
        result["exit_status"] = status
        result["stop_seconds"] = round(seconds, 3)
        shutil.rmtree(workdir, ignore_errors=True)
    write_part(args.part, result)
    log(f"idle: {result.get('wakeups_per_minute')} switches/min, RSS {result.get('rss_kib_end')} KiB")


# ---------------------------------------------------------------------------------------------
# Summary


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def run_summarize(args):
    summary = json.load(open(args.meta)) if args.meta else {}
    for name in ("latency_json", "latency_json_backtoback", "latency_journal", "churn", "idle"):
        path = os.path.join(args.parts, f"{name}.json")
        if os.path.exists(path):
            summary[name] = json.load(open(path))
    verdicts = {}
    lines = []
    lines.append(f"fwdwatch daemon benchmark  ({summary.get('date', '')}, {summary.get('mode', '')}, "
                 f"load avg at start {summary.get('loadavg_start', '?')}, at end {summary.get('loadavg_end', '?')})")
    lines.append(f"binary {summary.get('binary', '?')}  commit {summary.get('commit', '?')}  "
                 f"kernel {summary.get('kernel', '?')}")
    lines.append("")
    lines.append("1. Detection latency: sysctl write returned -> alert seen (ms)")
    lines.append(f"   {'measurement':<40} {'n':>5} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9} "
                 f"{'x floor p50':>11} {'x floor p99':>11}")
    targets = {"latency_json": 5.0, "latency_journal": 20.0}
    for name, label in (("latency_json", "JSON line on stdout"),
                        ("latency_json_backtoback", "JSON, flips back-to-back (no gap)"),
                        ("latency_journal", "journal entry queryable")):
        part = summary.get(name)
        if not part:
            continue
        a, f = part.get("alert") or {}, part.get("floor") or {}
        lines.append(f"   {label:<40} {fmt(a.get('n')):>5} {fmt(a.get('median_ms'), 3):>9} {fmt(a.get('p90_ms'), 3):>9} "
                     f"{fmt(a.get('p99_ms'), 3):>9} {fmt(a.get('max_ms'), 3):>9} {fmt(part.get('ratio_median'), 1):>11} "
                     f"{fmt(part.get('ratio_p99'), 1):>11}")
        lines.append(f"   {'  floor: RTM_NEWNETCONF on own socket':<40} {fmt(f.get('n')):>5} {fmt(f.get('median_ms'), 3):>9} "
                     f"{fmt(f.get('p90_ms'), 3):>9} {fmt(f.get('p99_ms'), 3):>9} {fmt(f.get('max_ms'), 3):>9}")
        r = part.get("journald_received") or {}
        if r:
            lines.append(f"   {'  journald received it (its own clock)':<40} {fmt(r.get('n')):>5} {fmt(r.get('median_ms'), 3):>9} "
                         f"{fmt(r.get('p90_ms'), 3):>9} {fmt(r.get('p99_ms'), 3):>9} {fmt(r.get('max_ms'), 3):>9}")
        w = part.get("write") or {}
        lines.append(f"   {'  the write(2) itself':<40} {fmt(w.get('n')):>5} {fmt(w.get('median_ms'), 3):>9} "
                     f"{fmt(w.get('p90_ms'), 3):>9} {fmt(w.get('p99_ms'), 3):>9} {fmt(w.get('max_ms'), 3):>9}")
        if part.get("missed"):
            lines.append(f"   !! {len(part['missed'])} flips without an alert within the timeout")
        if name in targets and a.get("p99_ms") is not None:
            ok = a["p99_ms"] < targets[name] and not part.get("missed")
            verdicts[name] = ok
            lines.append(f"   target p99 < {targets[name]:g} ms: {'MET' if ok else 'MISSED'}")
    churn = summary.get("churn")
    if churn:
        lines.append("")
        lines.append(f"2. Churn: {churn.get('veth_pairs')} veth pairs on {churn.get('bridges')} bridges "
                     f"(peers up in another namespace); {churn.get('trickle_pairs')} deleted one by one, "
                     f"the rest in one burst (ip netns delete of the peers' namespace)")
        lines.append(f"   {'phase':<18} {'action s':>8} {'daemon CPU s':>12} {'evaluations':>11} {'JSON lines':>10} "
                     f"{'raised':>7} {'resolved':>8} {'resyncs':>7} {'then quiet s':>12} {'RSS KiB':>8}")
        phases = churn.get("phases") or {}
        for phase in ("create", "delete_one_by_one", "delete_burst"):
            p = phases.get(phase)
            if p is None:
                continue
            lines.append(f"   {phase:<18} {fmt(p.get('action_seconds')):>8} {fmt(p.get('daemon_cpu_seconds')):>12} "
                         f"{fmt(p.get('evaluations')):>11} {fmt(p.get('json_lines')):>10} {fmt(p.get('alerts_raised')):>7} "
                         f"{fmt(p.get('alerts_resolved')):>8} {fmt(p.get('resync_notices')):>7} "
                         f"{fmt(p.get('quiet_after_action_seconds')):>12} {fmt(p.get('rss_kib_after')):>8}")
        lines.append(f"   survived: {churn.get('survived')}   final active set == `fwdwatch check --json --sample 0`: "
                     f"{churn.get('converged')} ({len(churn.get('active_after') or [])} active)   "
                     f"RSS before: {churn.get('rss_kib_before')} KiB")
        verdicts["churn"] = bool(churn.get("survived") and churn.get("converged"))
    idle = summary.get("idle")
    if idle:
        lines.append("")
        lines.append(f"3. Idle for {idle.get('measured_seconds')} s (WATCHDOG_USEC={idle.get('watchdog_usec')})")
        lines.append(f"   context switches/min (threads at start/end {idle.get('threads_start')}/{idle.get('threads_end')}, "
                     f"{idle.get('threads_started_during')} started meanwhile): {idle.get('wakeups_per_minute')}   "
                     f"timer events/min expected (sweep 5 s + watchdog): {idle.get('expected_timer_wakeups_per_minute')}")
        lines.append(f"   STATUS= (one per sweep turn): {idle.get('status_messages')}   WATCHDOG=1: "
                     f"{idle.get('watchdog_messages')}   CPU s: {idle.get('cpu_seconds')}")
        lines.append(f"   RSS start {idle.get('rss_kib_start')} KiB, end {idle.get('rss_kib_end')} KiB   "
                     f"(target < 20 MB: {'MET' if (idle.get('rss_kib_end') or 1e9) < 20 * 1024 else 'MISSED'}; "
                     f"end: anon {(idle.get('memory_kib_end') or {}).get('RssAnon')} KiB, "
                     f"file {(idle.get('memory_kib_end') or {}).get('RssFile')} KiB)")
        detail = idle.get("memory_detail_end") or {}
        lines.append(f"   PSS {detail.get('Pss')} KiB (anon {detail.get('Pss_Anon')}, file {detail.get('Pss_File')}); "
                     f"largest resident: "
                     + ", ".join(f"{k} {v}" for k, v in sorted((detail.get("largest_rss") or {}).items(),
                                                              key=lambda item: -item[1])))
        lines.append(f"   per thread: {idle.get('per_thread_switches')}")
        verdicts["idle_rss"] = (idle.get("rss_kib_end") or 1e9) < 20 * 1024
    summary["verdicts"] = verdicts
    write_part(args.out, summary)
    print("\n".join(lines))
    print(f"\nJSON summary: {args.out}")


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    latency = sub.add_parser("latency")
    latency.add_argument("--binary", required=True)
    latency.add_argument("--target", choices=["json", "journal"], required=True)
    latency.add_argument("--uplink", required=True)
    latency.add_argument("--flips", type=int, default=200)
    latency.add_argument("--gap-ms", type=float, default=30.0,
                         help="pause before each flip; > the 20 ms coalescing window = a lone change")
    latency.add_argument("--gap-jitter-ms", type=float, default=10.0)
    latency.add_argument("--coalesce-ms", type=int, default=None)
    latency.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one alert")
    latency.add_argument("--settle", type=float, default=1.5, help="seconds between READY and the first flip")
    latency.add_argument("--poll-us", type=float, default=200.0, help="journal query interval")
    latency.add_argument("--journal-reader", choices=["reseek", "persistent"], default="reseek")
    latency.add_argument("--part", required=True)
    latency.set_defaults(func=run_latency)

    churn = sub.add_parser("churn")
    churn.add_argument("--binary", required=True)
    churn.add_argument("--veths", type=int, default=5000)
    churn.add_argument("--ports-per-bridge", type=int, default=1000)
    churn.add_argument("--trickle-fraction", type=float, default=0.1,
                       help="share of the pairs deleted one by one (ip -batch) before the burst")
    churn.add_argument("--peer-namespace", required=True)
    churn.add_argument("--perf", action="store_true")
    churn.add_argument("--perf-dir", default="/tmp")
    churn.add_argument("--daemon-args", nargs="*", default=[])
    churn.add_argument("--part", required=True)
    churn.set_defaults(func=run_churn)

    idle = sub.add_parser("idle")
    idle.add_argument("--binary", required=True)
    idle.add_argument("--seconds", type=float, default=60.0)
    idle.add_argument("--settle", type=float, default=2.0)
    idle.add_argument("--watchdog-usec", type=int, default=30_000_000, help="as with WatchdogSec=30; 0 = off")
    idle.add_argument("--part", required=True)
    idle.set_defaults(func=run_idle)

    journald = sub.add_parser("journald-answers")
    journald.set_defaults(func=lambda a: sys.exit(0 if journald_answers() else 1))

    summarize = sub.add_parser("summarize")
    summarize.add_argument("--parts", required=True)
    summarize.add_argument("--meta")
    summarize.add_argument("--out", required=True)
    summarize.set_defaults(func=run_summarize)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
