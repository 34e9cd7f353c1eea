#!/usr/bin/env python3
"""The polars side of ``benches/features_vs_polars.py``: a subset of goodhart's session and user
features, computed with polars' lazy engine from the same Parquet lake.

Per session (user_id, session_id), for sessions in the window (rows with ts in
[first_day, last_day + 1), the same rows goodhart accepts):

* ``redundant_spawns``: agent_spawn rows whose non-null task_hash repeats in the session
  (= spawn rows with a hash - distinct hashes);
* ``reloads``: context_load rows whose non-null context_hash repeats in the session, and
  ``reload_uncached_tokens``: input_tokens on those rows (every load of a hash except the first
  by ts);
* ``loop_requests``: request rows whose non-null task_hash repeats in the session, hashes used by
  >= 5 distinct users in the window excluded (goodhart's common-prompt threshold
  max(2, min(5, ceil(0.1 * users))) = 5 for this data);
* ``total_tokens`` (all four buckets), ``accepted`` = max(0, change_accepted - change_reverted),
  ``tokens_per_accepted_change`` = total_tokens / (accepted + 1);

then per user: sums of those, sessions, and tokens_per_accepted_change = sum total / (sum
accepted + 1). Writes ``session_features.parquet`` and ``user_features.parquet`` to --out.

Fairness: lazy ``scan_parquet`` with hive partition pruning and projection/predicate pushdown,
the streaming engine (``collect(engine=...)``, default "streaming"; the in-memory engine was
~1.6x slower in a trial), the dictionary-encoded id columns kept Categorical, all cores (polars' default
thread pool = every core; POLARS_MAX_THREADS not set by the harness).

    python3 benches/features_polars.py DATASET --first-day 2026-10-01 --last-day 2026-10-21 --out DIR
"""
import argparse
import datetime as dt
import os
import sys
import time

import polars as pl

COMMON_PROMPT_MIN_USERS = 5


def plan(dataset, first_day, last_day):
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    ev = pl.scan_parquet(
        os.path.join(dataset, "events", "**", "*.parquet"),
        hive_partitioning=True,
        try_parse_hive_dates=True,
    )
    ev = (
        ev.filter(pl.col("date").is_between(first_day, last_day))  # partition pruning
        .filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        .select(
            pl.col("ts"),
            # Dictionary columns arrive as Categorical; kept so (casting to String was 20-25%
            # slower in a trial on the 8000 x 21 lake).
            "user_id",
            "session_id",
            "event",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "task_hash",
            "context_hash",
        )
    )
    key = ["user_id", "session_id"]
    e = pl.col("event")
    is_req = (e == "request") & pl.col("task_hash").is_not_null()

    # Request hashes used by >= 5 distinct users: never loops.
    common = (
        ev.filter(is_req)
        .group_by("task_hash")
        .agg(pl.col("user_id").n_unique().alias("n_users"))
        .filter(pl.col("n_users") >= COMMON_PROMPT_MIN_USERS)
        .select("task_hash", pl.lit(True).alias("common"))
    )

    tokens = (
        pl.col("input_tokens").fill_null(0)
        + pl.col("output_tokens").fill_null(0)
        + pl.col("cache_read_tokens").fill_null(0)
        + pl.col("cache_write_tokens").fill_null(0)
    )
    spawn_h = pl.col("task_hash").filter((e == "agent_spawn") & pl.col("task_hash").is_not_null())
    load_h = pl.col("context_hash").filter((e == "context_load") & pl.col("context_hash").is_not_null())
    loop_h = pl.col("task_hash").filter(is_req & pl.col("common").is_null())

    sessions = (
        ev.join(common, on="task_hash", how="left")
        .group_by(key)
        .agg(
            pl.len().alias("events"),
            tokens.sum().alias("total_tokens"),
            (e == "change_accepted").sum().alias("accepted_gross"),
            (e == "change_reverted").sum().alias("reverted"),
            (spawn_h.len() - spawn_h.n_unique()).alias("redundant_spawns"),
            (load_h.len() - load_h.n_unique()).alias("reloads"),
            (loop_h.len() - loop_h.n_unique()).alias("loop_requests"),
        )
    )
    # Uncached input tokens of reloads: every load of a (session, hash) except the first by ts.
    reload_tok = (
        ev.filter((e == "context_load") & pl.col("context_hash").is_not_null())
        .group_by(key + ["context_hash"])
        .agg(
            (
                pl.col("input_tokens").fill_null(0).sum()
                - pl.col("input_tokens").fill_null(0).sort_by("ts").first()
            ).alias("reload_uncached_tokens")
        )
        .group_by(key)
        .agg(pl.col("reload_uncached_tokens").sum())
    )
    sessions = (
        sessions.join(reload_tok, on=key, how="left")
        .with_columns(
            pl.col("reload_uncached_tokens").fill_null(0),
            (pl.col("accepted_gross").cast(pl.Int64) - pl.col("reverted").cast(pl.Int64))
            .clip(lower_bound=0)
            .alias("accepted"),
        )
        .with_columns(
            (pl.col("total_tokens") / (pl.col("accepted") + 1)).alias("tokens_per_accepted_change")
        )
    )
    return sessions


def users_of(sessions):
    return (
        sessions.group_by("user_id")
        .agg(
            pl.len().alias("sessions"),
            pl.col("total_tokens").sum(),
            pl.col("accepted").sum(),
            pl.col("redundant_spawns").sum(),
            pl.col("reloads").sum(),
            pl.col("reload_uncached_tokens").sum(),
            pl.col("loop_requests").sum(),
        )
        .with_columns(
            (pl.col("total_tokens") / (pl.col("accepted") + 1)).alias("tokens_per_accepted_change")
        )
        .sort("user_id")
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--first-day", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--last-day", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--out", required=True)
    ap.add_argument("--engine", default="streaming", help="polars engine: streaming (default), in-memory, auto")
    ap.add_argument("--explain", action="store_true", help="print the optimized plan and exit")
    a = ap.parse_args()
    lf = plan(a.dataset, a.first_day, a.last_day)
    if a.explain:
        print(lf.explain(engine=a.engine))
        return
    t = time.perf_counter()
    sessions = lf.collect(engine=a.engine).sort(["user_id", "session_id"])
    users = users_of(sessions.lazy()).collect(engine=a.engine)
    os.makedirs(a.out, exist_ok=True)
    sessions.write_parquet(os.path.join(a.out, "session_features.parquet"))
    users.write_parquet(os.path.join(a.out, "user_features.parquet"))
    print(
        f"polars {pl.__version__} ({pl.thread_pool_size()} threads, engine {a.engine}): "
        f"{sessions.height} sessions, {users.height} users, events {sessions['events'].sum()} "
        f"in {time.perf_counter() - t:.2f} s; written to {a.out}"
    )


if __name__ == "__main__":
    sys.exit(main())
