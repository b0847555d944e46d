"""PostgreSQL stopped for 5 s under load: 503 problems, no crash, no hang,
and service again within 5 s of its return without restarting the API."""
import threading
import time

import requests

from conftest import check_contract


def worker_pids(stack):
    out = []
    for line in stack.log_lines():
        if "worker" in line and "started" in line and "pid#" in line:
            out.append(line.split("pid#")[1].split(")")[0])
    return out


def test_postgres_outage_under_load(stack):
    pids_before = worker_pids(stack)
    stop = threading.Event()
    results = []  # (time, status or exception name, elapsed)
    lock = threading.Lock()

    def load():
        s = requests.Session()
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = s.get(stack.https + "/readyz", timeout=3,
                          verify=stack.ca)
                check_contract(r)
                status = r.status_code
                if status == 503:
                    assert r.headers["retry-after"]
                    assert r.json()["type"] == "urn:crm:problem:unavailable"
            except requests.RequestException as e:
                status = type(e).__name__
            with lock:
                results.append((t0, status, time.monotonic() - t0))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        stack.run("pg-stop")
        down_at = time.monotonic()
        time.sleep(5)
        # During the outage: not ready, but the process is alive.
        r = requests.get(stack.https + "/readyz", verify=stack.ca, timeout=3)
        assert r.status_code == 503
        assert requests.get(stack.https + "/healthz", verify=stack.ca,
                            timeout=3).status_code == 200
        restart_at = time.monotonic()
        stack.run("pg-start")
        up_at = time.monotonic()  # pg_ctl -w returned: accepting queries
        back_at = None
        while time.monotonic() - up_at < 10:
            with lock:
                ok = [t for t, st, _ in results if t > up_at and st == 200]
            if ok:
                back_at = min(ok)
                break
            time.sleep(0.05)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert back_at is not None, "the API did not recover"
    assert back_at - up_at < 5, f"recovered after {back_at - up_at:.2f}s"
    print(f"outage: {len(results)} requests, first 200 "
          f"{back_at - up_at:.3f}s after PostgreSQL was back")
    statuses = {st for _, st, _ in results}
    assert statuses <= {200, 503}, statuses
    during = [st for t, st, _ in results if down_at + 0.5 < t < restart_at]
    assert during and set(during) == {503}
    assert max(el for _, _, el in results) < 2.5, "a request hung"
    # No worker died and was restarted.
    assert worker_pids(stack) == pids_before
    assert not [l for l in stack.log_lines() if "exited with" in l]
