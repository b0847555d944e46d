"""Helper of tests/bench/run (standard library only).

  report.py sql api/health.c     print /readyz's statement (SQL_READY)
  report.py measure --state DIR --cpu FILE -- CMD ARGS...
                                 run CMD (wrk, pgbench) and write to FILE
                                 the CPU time the stack under DIR, CMD and
                                 everything else on the machine used
  report.py report --results R --pgbench DIR ...
                                 print the table and the checks; with
                                 --out, also write them as markdown

Exit status 1 when a run got no successful answer at all (the benchmark
did not measure anything), else 0: the checks are informational.
"""
import argparse
import glob
import json
import os
import platform
import re
import sys
import time


def extract_sql(path):
    """The concatenated string literals of SQL_READY[] in a C file."""
    src = open(path, encoding="utf-8").read()
    m = re.search(r'SQL_READY\s*\[\s*\]\s*=\s*((?:\s*"(?:[^"\\]|\\.)*")+)\s*;',
                  src)
    if not m:
        sys.exit(f"report.py: no SQL_READY string in {path}")
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    sql = "".join(parts)
    sql = sql.replace('\\"', '"').replace("\\\\", "\\")
    return sql


def _ticks(pid):
    """(ppid, session, own ticks, reaped children's ticks) of a process,
    or None when it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    f = stat.rsplit(")", 1)[1].split()
    return (int(f[1]), int(f[3]), int(f[11]) + int(f[12]),
            int(f[13]) + int(f[14]))


def _read_pid(path):
    try:
        return int(open(path).readline().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stack_ticks(state):
    """CPU ticks so far of the stack's processes, by component: Kore (the
    session .dev/stack started), nginx (master and workers), PostgreSQL
    (postmaster and backends). Processes that ended (a pgbench client's
    backend) count through their parent's reaped-children time."""
    kore = _read_pid(os.path.join(state, "run", "kore.pid"))
    nginx = _read_pid(os.path.join(state, "run", "nginx.pid"))
    pg = _read_pid(os.path.join(state, "pg", "data", "postmaster.pid"))
    out = {"kore": 0, "nginx": 0, "postgres": 0}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        t = _ticks(pid)
        if t is None:
            continue
        ppid, sid, own, reaped = t
        if kore is not None and sid == kore:
            key, root = "kore", pid == kore
        elif nginx is not None and (pid == nginx or ppid == nginx):
            key, root = "nginx", pid == nginx
        elif pg is not None and (pid == pg or ppid == pg):
            key, root = "postgres", pid == pg
        else:
            continue
        out[key] += own + (reaped if root else 0)
    return out


def busy_ticks():
    """Busy (not idle, not iowait) ticks of the whole machine so far."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def measure(args):
    """Run a load generator and account for the machine's CPU meanwhile:
    the stack, the generator itself, and everything else ("other": the
    noise from whatever else runs on the machine)."""
    import resource
    import subprocess
    hz = os.sysconf("SC_CLK_TCK")
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    before = stack_ticks(args.state)
    busy0 = busy_ticks()
    t0 = time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(cmd)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = time.monotonic() - t0
    busy1 = busy_ticks()
    after = stack_ticks(args.state)
    used = {"kore": 0.0, "nginx": 0.0, "postgres": 0.0}
    for key in used:
        used[key] = (after[key] - before[key]) / hz
    used["load"] = ((r1.ru_utime + r1.ru_stime) -
                    (r0.ru_utime + r0.ru_stime))
    total = (busy1 - busy0) / hz
    used["other"] = max(0.0, total - sum(used.values()))
    cores = os.cpu_count() or 1
    with open(args.cpu, "w") as fh:
        json.dump({"elapsed": elapsed, "cores": cores,
                   "cpu_s": {k: round(v, 3) for k, v in used.items()}}, fh)
    return rc


def percentile(sorted_vals, p):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1,
                   int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def pgbench_result(directory, mode):
    """tps, average, p50 and p99 latency (ms) of one pgbench run."""
    text = open(os.path.join(directory, f"pgbench-{mode}.txt")).read()
    m = re.search(r"^tps = ([0-9.]+)", text, re.M)
    if not m:
        sys.exit(f"report.py: no tps in pgbench-{mode}.txt:\n{text}")
    tps = float(m.group(1))
    m = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
    avg = float(m.group(1)) if m else None
    m = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    failed = int(m.group(1)) if m else 0
    lat = []
    for f in glob.glob(os.path.join(directory, f"pgbench-{mode}", "log.*")):
        with open(f) as fh:
            for line in fh:
                fields = line.split()
                # client_id transaction_no time script_no epoch us ...
                if len(fields) >= 3 and fields[2].isdigit():
                    lat.append(int(fields[2]))
    lat.sort()
    p50 = percentile(lat, 50)
    p99 = percentile(lat, 99)
    return {
        "tps": tps, "avg_ms": avg, "failed": failed,
        "p50_ms": p50 / 1000 if p50 is not None else None,
        "p99_ms": p99 / 1000 if p99 is not None else None,
    }


def fmt_ms(v):
    if v is None:
        return "-"
    if v < 10:
        return f"{v:.2f} ms"
    if v < 100:
        return f"{v:.1f} ms"
    return f"{v:.0f} ms"


def fmt_rate(v):
    return f"{v:,.0f}"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_figures(cpu, count):
    """Machine busy %, other %, and CPU microseconds per request by
    component, from a measure() record and the requests it served."""
    if not cpu or count <= 0:
        return None
    capacity = cpu["elapsed"] * cpu["cores"]
    used = cpu["cpu_s"]
    return {
        "busy": 100 * sum(used.values()) / capacity,
        "other": 100 * used.get("other", 0) / capacity,
        "us": {k: 1e6 * used.get(k, 0) / count
               for k in ("kore", "nginx", "postgres", "load")},
    }


def load_cpu(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


PATHS = {"direct": "direct (Kore, HTTP)", "tls": "TLS (nginx, HTTPS)"}


def report(args):
    runs = [json.loads(line) for line in open(args.results) if line.strip()]
    ceiling = None
    broken = []
    results = []  # dicts: endpoint, path, conns, rps, p50, p99, errors, cpu

    # Ceilings: pgbench on each endpoint's statement. The server prepares
    # its statements, so -M prepared is the ceiling; -M extended (unnamed
    # statements) is shown for /readyz as a reference.
    ceilings = {}
    # Runs named in <pgbench dir>/extra are references no endpoint is
    # compared with (the bare SQL an optimisation replaces).
    extra_file = os.path.join(args.pgbench, "extra")
    extra = set(open(extra_file).read().split()) \
        if os.path.exists(extra_file) else set()
    names = ["extended", "prepared"] + sorted(
        ({r.get("ceiling") for r in runs} | extra) -
        {None, "extended", "prepared"})
    labels = {"extended": ("/readyz SQL", "pgbench -M extended"),
              "prepared": ("/readyz SQL", "pgbench -M prepared")}
    for mode in names:
        r = pgbench_result(args.pgbench, mode)
        cpu = load_cpu(os.path.join(args.pgbench, f"pgbench-{mode}.cpu"))
        count = r["tps"] * (cpu["elapsed"] if cpu else 0)
        ceilings[mode] = r["tps"]
        endpoint, path = labels.get(mode, (mode + " SQL",
                                           "pgbench -M prepared"))
        results.append({
            "endpoint": endpoint, "path": path,
            "conns": f"{args.clients} clients", "rps": r["tps"],
            "p50": r["p50_ms"], "p99": r["p99_ms"], "errors": r["failed"],
            "ratio": None, "cpu": cpu_figures(cpu, count)})
    ceiling = ceilings["prepared"]
    for res, mode in zip(results, names):
        base = ceilings["prepared"] if mode == "extended" else ceilings[mode]
        res["ratio"] = res["rps"] / base

    by = {}
    for run in runs:
        w = run["wrk"]
        secs = w["duration_us"] / 1e6
        errors = (w["connect"] + w["read"] + w["write"] + w["status"] +
                  w["timeout"])
        rps = w["requests"] / secs if secs > 0 else 0.0
        if w["requests"] - w["status"] <= 0:
            broken.append(f"{run['endpoint']} {run['path']} "
                          f"{run['conns']} connections")
        res = {
            "endpoint": run["endpoint"],
            "path": PATHS.get(run["path"], run["path"]),
            "conns": str(run["conns"]), "rps": rps,
            "p50": w["p50_us"] / 1000, "p99": w["p99_us"] / 1000,
            "errors": errors,
            "ratio": (rps / ceilings[run.get("ceiling", "prepared")]
                      if run["endpoint"] != "/healthz" else None),
            "cpu": cpu_figures(run.get("cpu"), w["requests"])}
        by[(run["endpoint"], run["path"], run["conns"])] = res
        results.append(res)

    checks = []
    a = by.get(("/readyz", "direct", 256))
    b = by.get(("/readyz", "direct", 16))
    name = "/readyz direct: requests/s at 256 connections >= 80% of 16"
    if a and b and b["rps"] > 0:
        checks.append((a["rps"] >= 0.8 * b["rps"], name,
                       f"{fmt_rate(a['rps'])} vs {fmt_rate(b['rps'])} "
                       f"requests/s ({100 * a['rps'] / b['rps']:.0f}%)"))
    else:
        checks.append((None, name, "not measured"))
    a = by.get(("/readyz", "direct", 64))
    name = "/readyz direct: p99 at 64 connections < 20 ms"
    if a:
        checks.append((a["p99"] < 20, name, fmt_ms(a["p99"])))
    else:
        checks.append((None, name, "not measured"))

    def pct(v):
        return f"{v:.0f}%" if v is not None else "-"

    def us(v):
        return f"{v:.0f}" if v is not None else "-"

    main_header = ["endpoint", "path", "connections", "requests/s", "p50",
                   "p99", "errors", "ratio to ceiling", "other CPU"]
    main_rows = [[
        r["endpoint"], r["path"], r["conns"], fmt_rate(r["rps"]),
        fmt_ms(r["p50"]), fmt_ms(r["p99"]), str(r["errors"]),
        f"{r['ratio']:.2f}" if r["ratio"] is not None else "",
        pct(r["cpu"]["other"]) if r["cpu"] else "-"] for r in results]
    cpu_header = ["endpoint", "path", "connections", "machine busy",
                  "Kore", "nginx", "PostgreSQL", "wrk/pgbench"]
    cpu_rows = []
    for r in results:
        c = r["cpu"]
        if not c:
            continue
        cpu_rows.append([r["endpoint"], r["path"], r["conns"],
                         pct(c["busy"]), us(c["us"]["kore"]),
                         us(c["us"]["nginx"]), us(c["us"]["postgres"]),
                         us(c["us"]["load"])])

    noisy = [r for r in results if r["cpu"] and r["cpu"]["other"] >= 10]

    notes = [
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {args.commit}, "
        f"{os.cpu_count()} cores ({cpu_model()}); the load generator, "
        "PostgreSQL, nginx and Kore share the machine.",
        f"Kore: {args.workers} workers x {args.pool} pooled connections "
        f"= {args.clients}; wrk -t2 (-t1 at 1 connection), keep-alive, "
        f"{args.duration} s per run after a warm-up; pgbench -j 2, "
        f"{args.clients} clients, {args.duration} s.",
        "Ceilings: pgbench as crm_app, -M prepared (the server prepares "
        "each statement once per connection), on each endpoint's own "
        f"statement: /readyz `{open(args.sql).read().strip()}`; "
        "me-jwt, me-key, customer-jwt: the api_* call the server makes "
        "for that request, with the same principal. -M extended "
        "(unnamed statements) for reference.",
        "ratio to ceiling = requests/s / the ceiling's tps "
        f"(/readyz: {fmt_rate(ceiling)}); /healthz touches no database, "
        "so it has none. errors = non-2xx/3xx answers, socket errors and "
        "timeouts (wrk), failed transactions (pgbench). other CPU = "
        "share of the machine used by processes outside the benchmark "
        "during the run (noise).",
    ]
    cpu_note = ("CPU time per request in microseconds, by component "
                "(machine busy = share of all cores in use):")

    def status(ok):
        return {True: "PASS", False: "FAIL", None: "SKIP"}[ok]

    def text_table(header, rows, right):
        widths = [max(len(str(r[i])) for r in [header] + rows)
                  for i in range(len(header))]

        def line(cells):
            return "  ".join(c.rjust(widths[i]) if i in right else
                             c.ljust(widths[i]) for i, c in enumerate(cells))
        return ([line(header), line(["-" * w for w in widths])] +
                [line(r) for r in rows])

    def md_table(header, rows, right):
        out = ["| " + " | ".join(header) + " |",
               "|" + "|".join("---:" if i in right else "---"
                              for i in range(len(header))) + "|"]
        out.extend("| " + " | ".join(c if c else " " for c in r) + " |"
                   for r in rows)
        return out

    tail = []
    for ok, name, detail in checks:
        tail.append(f"{status(ok)}  {name}: {detail}")
    if noisy:
        worst = max(r["cpu"]["other"] for r in noisy)
        tail.append(f"NOTE  other processes used up to {worst:.0f}% of the "
                    f"machine during {len(noisy)} of {len(results)} runs: "
                    "those figures are noisy")
    if broken:
        tail.append("ERROR no successful answer in: " + ", ".join(broken))

    right_main = {2, 3, 4, 5, 6, 7, 8}
    right_cpu = {2, 3, 4, 5, 6, 7}
    out = [""] + notes + [""]
    out += text_table(main_header, main_rows, right_main)
    out += ["", cpu_note, ""]
    out += text_table(cpu_header, cpu_rows, right_cpu)
    out += [""] + tail
    print("\n".join(out))

    if args.out:
        md = [f"- {n}" for n in notes] + [""]
        md += md_table(main_header, main_rows, right_main)
        md += ["", cpu_note, ""]
        md += md_table(cpu_header, cpu_rows, right_cpu)
        md += [""] + [f"- {t}" for t in tail]
        with open(args.out, "w") as fh:
            fh.write("\n".join(md) + "\n")
        print(f"\n(markdown written to {args.out})")

    return 1 if broken else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("sql")
    s.add_argument("file")
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--pgbench", required=True)
    r.add_argument("--sql", required=True)
    r.add_argument("--duration", required=True)
    r.add_argument("--workers", required=True)
    r.add_argument("--pool", required=True)
    r.add_argument("--clients", required=True)
    r.add_argument("--commit", default="unknown")
    r.add_argument("--out")
    m = sub.add_parser("measure")
    m.add_argument("--state", required=True)
    m.add_argument("--cpu", required=True)
    m.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.action == "measure":
        return measure(args)
    if args.action == "sql":
        print(extract_sql(args.file) + ";")
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
