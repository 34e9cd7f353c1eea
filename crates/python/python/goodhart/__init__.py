"""goodhart: find tokenmaxxing (AI-usage leaderboard gaming) in usage histories.

Arrow in, Arrow out over goodhart's Rust core. Events go in as a dataset path
(a directory holding ``events/``, as ``goodhart scan`` takes) or as any Arrow
table: a pyarrow ``Table`` or ``RecordBatchReader``, a polars ``DataFrame``, a
DuckDB relation, or anything else with ``__arrow_c_stream__`` (read in place,
not copied). Tables come out as pyarrow tables (polars and DuckDB read them
without copies).

>>> import goodhart
>>> r = goodhart.scan("data/sample")                  # doctest: +SKIP
>>> r.users.num_rows, r.summary["alerts_by_severity"]  # doctest: +SKIP
(300, {'critical': 17, 'high': 1})

Long calls release the GIL and stop at the next check after Ctrl-C
(``KeyboardInterrupt``): between stages, and between chunks of batches for
in-memory input.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import pyarrow as _pa

from . import _goodhart
from .errors import GoodhartError, InputError

__version__: str = _goodhart.__version__

__all__ = [
    "Alert",
    "Evidence",
    "FeatureResult",
    "GoodhartError",
    "InputError",
    "ScanResult",
    "features",
    "scan",
    "score",
    "synth",
    "validate",
]

PathLike = Union[str, "_os.PathLike[str]"]


def _table(stream: Any) -> _pa.Table:
    return _pa.RecordBatchReader.from_stream(stream).read_all()


def _date(d: Union[None, str, _dt.date]) -> Optional[str]:
    if d is None or isinstance(d, str):
        return d
    if isinstance(d, _dt.datetime):
        d = d.date()
    if isinstance(d, _dt.date):
        return d.isoformat()
    raise TypeError(f"as_of: expected a date or a YYYY-MM-DD string, got {type(d).__name__}")


def _events(obj: Any, what: str = "events") -> Any:
    """A path or an object with ``__arrow_c_stream__`` (pandas goes through pyarrow)."""
    mod = type(obj).__module__ or ""
    # Before the __arrow_c_stream__ check: pandas >= 2.2 frames have one too,
    # which hands over pandas' float stand-in for nullable integers as is.
    if mod.startswith("pandas") and type(obj).__name__ == "DataFrame":
        return _from_pandas(obj)
    if isinstance(obj, (str, _os.PathLike)) or hasattr(obj, "__arrow_c_stream__"):
        return obj
    raise TypeError(
        f"{what}: a {type(obj).__name__} is not an Arrow table. Fix: pass a dataset path, "
        "a pyarrow Table or RecordBatchReader, a polars DataFrame, a pandas DataFrame, or any "
        "object with __arrow_c_stream__"
    )


# The count columns of the event schema (``goodhart schema``): integers, null = 0
# (``n``: null = one event).
_COUNT_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "lines",
    "n",
)


def _from_pandas(df: Any) -> _pa.Table:
    """A pandas frame as an Arrow table, with pandas' float stand-in for nullable integers undone.

    pandas stores an integer column that has nulls as ``float64`` (NaN for
    null). A count column that arrives as float is cast back to ``int64`` when
    every non-null value is an integer that fits (nulls stay null, and the
    schema's rule applies to them: a null count is 0). A float count column
    with any fractional, infinite or out-of-range value is left as it is, so
    the schema check refuses it with the command's message ("has type Float64;
    expected an integer type"): counts are never rounded. Fingerprint columns
    (``task_hash``, ``context_hash``, ``change_id``) are not converted: a
    64-bit hash that went through float has lost its low bits.
    """
    t = _pa.Table.from_pandas(df, preserve_index=False)
    for name in _COUNT_COLUMNS:
        if name not in t.column_names:
            continue
        i = t.column_names.index(name)
        col = t.column(i)
        if not _pa.types.is_floating(col.type):
            continue
        try:
            # A safe cast fails on a fractional, NaN, infinite or too large value.
            as_int = col.cast(_pa.int64(), safe=True)
        except (_pa.ArrowInvalid, _pa.ArrowNotImplementedError):
            continue
        t = t.set_column(i, _pa.field(name, _pa.int64(), nullable=True), as_int)
    return t


def _opt(obj: Any, what: str) -> Any:
    return None if obj is None else _events(obj, what)


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else _os.fspath(p)


@dataclass(frozen=True)
class Evidence:
    """One explained reason behind an alert: a feature of the user against their cohort."""

    pattern: str
    """Pattern key, e.g. ``redundant-agent-spawns``."""
    feature: str
    """The feature compared."""
    value: Optional[float]
    """The user's value."""
    typical: Optional[float]
    """The cohort's typical (median) value."""
    p95: Optional[float]
    """The cohort's 95th percentile."""
    percentile: Optional[float]
    """The user's percentile in the cohort."""
    sessions: List[str]
    """Evidence sessions (ids), worst first."""
    text: str
    """One-sentence explanation."""


@dataclass(frozen=True)
class Alert:
    """An alert candidate: a user at or above the alert severity (no lifecycle state)."""

    user_id: str
    cohort: str
    pattern: str
    """The user's strongest pattern (``multivariate-outlier`` when only the multivariate detectors fired)."""
    severity: str
    score: float
    """Score, 0-100."""
    window_start: _dt.date
    window_end: _dt.date
    evidence: List[Evidence] = field(default_factory=list)
    """Explanations, most important first."""

    @staticmethod
    def _from_json(d: Dict[str, Any]) -> "Alert":
        ev = [
            Evidence(
                pattern=e["pattern"],
                feature=e["feature"],
                value=e.get("value"),
                typical=e.get("typical"),
                p95=e.get("p95"),
                percentile=e.get("percentile"),
                sessions=list(e.get("sessions") or []),
                text=e["text"],
            )
            for e in d.get("evidence", [])
        ]
        w = d["window"]
        return Alert(
            user_id=d["user_id"],
            cohort=d["cohort"],
            pattern=d["pattern"],
            severity=d["severity"],
            score=float(d["score"]),
            window_start=_dt.date.fromisoformat(w["start"]),
            window_end=_dt.date.fromisoformat(w["end"]),
            evidence=ev,
        )


_ALERT_SCHEMA = _pa.schema(
    [
        ("user_id", _pa.string()),
        ("cohort", _pa.string()),
        ("pattern", _pa.string()),
        ("severity", _pa.string()),
        ("score", _pa.float64()),
        ("window_start", _pa.date32()),
        ("window_end", _pa.date32()),
        ("evidence", _pa.string()),
        ("evidence_sessions", _pa.list_(_pa.string())),
    ]
)


class ScanResult:
    """What :func:`scan` (or :func:`score`) found.

    ``users`` and ``sessions`` are the tables ``goodhart scan`` writes to
    ``user_scores.parquet`` and ``session_scores.parquet`` (same columns, same
    order, same values).
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._users: Optional[_pa.Table] = None
        self._sessions: Optional[_pa.Table] = None
        self._alerts: Optional[List[Alert]] = None

    @property
    def users(self) -> _pa.Table:
        """One row per user, by decreasing score: ``user_id``, ``cohort``, ``score``, ``severity``, ``top_patterns``, ``explanations``, ``alert``, evidence columns, then the user features."""
        if self._users is None:
            self._users = _table(self._raw.users())
        return self._users

    @property
    def sessions(self) -> _pa.Table:
        """One row per session, by decreasing score: ``session_id``, ``user_id``, ``cohort``, ``score``, ``severity``, ``patterns``, evidence columns, then the session features."""
        if self._sessions is None:
            self._sessions = _table(self._raw.sessions())
        return self._sessions

    @property
    def alerts(self) -> List[Alert]:
        """One :class:`Alert` per user at or above the alert severity, by decreasing score."""
        if self._alerts is None:
            self._alerts = [Alert._from_json(d) for d in _json.loads(self._raw.alerts_json())]
        return list(self._alerts)

    def alerts_table(self) -> _pa.Table:
        """The alerts as a table (evidence: the first explanation; its sessions as a list)."""
        rows = self.alerts
        return _pa.table(
            {
                "user_id": [a.user_id for a in rows],
                "cohort": [a.cohort for a in rows],
                "pattern": [a.pattern for a in rows],
                "severity": [a.severity for a in rows],
                "score": [a.score for a in rows],
                "window_start": [a.window_start for a in rows],
                "window_end": [a.window_end for a in rows],
                "evidence": [a.evidence[0].text if a.evidence else None for a in rows],
                "evidence_sessions": [a.evidence[0].sessions if a.evidence else [] for a in rows],
            },
            schema=_ALERT_SCHEMA,
        )

    @property
    def summary(self) -> Dict[str, Any]:
        """Figures of the run: window, rows read / accepted / quarantined (per reason), users, sessions, cohort method, alerts by severity, configuration used."""
        return _json.loads(self._raw.summary_json())

    @property
    def ingest(self) -> Optional[Dict[str, Any]]:
        """Row accounting per input file and reason (``None`` for :func:`score`)."""
        j = self._raw.ingest_json()
        return None if j is None else _json.loads(j)

    @property
    def quarantine(self) -> Optional[_pa.Table]:
        """The rows set aside, with ``source_file``, ``row_index`` and ``reason`` (``None`` for :func:`score`)."""
        q = self._raw.quarantine()
        return None if q is None else _table(q)

    def explain(self, user_id: str) -> Dict[str, Any]:
        """Everything behind one user's score: cohort, score, severity, the patterns with value, cohort typical value, p95, percentile and evidence sessions, multivariate support, and what could not be evaluated.

        Raises ``KeyError`` when the user was not scored.
        """
        j = self._raw.explain_json(user_id)
        if j is None:
            raise KeyError(f"user {user_id!r} was not scored (no events in the window)")
        return _json.loads(j)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"ScanResult(users={s.get('users')}, sessions={s.get('sessions')}, "
            f"alerts={len(self.alerts)})"
        )


class FeatureResult:
    """What :func:`features` computed."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def users(self) -> _pa.Table:
        """One row per user (``docs/features.md``)."""
        return _table(self._raw.users())

    @property
    def sessions(self) -> _pa.Table:
        """One row per (user, session) (``docs/features.md``)."""
        return _table(self._raw.sessions())

    @property
    def quarantine(self) -> _pa.Table:
        """The rows set aside, with their reason."""
        return _table(self._raw.quarantine())

    @property
    def ingest(self) -> Dict[str, Any]:
        """Row accounting per input and reason."""
        return _json.loads(self._raw.ingest_json())


def scan(
    path_or_events: Any,
    *,
    roster: Any = None,
    as_of: Union[None, str, _dt.date] = None,
    window: Optional[str] = None,
    config: Optional[PathLike] = None,
    source: Optional[str] = None,
) -> ScanResult:
    """Scores every user and session and lists the alerts, as ``goodhart scan`` does.

    Nothing is written: no output files, and the alert state is neither read
    nor changed (``alerts`` are this run's candidates; ``goodhart scan`` tracks
    their lifecycle).

    Args:
        path_or_events: a dataset directory (holding ``events/`` and optionally
            ``users.parquet`` and ``goodhart.toml``), event Parquet files or a
            directory of them, or events as an Arrow table (see the module doc).
        roster: the roster (``user_id``, ``team``, ``role``, ``start_date``), as a
            path or a table. Default: the dataset's ``users.parquet``.
        as_of: last day analysed (``date`` or ``"YYYY-MM-DD"``). Default: the
            configuration's ``[scan] as_of``, else today (UTC).
        window: window length, e.g. ``"28d"``. Default: the configuration's
            ``[scan] window`` (``"28d"`` built in).
        config: a ``goodhart.toml``. Default: the dataset's, else
            ``./goodhart.toml``, else the built-in defaults.
        source: the name of in-memory events in messages and in the ingest
            report (default ``"events"``).

    Raises:
        InputError: bad input data, configuration or argument (message names the fix).
        GoodhartError: any other failure.
        KeyboardInterrupt: Ctrl-C during the run.
    """
    raw = _goodhart.scan(
        _events(path_or_events),
        _opt(roster, "roster"),
        _date(as_of),
        window,
        _path(config),
        source,
    )
    return ScanResult(raw)


def features(
    events: Any,
    *,
    roster: Any = None,
    as_of: Union[None, str, _dt.date] = None,
    window: Optional[str] = None,
    config: Optional[PathLike] = None,
    source: Optional[str] = None,
) -> FeatureResult:
    """Session and user waste features of the events (``goodhart features``).

    Arguments as for :func:`scan`.
    """
    raw = _goodhart.features(
        _events(events), _opt(roster, "roster"), _date(as_of), window, _path(config), source
    )
    return FeatureResult(raw)


def score(
    user_features: Any,
    session_features: Any,
    *,
    as_of: Union[None, str, _dt.date] = None,
    window: Optional[str] = None,
    config: Optional[PathLike] = None,
) -> ScanResult:
    """Scores feature tables (as :func:`features` returns them, or Parquet paths).

    ``as_of`` and ``window`` only date the alerts; ``config`` gives the
    ``[scoring]`` and ``[privacy]`` settings (default: ``./goodhart.toml``,
    else built in). The result has the score columns of :func:`scan`'s tables
    but not the waste columns, and its alerts carry no waste figure: the waste
    estimate needs the events' per-model token buckets, which feature tables
    do not hold. Use :func:`scan` for those.
    """
    raw = _goodhart.score(
        _events(user_features, "user_features"),
        _events(session_features, "session_features"),
        _date(as_of),
        window,
        _path(config),
    )
    return ScanResult(raw)


def validate(
    path: PathLike,
    *,
    as_of: Union[None, str, _dt.date] = None,
    window: Optional[str] = None,
    quarantine: Optional[PathLike] = None,
) -> Dict[str, Any]:
    """Checks a dataset against the schema without computing anything (``goodhart validate``).

    Returns the row accounting: ``rows_read``, ``rows_accepted``,
    ``rows_quarantined``, ``reasons``, and per file. With ``quarantine``, the
    set-aside rows are written there as Parquet. ``window`` needs ``as_of``.
    """
    return _json.loads(
        _goodhart.validate(_os.fspath(path), _date(as_of), window, _path(quarantine))
    )


def synth(
    out: PathLike,
    *,
    users: int = 300,
    days: int = 14,
    seed: int = 1,
    gaming_share: float = 0.06,
    intensity: float = 1.0,
    start: Union[None, str, _dt.date] = None,
) -> Dict[str, Any]:
    """Writes a labeled synthetic organisation to ``out`` (``goodhart synth``).

    Returns what was written: ``users``, ``gaming_users``, ``sessions``,
    ``gaming_sessions``, ``events``, ``files``, ``archetypes``, ``dates``.
    ``out/events`` must be empty or absent.
    """
    return _json.loads(
        _goodhart.synth(_os.fspath(out), users, days, seed, gaming_share, intensity, _date(start))
    )
