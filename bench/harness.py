#!/usr/bin/env python3
"""Benchmark driver behind bench/run.sh (stdlib only). run.sh installs and builds; this
script runs each selected system in turn:

  start it on a free loopback port -> start-up time to the first 200 answer to ListTables
  -> preload (preload.py) -> optional warm-up -> each wrk workload for BENCH_DURATION s
  -> peak RSS (VmHWM of the server process) -> stop it.

A system that is missing, fails to start, fails its preload or answers a workload with
errors is recorded as such; the run goes on with the next one. The report (markdown) goes
to stdout and bench/results/<stamp>.md, the raw numbers to bench/results/<stamp>.json,
server and wrk output to bench/results/logs/<stamp>/.

Knobs (environment): see bench/README.md.
"""
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

WORKLOADS = [  # id, wrk mode, description
    ("W1", "put", "PutItem 1 KB, random key"),
    ("W2", "get", "GetItem, random existing key"),
    ("W3", "mixed", "50/50 GetItem/PutItem (YCSB A)"),
    ("W4", "query", "Query 1 partition of bench2, 10 items"),
    ("W5", "update", "UpdateItem ADD #c :one (#c = counter)"),
    ("W6", "batch", "BatchWriteItem 25 x 1 KB"),
    ("W7", "scan", "Scan bench2, Limit 100, random start key"),
]
DEFAULT_SYSTEMS = "flywheel,flywheel-mem,dynalite,dynalite-mem,moto,ceiling"
# Pairs for the ratio table: (numerator, denominator).
RATIOS = [("flywheel", "dynalite"), ("flywheel-mem", "dynalite-mem"), ("flywheel", "moto"),
          ("flywheel-mem", "moto"), ("flywheel", "ceiling"), ("flywheel-mem", "ceiling")]
# A workload counts as valid (and enters the ratios) only with errors <= this share of requests.
ERROR_TOLERANCE = 0.001

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=2801cce5184b91b7d0743103dd33a2f1074d7f3abd3ef7a26aee3e5e5c152737")


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v.strip() else default
    except ValueError:
        sys.exit(f"{name}={v!r} is not an integer")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Config:
    def __init__(self):
        self.duration = env_int("BENCH_DURATION", 10)
        self.connections = env_int("BENCH_CONNECTIONS", 16)
        self.threads = env_int("BENCH_THREADS", 2)
        self.keys = env_int("BENCH_KEYS", 100000)
        self.parts = env_int("BENCH_PARTS", 1000)
        # moto gets the full data set by default (its preload of 100,000 items takes ~20 s);
        # these knobs shrink it, and the report says so when they differ.
        self.moto_keys = env_int("BENCH_MOTO_KEYS", self.keys)
        self.moto_parts = env_int("BENCH_MOTO_PARTS", self.parts)
        self.valsize = env_int("BENCH_VALSIZE", 1000)
        # Global secondary indexes on `bench` (keyed by pk, projecting ALL) and a stream on it.
        self.gsis = env_int("BENCH_GSIS", 0)
        self.stream = env_int("BENCH_STREAM", 0) > 0
        self.warmup = env_int("BENCH_WARMUP", 2)
        self.check_every = env_int("BENCH_CHECK_EVERY", 16)
        self.start_timeout = env_int("BENCH_START_TIMEOUT", 60)
        self.preload_timeout = env_int("BENCH_PRELOAD_TIMEOUT", 1800)
        self.systems = [s.strip() for s in os.environ.get("BENCH_SYSTEMS", DEFAULT_SYSTEMS).split(",") if s.strip()]
        wl = os.environ.get("BENCH_WORKLOADS", "").strip()
        wanted = {w.strip().upper() for w in wl.split(",") if w.strip()} if wl else None
        self.workloads = [w for w in WORKLOADS if wanted is None or w[0] in wanted or w[1].upper() in wanted]
        self.stamp = os.environ.get("BENCH_STAMP") or time.strftime("%Y%m%d-%H%M%S")
        self.results = os.environ.get("BENCH_RESULTS_DIR") or os.path.join(BENCH, "results")
        self.logdir = os.path.join(self.results, "logs", self.stamp)
        self.workdir = os.path.join(BENCH, ".work", self.stamp)
        self.flywheel = os.environ.get("BENCH_FLYWHEEL_BIN") or os.path.join(ROOT, "target", "dist", "flywheel")
        self.ceiling = os.path.join(BENCH, "ceiling-server", "target", "release", "ceiling-server")
        # "system:reason;..." from run.sh for installs or builds that failed.
        self.setup_failures = {}
        for part in os.environ.get("BENCH_SETUP_FAILURES", "").split(";"):
            if ":" in part:
                k, v = part.split(":", 1)
                self.setup_failures[k.strip()] = v.strip()
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown:
            sys.exit(f"unknown system(s) {unknown}; known: {', '.join(SYSTEMS)}")
        if not self.workloads:
            sys.exit(f"BENCH_WORKLOADS={wl!r} selects nothing; use ids W1..W7 or modes put,get,...")


def sys_flywheel(c, port, data):
    # The admin listener stays on (as by default), on a free port: metrics are recorded.
    return [c.flywheel, "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{free_port()}",
            "--data-dir", data]


def sys_flywheel_mem(c, port, data):
    return [c.flywheel, "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{free_port()}",
            "--in-memory"]


def dynalite_cmd(port):
    return ["node", os.path.join(BENCH, "node_modules", "dynalite", "cli.js"), "--host", "127.0.0.1",
            "--port", str(port), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]


# name -> (argv builder, binary to check, needs preload, on disk, setup-failure key, description)
SYSTEMS = {
    "flywheel": (sys_flywheel, lambda c: c.flywheel, True, True, "flywheel",
                 "Flywheel, durable (--data-dir)"),
    "flywheel-mem": (sys_flywheel_mem, lambda c: c.flywheel, True, False, "flywheel",
                     "Flywheel, --in-memory"),
    "dynalite": (lambda c, p, d: dynalite_cmd(p) + ["--path", d],
                 lambda c: os.path.join(BENCH, "node_modules", "dynalite", "cli.js"), True, True, "dynalite",
                 "dynalite 4 (Node.js, LevelDB on disk)"),
    "dynalite-mem": (lambda c, p, d: dynalite_cmd(p),
                     lambda c: os.path.join(BENCH, "node_modules", "dynalite", "cli.js"), True, False, "dynalite",
                     "dynalite 4 (Node.js, in-memory LevelDB)"),
    "moto": (lambda c, p, d: [os.path.join(BENCH, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(p)],
             lambda c: os.path.join(BENCH, ".venv", "bin", "moto_server"), True, False, "moto",
             "moto_server (Python, in memory)"),
    "ceiling": (lambda c, p, d: [c.ceiling, "fixed", f"127.0.0.1:{p}"], lambda c: c.ceiling, False, False,
                "ceiling", "fixed answers, no parsing (HTTP ceiling)"),
    "ceiling-store": (lambda c, p, d: [c.ceiling, "store", f"127.0.0.1:{p}"], lambda c: c.ceiling, True, False,
                      "ceiling", "serde_json + HashMap store (in-memory ceiling)"),
}


def list_tables(port):
    """(ok, answer): ok when ListTables answers 200 with TableNames; answer is the status and
    body start of any HTTP answer, or None when nothing answered."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("POST", "/", b"{}", {"Content-Type": "application/x-amz-json-1.0",
                                           "X-Amz-Target": "DynamoDB_20120810.ListTables",
                                           "X-Amz-Date": "20261122T173741Z", "Authorization": AUTH})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status == 200 and b"TableNames" in body, f"{r.status} {body[:150].decode(errors='replace')}"
    except (OSError, http.client.HTTPException):
        return False, None


def vm_field(pid, field):
    """A kB field of /proc/PID/status (VmHWM, VmRSS) in MiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def dir_size_mib(path):
    total = 0
    for dp, _, files in os.walk(path):
        for fn in files:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_size
            except OSError:
                pass
    return total / (1024.0 * 1024.0)


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    else:
        # The leader is gone; end anything it left in its own process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def tail(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip() for l in f if l.strip()]
        return " | ".join(lines[-n:])[:300]
    except OSError:
        return ""


def run_wrk(c, port, mode, seconds, keys, parts, logf):
    cmd = ["wrk", f"-t{c.threads}", f"-c{c.connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
           "-s", os.path.join(BENCH, "dynamo.lua"), f"http://127.0.0.1:{port}/", "--",
           mode, str(keys), str(c.valsize), str(parts)]
    env = dict(os.environ, WRK_CHECK_EVERY=str(c.check_every))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, env=env)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "wrk timed out", -1
    with open(logf, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{out}\n{err}\n")
    m = re.search(r"^RESULT (\{.*\})\s*$", out, re.M)
    if not m:
        return {"failed": f"wrk exited {rc}: {(err or out).strip()[:200]}"}
    r = json.loads(m.group(1))
    sock = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    bad_est = 0
    if r["v_bad"] and r["v_checked"]:
        bad_est = round(r["v_bad"] * r["v_2xx"] / r["v_checked"])
    r["errors"] = r["v_non2xx"] + sock + bad_est
    r["err_socket"] = sock
    r["bad_est"] = bad_est
    notes = []
    if r["v_non2xx"]:
        notes.append(f"{r['v_non2xx']} non-2xx, e.g. {r['v_sample'][:140]}")
    if r["v_bad"]:
        notes.append(f"{r['v_bad']} of {r['v_checked']} sampled 2xx bodies wrong, e.g. {r['v_badsample'][:140]}")
    if sock:
        notes.append(f"socket errors: connect {r['err_connect']}, read {r['err_read']}, "
                     f"write {r['err_write']}, timeout {r['err_timeout']}")
    if r["requests"] == 0:
        notes.append("no request completed")
    r["notes"] = "; ".join(notes)
    r["valid"] = r["requests"] > 0 and r["errors"] <= ERROR_TOLERANCE * r["requests"]
    return r


def run_system(c, name):
    build, binary, needs_preload, on_disk, setup_key, desc = SYSTEMS[name]
    res = {"system": name, "desc": desc, "status": "ok", "note": "", "startup_ms": None, "preload": None,
           "peak_rss_mib": None, "disk_mib": None, "workloads": {}}
    keys, parts = (c.moto_keys, c.moto_parts) if name == "moto" else (c.keys, c.parts)
    res["keys"], res["parts"] = (keys, parts) if needs_preload else (None, None)
    if setup_key in c.setup_failures:
        res.update(status="failed", note=c.setup_failures[setup_key])
        return res
    exe = binary(c)
    if not os.path.exists(exe):
        res.update(status="failed", note=f"not built/installed: {os.path.relpath(exe, ROOT)} missing")
        return res
    port = free_port()
    data = os.path.join(c.workdir, name)
    os.makedirs(data, exist_ok=True)
    logf = os.path.join(c.logdir, f"{name}.log")
    wrklog = os.path.join(c.logdir, f"{name}.wrk.log")
    argv = build(c, port, data)
    log(f"{name}: starting {' '.join(argv)}")
    out = open(logf, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=data, start_new_session=True)
    first_answer = None  # when the server first answered HTTP at all
    try:
        while True:
            ok, answer = list_tables(port)
            if ok:
                res["startup_ms"] = round((time.monotonic() - t0) * 1000, 1)
                break
            if answer is not None:
                first_answer = first_answer or time.monotonic()
                if time.monotonic() - first_answer > 5:
                    res.update(status="failed", note=f"serves HTTP but ListTables answers {answer}")
                    return res
            if proc.poll() is not None:
                res.update(status="failed", note=f"exited with {proc.returncode} before serving: {tail(logf)}")
                return res
            if time.monotonic() - t0 > c.start_timeout:
                res.update(status="failed", note=f"no 200 answer to ListTables within {c.start_timeout}s: "
                           f"{tail(logf)}")
                return res
            time.sleep(0.005)
        log(f"{name}: serving after {res['startup_ms']} ms (port {port}, pid {proc.pid})")

        if needs_preload:
            log(f"{name}: preloading {keys} items + {parts}x10 ...")
            cmd = [sys.executable, os.path.join(BENCH, "preload.py"), f"http://127.0.0.1:{port}/",
                   "--keys", str(keys), "--parts", str(parts), "--valsize", str(c.valsize),
                   "--gsis", str(c.gsis)] + (["--stream"] if c.stream else [])
            t1 = time.monotonic()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=c.preload_timeout)
                pout = p.stdout + p.stderr
            except subprocess.TimeoutExpired:
                pout = f"preload timed out after {c.preload_timeout}s"
            with open(os.path.join(c.logdir, f"{name}.preload.log"), "w") as f:
                f.write(pout)
            m = re.search(r"^PRELOAD (\{.*\})\s*$", pout, re.M)
            pre = json.loads(m.group(1)) if m else {"ok": False, "error": pout.strip()[-200:]}
            pre["seconds"] = round(time.monotonic() - t1, 1)
            res["preload"] = pre
            if pre["ok"]:
                log(f"{name}: preload done in {pre['seconds']}s ({pre.get('bench_items_per_s')} items/s)")
            else:
                res["note"] = f"preload failed: {pre.get('error', '')[:200]}"
                log(f"{name}: {res['note']}")
            if proc.poll() is not None:
                res.update(status="failed", note=(res["note"] + "; " if res["note"] else "")
                           + f"server exited with {proc.returncode} during preload: {tail(logf)}")
                return res

        if c.warmup > 0:
            log(f"{name}: warm-up {c.warmup}s (W3 mixed, not recorded)")
            run_wrk(c, port, "mixed", c.warmup, keys or c.keys, parts or c.parts, wrklog)

        for wid, mode, _ in c.workloads:
            if proc.poll() is not None:
                res["workloads"][wid] = {"failed": f"server exited with {proc.returncode}: {tail(logf)}"}
                continue
            r = run_wrk(c, port, mode, c.duration, keys or c.keys, parts or c.parts, wrklog)
            res["workloads"][wid] = r
            if "failed" in r:
                log(f"{name} {wid} {mode}: FAILED {r['failed']}")
            else:
                log(f"{name} {wid} {mode}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms "
                    f"p99 {r['p99_ms']:.2f} ms errors {r['errors']}" + (f" ({r['notes']})" if r["notes"] else ""))
        died = proc.poll() is not None
        if died:
            res["note"] = (res["note"] + "; " if res["note"] else "") + \
                f"server exited with {proc.returncode} (no peak RSS): {tail(logf)}"
        else:
            res["peak_rss_mib"] = vm_field(proc.pid, "VmHWM")
        if on_disk:
            res["disk_mib"] = dir_size_mib(data)
        bad = [w for w, r in res["workloads"].items() if "failed" in r or not r.get("valid")]
        if bad or died or (res["preload"] and not res["preload"]["ok"]):
            res["status"] = "partial" if len(bad) < len(res["workloads"]) else "failed"
        return res
    finally:
        stop(proc)
        out.close()
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------- report


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[1]
    except (OSError, IndexError):
        wrk = "?"
    return f"{os.cpu_count()} cores ({model}), {mem} RAM, {platform.system()} {platform.release()}, wrk {wrk}"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def fnum(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def command_line(c):
    knobs = ["BENCH_DURATION", "BENCH_CONNECTIONS", "BENCH_THREADS", "BENCH_KEYS", "BENCH_PARTS", "BENCH_MOTO_KEYS",
             "BENCH_MOTO_PARTS", "BENCH_VALSIZE", "BENCH_WARMUP", "BENCH_CHECK_EVERY", "BENCH_SYSTEMS",
             "BENCH_WORKLOADS", "BENCH_GSIS", "BENCH_STREAM"]
    set_ = [f"{k}={os.environ[k]}" for k in knobs if os.environ.get(k)]
    return " ".join(set_ + ["bench/run.sh"])


def report(c, results, started, finished):
    L = []
    L.append(f"# Flywheel benchmark {c.stamp}")
    L.append("")
    L.append(f"- command: `{command_line(c)}`")
    L.append(f"- machine: {machine()}; load driver and server share these cores")
    L.append(f"- load: wrk, {c.threads} threads, {c.connections} connections, {c.duration} s per workload"
             + (f" after a {c.warmup} s warm-up per system" if c.warmup else "")
             + f"; bodies checked on 1 response in {c.check_every} per wrk thread, status on all")
    L.append(f"- data: `bench` {c.keys:,} items of {c.valsize} B values"
             + (f" with {c.gsis} GSI(s) projecting ALL" if c.gsis else "")
             + (" and a NEW_AND_OLD_IMAGES stream" if c.stream else "")
             + f", `bench2` {c.parts:,} partitions x 10 items"
             + (f"; moto: {c.moto_keys:,} items and {c.moto_parts:,} partitions (BENCH_MOTO_KEYS/BENCH_MOTO_PARTS: a smaller data set, so its numbers are not like for like)"
                if "moto" in c.systems and (c.moto_keys, c.moto_parts) != (c.keys, c.parts) else ""))
    L.append(f"- wall time {finished - started:.0f} s; 1-minute load average {c.load_start} at the start "
             "(well above 0 means something else was using the cores)")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("| system | workload | req/s | p50 ms | p99 ms | errors | notes |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        if not r["workloads"]:
            L.append(f"| {r['system']} | all | — | — | — | — | FAILED: {md(r['note'])} |")
            continue
        for wid, mode, wdesc in c.workloads:
            w = r["workloads"].get(wid)
            if w is None:
                continue
            if "failed" in w:
                L.append(f"| {r['system']} | {wid} {mode} | — | — | — | — | FAILED: {md(w['failed'])} |")
                continue
            err = f"{w['errors']:,}" + (" (est.)" if w["bad_est"] else "")
            notes = w["notes"]
            if mode == "batch" and w["rps"]:
                notes = f"= {w['rps'] * 25:,.0f} items/s" + (f"; {notes}" if notes else "")
            if mode == "scan" and w["rps"]:
                notes = f"≈ {w['rps'] * 100:,.0f} items/s" + (f"; {notes}" if notes else "")
            flag = "" if w["valid"] else "**INVALID** (errors > 0.1%): "
            L.append(f"| {r['system']} | {wid} {mode} | {fnum(w['rps'])} | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} | "
                     f"{err} | {flag}{md(notes)} |")
    L.append("")
    L.append("## Systems")
    L.append("")
    L.append("| system | what | status | start-up ms | preload | peak RSS MiB | data on disk MiB | notes |")
    L.append("| --- | --- | --- | ---: | --- | ---: | ---: | --- |")
    for r in results:
        p = r["preload"]
        if p is None:
            pre = "skipped (fixed answers)" if r["system"] == "ceiling" else "—"
        elif p["ok"]:
            pre = f"{r['keys']:,} + {r['parts']:,}x10 items in {p['seconds']} s ({fnum(p.get('bench_items_per_s'))} items/s)"
        else:
            pre = "FAILED"
        L.append(f"| {r['system']} | {r['desc']} | {r['status']} | {fnum(r['startup_ms'], 1)} | {pre} | "
                 f"{fnum(r['peak_rss_mib'], 1)} | {fnum(r['disk_mib'], 1)} | {md(r['note'])} |")
    L.append("")
    L.append("## Ratios (req/s of the first system / req/s of the second)")
    L.append("")
    by = {r["system"]: r for r in results}
    rows = [(a, b) for a, b in RATIOS if a in by and b in by]
    if rows:
        L.append("| ratio | " + " | ".join(f"{wid} {mode}" for wid, mode, _ in c.workloads) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in c.workloads) + " |")
    any_ratio = False
    for a, b in rows:
        cells = []
        for wid, _, _ in c.workloads:
            wa, wb = by[a]["workloads"].get(wid), by[b]["workloads"].get(wid)
            if wa and wb and wa.get("valid") and wb.get("valid") and wb["rps"] > 0:
                cells.append(f"{wa['rps'] / wb['rps']:.2f}x")
                any_ratio = True
            else:
                cells.append("n/a")
        L.append(f"| {a} / {b} | " + " | ".join(cells) + " |")
    if not any_ratio:
        L.append("")
        L.append("No ratio: it needs a Flywheel system and its peer both run in this report with valid results "
                 "(n/a = one side missing, failed or over 0.1% errors).")
    else:
        L.append("")
        L.append("n/a: one side missing, failed or with more than 0.1% errors."
                 + (" moto holds a smaller data set (see data above)." if "moto" in by else ""))
    L.append("")
    return "\n".join(L)


def md(s):
    return (s or "").replace("|", "\\|").replace("\n", " ")


def main():
    c = Config()
    os.makedirs(c.logdir, exist_ok=True)
    os.makedirs(c.workdir, exist_ok=True)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (bench/run.sh installs it)")
    started = time.time()
    c.load_start = loadavg()
    results = []
    log(f"systems {','.join(c.systems)}; workloads {','.join(w[0] for w in c.workloads)}; "
        f"{c.duration}s each, {c.connections} connections, {c.threads} threads; logs in "
        f"{os.path.relpath(c.logdir, ROOT)}")
    try:
        for name in c.systems:
            try:
                results.append(run_system(c, name))
            except Exception as e:  # noqa: BLE001 - one system's failure must not end the run
                log(f"{name}: harness error {e!r}")
                results.append({"system": name, "desc": SYSTEMS[name][5], "status": "failed",
                                "note": f"harness error: {e!r}"[:200], "startup_ms": None, "preload": None,
                                "peak_rss_mib": None, "disk_mib": None, "workloads": {}, "keys": None,
                                "parts": None})
            r = results[-1]
            if r["status"] == "failed" and not r["workloads"]:
                log(f"{name}: FAILED {r['note']}")
    finally:
        shutil.rmtree(c.workdir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(c.workdir))
        except OSError:
            pass
    finished = time.time()
    text = report(c, results, started, finished)
    os.makedirs(c.results, exist_ok=True)
    path = os.path.join(c.results, f"{c.stamp}.md")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(c.results, f"{c.stamp}.json"), "w") as f:
        json.dump({"stamp": c.stamp, "command": command_line(c), "machine": machine(), "results": results}, f,
                  indent=1)
    print(text)
    log(f"report written to {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
