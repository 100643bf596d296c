"""Importing a big, realistic contact list: rows per second and peak memory, per backend.

Generates a CSV like an operator's export (numbers in a dozen formats, 3% that are not valid
numbers, 2% repeated rows, five variable columns, some accented names) and imports it with
``campaign-engine contacts import`` into a fresh SQLite file and a throwaway PostgreSQL
database (created for the run and dropped after). The import runs as a child process, as an
operator runs it, so what is measured is the whole command: start-up, reading, checking on
every core, writing, and the rejects report.

Peak memory is of the importing process *tree* (the command and its checking workers): each
process's own peak (``VmHWM``) sampled from /proc while it runs, added up, so it is an upper
bound of what the tree held at once. ``largest_process_rss_mb`` is the biggest single process
(from ``wait4``). ``cpu_seconds`` is the CPU the tree used (the command and its workers, not
the database server), and ``cpu_seconds_by_process`` splits it into the command itself, its
number-checking workers and the PostgreSQL backends of the run's database: on a busy machine
they say more than the wall time, and they show which part to make cheaper. Numbers are
reported, not asserted; ``ok`` is false only if the import failed or its counts do not add
up.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, make_url, select, text

from campaign_engine.campaigns import service
from campaign_engine.db.migrate import upgrade
from campaign_engine.db.models import Contact
from campaign_engine.db.session import create_engine, session_factory

FULL_ROWS = 1_000_000
SMOKE_ROWS = 20_000
INVALID_SHARE = 0.03
DUPLICATE_SHARE = 0.02
AGENT_ID = "00000000-0000-4000-8000-0000000000be"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
)
HEADER = ["Phone Number", "First Name", "Last Name", "City", "Plan", "Due Date"]
FIRST = ["Asha", "Ravi", "Meera", "Kiran", "Zoë", "José", "Anil", "Priya", "Tom", "Fatima"]
LAST = ["Sharma", "Iyer", "Khan", "Singh", "Müller", "D'Souza", "Patel", "Reddy", "Smith"]
CITIES = ["Pune", "Delhi", "Goa", "Chennai", "Mumbai", "Kolkata", "London", "New York"]
PLANS = ["gold", "silver", "basic", "trial"]
INVALID = ["12345", "call me", "", "9.19876543210E+11", "+91 12345", "n/a", "000000", "+999 1"]


def _number(index: int) -> tuple[str, str]:
    """The index-th distinct number, as (country, national digits): mostly Indian mobiles."""
    kind, serial = index % 20, index // 20
    if kind < 17:  # India, mobile: 7-9, then 8 digits spread over the range, then 1 digit
        spread = (index * 7_919 + 12_345) % 300_000_000  # a bijection of the index
        return "91", f"{7 + spread // 100_000_000}{spread % 100_000_000:08d}{index % 10}"
    if kind < 19:  # United States, New Jersey and New York area codes
        area = ("201", "212", "646", "917")[serial % 4]
        rest = serial // 4 + (kind - 17) * 5_000_000
        return "1", f"{area}{200 + rest // 10_000 % 700}{rest % 10_000:04d}"
    return "44", f"7{400_000_000 + serial:09d}"  # United Kingdom mobile


def _written(country: str, digits: str, rng: random.Random) -> str:
    """The number as some export would write it."""
    if country == "91":
        style = rng.randrange(8)
        return (
            digits,
            f"{digits[:5]} {digits[5:]}",
            f"+91 {digits[:5]} {digits[5:]}",
            f"0{digits}",
            f"0091{digits}",
            f"+91-{digits[:5]}-{digits[5:]}",
            f"'{digits}",
            f"+91{digits}",
        )[style]
    if country == "1":
        return rng.choice(
            [f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}", f"+1{digits}", f"001{digits}"]
        )
    return rng.choice([f"+44 {digits[:4]} {digits[4:]}", f"+44{digits}", f"0044{digits}"])


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    distinct = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for _ in range(rows):
            roll = rng.random()
            if roll < INVALID_SHARE:
                phone = rng.choice(INVALID)
            elif roll < INVALID_SHARE + DUPLICATE_SHARE and distinct:
                phone = _written(*_number(rng.randrange(distinct)), rng)
            else:
                phone = _written(*_number(distinct), rng)
                distinct += 1
            writer.writerow(
                [
                    phone,
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    rng.choice(CITIES),
                    rng.choice(PLANS),
                    f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ]
            )


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _server_pids(database: str) -> list[int]:
    """PostgreSQL backends serving ``database`` (their title names it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            found.append(int(entry))
    return found


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    args: list[str], env: dict[str, str], workdir: Path, *, server_database: str | None = None
) -> dict[str, Any]:
    """Run ``args``; wall time, exit status, output, the tree's and largest peak RSS, and
    where the CPU went: the command itself, its child processes (the number checkers), and
    the PostgreSQL backends serving ``server_database``.

    Children's and backends' CPU is sampled from /proc while they live, so the last sampling
    interval of each (50 ms) may be missed; the tree's total is exact (``wait4``).
    """
    out, err = workdir / "stdout.txt", workdir / "stderr.txt"
    peaks: dict[int, int] = {}
    children_cpu: dict[int, float] = {}
    server_cpu: dict[int, float] = {}
    can_sample = Path("/proc/self/status").exists()
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if can_sample:
                for member in _descendants(child.pid):
                    peaks[member] = max(peaks.get(member, 0), _peak_kb(member))
                    if member != child.pid:
                        children_cpu[member] = max(
                            children_cpu.get(member, 0.0), _cpu_seconds(member)
                        )
                for backend in _server_pids(server_database) if server_database else []:
                    server_cpu[backend] = max(server_cpu.get(backend, 0.0), _cpu_seconds(backend))
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    largest_kb = usage.ru_maxrss  # kilobytes on Linux
    total_cpu = usage.ru_utime + usage.ru_stime
    return {
        "seconds": seconds,
        "cpu_seconds": total_cpu,
        "cpu_breakdown": {
            "importer": round(total_cpu - sum(children_cpu.values()), 1),
            "checkers": round(sum(children_cpu.values()), 1),
            **({"database_server": round(sum(server_cpu.values()), 1)} if server_database else {}),
        },
        "exit_code": child.returncode,
        "stdout": out.read_text(encoding="utf-8", errors="replace"),
        "stderr": err.read_text(encoding="utf-8", errors="replace")[-2000:],
        "tree_peak_mb": round(max(sum(peaks.values()), largest_kb) / 1024, 1),
        "largest_process_rss_mb": round(largest_kb / 1024, 1),
    }


async def _prepare(url: str) -> str:
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            campaign = await service.create_campaign(
                session, name="ingest bench", agent_id=AGENT_ID, default_region="IN"
            )
            return campaign.id
    finally:
        await engine.dispose()


async def _count(url: str, campaign_id: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            total = await connection.scalar(
                select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
            )
            return int(total or 0)
    finally:
        await engine.dispose()


def _command() -> list[str]:
    script = Path(sys.executable).with_name("campaign-engine")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from campaign_engine.cli import main; main()"]


async def _import_into(url: str, csv_path: Path, rows: int, workdir: Path) -> dict[str, Any]:
    campaign_id = await _prepare(url)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CAMPAIGN_ENGINE_", "VOCOBASE_"))
    }
    env["CAMPAIGN_ENGINE_DATABASE__URL"] = url
    args = [*_command(), "contacts", "import", campaign_id, str(csv_path)]
    args += ["--rejects", str(workdir / "rejects.csv"), "--json"]
    server = make_url(url).database if url.startswith("postgresql") else None
    measured = await asyncio.to_thread(run_measured, args, env, workdir, server_database=server)
    result: dict[str, Any] = {
        "rows": rows,
        "seconds": round(measured["seconds"], 2),
        "rows_per_s": round(rows / measured["seconds"]),
        "cpu_seconds": round(measured["cpu_seconds"], 1),
        "cpu_seconds_by_process": measured["cpu_breakdown"],
        "peak_rss_mb": measured["tree_peak_mb"],
        "largest_process_rss_mb": measured["largest_process_rss_mb"],
    }
    if measured["exit_code"] != 0:
        return {**result, "ok": False, "error": measured["stderr"].strip()}
    summary = json.loads(measured["stdout"])
    stored = await _count(url, campaign_id)
    result.update(
        imported=summary["imported"],
        rejected=summary["rejected_by_reason"],
        ok=summary["rows"] == rows
        and summary["imported"] + summary["rejected"] == rows
        and stored == summary["imported"],
    )
    return result


async def _on_postgres(csv_path: Path, rows: int, workdir: Path) -> dict[str, Any]:
    name = f"ce_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        await admin.dispose()
        return {"skipped": f"no PostgreSQL at {make_url(ADMIN_URL)!r}: {exc}"}
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        return await _import_into(url, csv_path, rows, workdir)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def run(smoke: bool) -> dict[str, Any]:
    """``BENCH_INGEST_ROWS`` sets another size (for quicker measurements while iterating)."""
    rows = int(os.environ.get("BENCH_INGEST_ROWS") or (SMOKE_ROWS if smoke else FULL_ROWS))
    with tempfile.TemporaryDirectory(prefix="ce-bench-ingest-") as directory:
        workdir = Path(directory)
        csv_path = workdir / "contacts.csv"
        started = time.perf_counter()
        await asyncio.to_thread(generate, csv_path, rows)
        generated = time.perf_counter() - started
        file_mb = round(csv_path.stat().st_size / 2**20, 1)
        sqlite = await _import_into(
            f"sqlite+aiosqlite:///{workdir / 'bench.db'}", csv_path, rows, workdir
        )
        postgres = await _on_postgres(csv_path, rows, workdir)
    return {
        "ok": bool(sqlite.get("ok")) and bool(postgres.get("ok", "skipped" in postgres)),
        "rows": rows,
        "file_mb": file_mb,
        "generate_seconds": round(generated, 1),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "sqlite": sqlite,
        "postgresql": postgres,
    }
