"""goodhart on Spark: :func:`scan` on PySpark (>= 4) DataFrames of usage events.

The plan has two phases, so that the one organisation-wide rule (which task
hashes are *common prompts*: sent by at least N distinct users of the
window, so not loops) gives the same answer as the single-machine scan:

1. ``mapInArrow`` over the events as they are partitioned (no shuffle): the
   Rust core validates each partition and reports its users in the window and
   its distinct ``(task hash, user)`` request pairs. Spark counts distinct
   users per task hash; the driver classifies the common prompts (a small
   list) with the configuration's threshold.
2. ``repartition`` by user, then ``groupBy(user_id).applyInArrow``: the Rust
   core computes one user's session and user feature rows, given the common
   prompts (every feature but that rule is per session or per user).

Cohort baselines and scoring then run once on the driver over the per-user
and per-session feature tables (one row per user / session, not per event),
as ``goodhart scan`` scores them. Users, sessions and alerts come back as
Spark DataFrames with the columns of ``user_scores.parquet``,
``session_scores.parquet`` and :meth:`goodhart.ScanResult.alerts_table`
(unsigned integer columns as ``long``).

>>> from pyspark.sql import SparkSession          # doctest: +SKIP
>>> import goodhart.spark
>>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
>>> ev = spark.read.parquet("data/sample/events")                   # doctest: +SKIP
>>> r = goodhart.spark.scan(ev, spark.read.parquet("data/sample/users.parquet"),
...                         config="data/sample/goodhart.toml")     # doctest: +SKIP
>>> r.alerts.count()                                                # doctest: +SKIP
18
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import uuid as _uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Union

import pyarrow as _pa

from . import ScanResult, _date, _goodhart, score as _score

__all__ = ["SparkScanResult", "scan"]

_PHASE1_SCHEMA = "user long, task long"
_PHASE2_SCHEMA = "users binary, sessions binary, quarantine binary, ingest string, duplicates long"

# Per Python worker: roster row indices by user id, built once per scan.
_ROSTER_INDEX: Dict[str, Dict[str, List[int]]] = {}


@dataclass(frozen=True)
class SparkScanResult:
    """What :func:`scan` found on Spark."""

    users: Any
    """Spark DataFrame: one row per user (the columns of ``user_scores.parquet``)."""
    sessions: Any
    """Spark DataFrame: one row per session (the columns of ``session_scores.parquet``)."""
    alerts: Any
    """Spark DataFrame: one row per alert (the columns of :meth:`goodhart.ScanResult.alerts_table`)."""
    summary: Dict[str, Any]
    """Figures of the run, as :attr:`goodhart.ScanResult.summary` (rows read / accepted / quarantined and per reason, duplicate events, users, sessions, alerts by severity, window), plus ``common_prompts`` and ``common_prompt_threshold``."""
    result: ScanResult
    """The driver's :class:`goodhart.ScanResult` (pyarrow tables, typed alerts, ``explain``)."""
    quarantine: _pa.Table
    """The rows set aside, with their reason (``source_file`` is ``events``)."""


def _utc(batch: Any) -> Any:
    """Spark hands timestamps over in the session time zone: relabel them UTC (the instants are unchanged)."""
    names = batch.schema.names
    if "ts" not in names:
        return batch
    i = names.index("ts")
    t = batch.schema.field(i).type
    if _pa.types.is_timestamp(t) and t.tz not in (None, "UTC"):
        col = batch.column(i).cast(_pa.timestamp(t.unit, tz="UTC"))
        if isinstance(batch, _pa.Table):
            return batch.set_column(i, _pa.field("ts", col.type), col)
        arrays = [col if j == i else batch.column(j) for j in range(len(names))]
        return _pa.RecordBatch.from_arrays(arrays, names=names)
    return batch


def _reader(it: Iterator[Any]) -> Optional[_pa.RecordBatchReader]:
    """The partition's batches as a reader (``None`` for an empty partition)."""
    first = None
    for b in it:
        first = _utc(b)
        break
    if first is None:
        return None

    def rest() -> Iterator[Any]:
        yield first
        for b in it:
            yield _utc(b)

    return _pa.RecordBatchReader.from_batches(first.schema, rest())


def _ipc(t: _pa.Table) -> bytes:
    sink = _pa.BufferOutputStream()
    with _pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()


def _from_ipc(b: bytes) -> _pa.Table:
    return _pa.ipc.open_stream(_pa.py_buffer(b)).read_all()


def _table(stream: Any) -> _pa.Table:
    return _pa.RecordBatchReader.from_stream(stream).read_all()


def _spark_types(t: _pa.Table) -> _pa.Table:
    """Spark has no unsigned integers: unsigned columns become int64 (counts fit)."""
    fields = []
    for f in t.schema:
        ty = f.type
        if _pa.types.is_unsigned_integer(ty):
            ty = _pa.int64()
        elif _pa.types.is_list(ty) and _pa.types.is_unsigned_integer(ty.value_type):
            ty = _pa.list_(_pa.int64())
        fields.append(_pa.field(f.name, ty, f.nullable))
    return t.cast(_pa.schema(fields))


def _sum_ingest(docs: List[Dict[str, Any]]) -> Dict[str, Any]:
    read = accepted = quarantined = 0
    reasons: Dict[str, int] = {}
    for d in docs:
        read += d["rows_read"]
        accepted += d["rows_accepted"]
        quarantined += d["rows_quarantined"]
        for k, v in d.get("reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + v
    return {
        "read": read,
        "accepted": accepted,
        "quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(reasons.items())),
    }


def scan(
    events_df: Any,
    roster_df: Any = None,
    *,
    as_of: Union[None, str, _dt.date] = None,
    window: Optional[str] = None,
    config: Optional[Union[str, "_os.PathLike[str]"]] = None,
    partitions: Optional[int] = None,
) -> SparkScanResult:
    """Scores every user and session of a Spark DataFrame of events, as ``goodhart scan`` does.

    Scores, severities and patterns are those ``goodhart scan`` gives on the
    same events (row order aside); see the module doc for the plan.

    Args:
        events_df: events with the columns of the event schema (``goodhart
            schema``); other columns (e.g. a ``date`` partition column) are ignored.
        roster_df: the roster (``user_id``, ``team``, ``role``, ``start_date``),
            collected to the driver and shipped with the tasks (one row per person).
        as_of: last day analysed (``date`` or ``"YYYY-MM-DD"``). Default: the
            configuration's ``[scan] as_of``, else today (UTC).
        window: window length, e.g. ``"28d"``. Default: the configuration's
            ``[scan] window`` (``"28d"`` built in).
        config: a ``goodhart.toml`` readable on the driver (its text is
            shipped to the executors). Default: the built-in settings.
        partitions: partitions of the by-user shuffle (default: Spark's
            ``spark.sql.shuffle.partitions``).

    Raises:
        InputError: bad input data, configuration or argument (the command's message).
        GoodhartError: any other failure.
    """
    from pyspark.sql import functions as F

    spark = events_df.sparkSession
    cfg_text: Optional[str] = None
    cfg_name = "built-in configuration"
    if config is not None:
        cfg_name = _os.fspath(config)
        try:
            with open(cfg_name, encoding="utf-8") as f:
                cfg_text = f.read()
        except OSError as e:
            from .errors import InputError

            raise InputError(
                f"{cfg_name}: cannot read the configuration file: {e}. Fix: pass an existing "
                "file to --config, or print a default one with `goodhart config --default`"
            ) from None
    as_of_s, days = _goodhart.resolve_window_args(_date(as_of), window, cfg_text, cfg_name)
    window_s = f"{days}d"

    # Phase 1: users in the window and distinct (task, user) request pairs.
    def phase1(it: Iterator[Any]) -> Iterator[Any]:
        r = _reader(it)
        if r is None:
            return
        t = _table(_goodhart.part_task_users(r, as_of_s, window_s, cfg_text, cfg_name))
        yield from t.to_batches()

    pairs = events_df.mapInArrow(phase1, _PHASE1_SCHEMA)
    agg = pairs.agg(F.countDistinct("user").alias("n")).collect()
    n_users = int(agg[0]["n"]) if agg else 0
    threshold = _goodhart.common_prompt_threshold(n_users, as_of_s, window_s, cfg_text, cfg_name)
    common = [
        int(r["task"])
        for r in pairs.where(F.col("task").isNotNull())
        .groupBy("task")
        .agg(F.countDistinct("user").alias("n"))
        .where(F.col("n") >= threshold)
        .select("task")
        .collect()
    ]

    # Phase 2: per user, session and user feature rows.
    roster_tbl: Optional[_pa.Table] = None
    if roster_df is not None:
        roster_tbl = roster_df.toArrow()
    token = _uuid.uuid4().hex

    def roster_for(user: Any) -> Optional[_pa.Table]:
        if roster_tbl is None:
            return None
        idx = _ROSTER_INDEX.get(token)
        if idx is None:
            idx = {}
            for i, u in enumerate(roster_tbl.column("user_id").to_pylist()):
                idx.setdefault(u, []).append(i)
            _ROSTER_INDEX.clear()
            _ROSTER_INDEX[token] = idx
        return roster_tbl.take(_pa.array(idx.get(user, []), _pa.int64()))

    def phase2(key: Any, table: _pa.Table) -> _pa.Table:
        table = _utc(table)
        user = key[0].as_py() if hasattr(key[0], "as_py") else key[0]
        raw = _goodhart.part_features(
            table, common, threshold, as_of_s, window_s, roster_for(user), cfg_text, cfg_name
        )
        return _pa.table(
            {
                "users": _pa.array([_ipc(_table(raw.users()))], _pa.binary()),
                "sessions": _pa.array([_ipc(_table(raw.sessions()))], _pa.binary()),
                "quarantine": _pa.array([_ipc(_table(raw.quarantine()))], _pa.binary()),
                "ingest": [raw.ingest_json()],
                "duplicates": _pa.array([raw.duplicate_events()], _pa.int64()),
            }
        )

    by_user = (
        events_df.repartition(partitions, "user_id")
        if partitions
        else events_df.repartition("user_id")
    )
    parts = by_user.groupBy("user_id").applyInArrow(phase2, _PHASE2_SCHEMA).toArrow()

    users = _pa.concat_tables([_from_ipc(b) for b in parts.column("users").to_pylist()])
    sessions = _pa.concat_tables([_from_ipc(b) for b in parts.column("sessions").to_pylist()])
    quarantine = _pa.concat_tables([_from_ipc(b) for b in parts.column("quarantine").to_pylist()])
    # The order a single-machine run gives (features are sorted so).
    users = users.sort_by([("user_id", "ascending")])
    sessions = sessions.sort_by(
        [("user_id", "ascending"), ("start_ts", "ascending"), ("session_id", "ascending")]
    )
    ingest = _sum_ingest([_json.loads(s) for s in parts.column("ingest").to_pylist()])
    ingest["duplicate_events"] = int(sum(parts.column("duplicates").to_pylist()))

    # Cohorts, baselines and scores once, on the driver.
    res = _score(users, sessions, as_of=as_of_s, window=window_s, config=config)
    summary = dict(res.summary)
    summary["rows"] = ingest
    summary["common_prompts"] = len(common)
    summary["common_prompt_threshold"] = threshold

    def df(t: _pa.Table) -> Any:
        return spark.createDataFrame(_spark_types(t))

    return SparkScanResult(
        users=df(res.users),
        sessions=df(res.sessions),
        alerts=df(res.alerts_table()),
        summary=summary,
        result=res,
        quarantine=quarantine,
    )
