"""Large inputs are read in place (no copy), and a long run stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import goodhart

ROWS = 3_000_000


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def make_table(rows: int = ROWS) -> pa.Table:
    """`rows` request events of 2,000 users in 20,000 sessions over 7 days.

    Columns as an exporter writes them: ids and hashes as strings, a model
    name, token counts, a cost, and a 32-character request id the schema does
    not know (ignored). About 190 bytes per row, in 64k-row batches as a
    Parquet reader would hand them over.
    """
    rng = np.random.default_rng(7)
    user = rng.integers(0, 2_000, rows)
    session = user * 10 + rng.integers(0, 10, rows)
    t0 = np.datetime64("2026-10-01T00:00:00", "us").astype(np.int64)
    ts = t0 + np.sort(rng.integers(0, 7 * 86_400 * 1_000_000, rows))
    users = pa.array([f"user{u:05d}" for u in range(2_000)])
    sessions = pa.array([f"sess{s:06d}" for s in range(20_000)])
    models = pa.array(["claude-sonnet-4-5", "gpt-5-mini", "claude-opus-4-1"])
    # Hex strings from random bytes, built in Arrow (no Python loop per row).
    raw = rng.integers(0, 256, rows * 24, dtype=np.uint8)
    fixed = pa.Array.from_buffers(
        pa.binary(48), rows, [None, pa.py_buffer(raw.tobytes().hex().encode())]
    )
    hex48 = fixed.cast(pa.binary()).cast(pa.string())
    t = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "user_id": users.take(pa.array(user)),
            "session_id": sessions.take(pa.array(session)),
            "event": pa.array(np.full(rows, "request", dtype=object), pa.string()),
            "model": models.take(pa.array(rng.integers(0, 3, rows))),
            "input_tokens": pa.array(rng.integers(100, 5_000, rows).astype(np.uint64)),
            "output_tokens": pa.array(rng.integers(10, 2_000, rows).astype(np.uint64)),
            "cache_read_tokens": pa.array(rng.integers(0, 5_000, rows).astype(np.uint64)),
            "cache_write_tokens": pa.array(rng.integers(0, 500, rows).astype(np.uint64)),
            "task_hash": pc.utf8_slice_codeunits(hex48, 0, 16),
            "cost_usd": pa.array(rng.random(rows) / 10),
            "request_id": pc.utf8_slice_codeunits(hex48, 16, 48),
        }
    )
    return pa.Table.from_batches(t.to_batches(max_chunksize=65_536))


@pytest.fixture(scope="module")
def big_table() -> pa.Table:
    return make_table()


def _peak_growth(events) -> tuple:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    base = _status("VmRSS")
    f = goodhart.features(events, as_of="2026-10-07", window="7d")
    return _status("VmHWM") - base, f


_PROBE = """
import json, sys
sys.path.insert(0, {tests!r})
import goodhart, pyarrow.parquet as pq, test_memory as tm
t = tm.make_table({rows})
size = t.nbytes
goodhart.features(tm.make_table(10_000), as_of="2026-10-07", window="7d")  # warm-up
if {from_file!r}:
    pq.write_table(t, {path!r}, row_group_size=65_536)
    del t
    t = {path!r}
growth, f = tm._peak_growth(t)
print(json.dumps({{"growth": growth, "size": size, "rows": f.ingest["rows_read"],
                   "users": f.users.num_rows}}))
"""


def _probe(rows: int, from_file: bool, path) -> dict:
    """Peak RSS growth of `features` in a fresh interpreter (the allocator's
    high-water mark of one run does not hide the next one's)."""
    import json
    import subprocess
    import sys

    code = _PROBE.format(
        tests=os.path.dirname(__file__), rows=rows, from_file=from_file, path=str(path)
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_big_table_is_not_copied(tmp_path):
    """The batches of an in-memory table are streamed through in place, not copied.

    The same 3M events (about 460 MiB as a table) are run twice, each in a
    fresh interpreter: from the in-memory table, and from a Parquet file
    (nothing of the input in memory). The table run may not need more memory
    than the file run plus a tenth of the table: a copy of the input would
    add at least the table's size. What both runs do need is the features'
    own state, about 95 bytes per request (24-byte request records, an 8-byte
    duplicate key per row, the common-prompt pairs, and vector growth), so
    the growth also stays below 80 % of this table (a copy would be over 100 %).
    """
    rows = 3_000_000
    table = _probe(rows, False, tmp_path / "events.parquet")
    file = _probe(rows, True, tmp_path / "events.parquet")
    assert table["rows"] == file["rows"] == rows
    assert table["users"] == file["users"] == 2_000
    size, growth = table["size"], table["growth"]
    assert size > 400 * 2**20, size
    print(
        f"table {size / 2**20:.0f} MiB, peak RSS growth {growth / 2**20:.0f} MiB "
        f"(from the file: {file['growth'] / 2**20:.0f} MiB)"
    )
    assert growth < file["growth"] + 0.1 * size, (growth, file["growth"], size)
    assert growth < 0.8 * size, (growth, size)


def test_ctrl_c_interrupts_a_long_run(big_table):
    start = time.monotonic()
    goodhart.features(big_table, as_of="2026-10-07", window="7d")
    full = time.monotonic() - start
    timer = threading.Timer(full / 10, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        goodhart.features(big_table, as_of="2026-10-07", window="7d")
    stopped = time.monotonic() - start
    timer.join()
    assert stopped < full * 0.8, (stopped, full)
