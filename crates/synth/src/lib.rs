//! A labeled synthetic organisation for goodhart: realistic AI-usage events of
//! a company of engineers, some of whom game the token leaderboard, written as
//! canonical schema v1 Parquet with the ground truth next to it.
//!
//! The data is the reference for testing goodhart's features and detectors,
//! so this page documents exactly what the generator does.
//!
//! # Example
//!
//! ```
//! use goodhart_synth::{generate, Archetype, SynthConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut cfg = SynthConfig::new(30, 3, 7);
//! cfg.gaming_share = 0.1;
//! let summary = generate(&cfg, dir.path()).unwrap();
//! assert_eq!(summary.users, 30);
//! assert_eq!(summary.gaming_users, 3);
//! assert!(summary.events > 100);
//! assert!(dir.path().join("events/date=2026-10-01/part-0.parquet").exists());
//! assert!(dir.path().join("labels.parquet").exists());
//! let gaming: usize = summary.archetypes.iter()
//!     .filter(|(a, _)| a.is_gaming()).map(|(_, n)| n).sum();
//! assert_eq!(gaming, 3);
//! # let _ = Archetype::Power;
//! ```
//!
//! # Output
//!
//! [`generate`] writes into an empty (or new) directory `out`:
//!
//! * `out/events/date=YYYY-MM-DD/part-0.parquet`: one file per UTC date that
//!   has events. An event goes to the partition of its own timestamp, so a
//!   session that crosses midnight spans two partitions, and sessions started
//!   late on the last day put a few events into the date after the window.
//!   Rows are sorted by `(ts, session, seq)` (seq = position of the event in
//!   its session); row groups hold at most [`SynthConfig::max_row_group_rows`]
//!   rows. Columns (canonical schema v1):
//!
//!   | column | type | content |
//!   |---|---|---|
//!   | `ts` | Timestamp(µs, "UTC") | event time |
//!   | `user_id` | Dictionary(Int32, Utf8) | `u-00042` |
//!   | `session_id` | Dictionary(Int32, Utf8) | `s-<8 hex>`, unique (a keyed bijection of (user, day, n)) |
//!   | `event` | Dictionary(Int32, Utf8) | `request`, `agent_spawn`, `context_load`, `change_accepted`, `change_rejected`, `change_reverted` |
//!   | `agent_id` | Utf8, null = main agent | `a-<session hex>-<n>` |
//!   | `parent_agent_id` | Utf8, on `agent_spawn` rows; null = spawned by the main agent | |
//!   | `model` | Utf8 | see [`Model`]; null on spawn/change rows and on 0.2% of requests |
//!   | `input_tokens`, `output_tokens`, `cache_read_tokens`, `cache_write_tokens` | Int64 | on `request` and `context_load` rows, null elsewhere |
//!   | `task_hash` | Utf8 (16 hex) | on requests and spawns |
//!   | `context_hash` | Utf8 (16 hex) | on `context_load` rows |
//!   | `change_id` | Utf8 `c-<hex>` | on change rows |
//!   | `lines` | Int64 | on change rows |
//!   | `cost_usd` | Float64 | from [`Model::prices_per_mtok`]; null when no model or no tokens |
//!
//! * `out/users.parquet`: `user_id`, `team`, `role` (Utf8), `start_date`
//!   (Date32; inside the window for new hires, null for ~3% of others).
//! * `out/labels.parquet`: `user_id`, `archetype` ([`Archetype::as_str`]),
//!   `is_gaming` (Boolean), `hard_negative` (Boolean,
//!   [`Archetype::is_hard_negative`]: legitimate but heavy by volume), one
//!   row per person in id order.
//! * `out/session_labels.parquet`: `session_id`, `user_id`, `is_gaming`, one
//!   row per session (sorted by id). A session is gaming exactly when waste
//!   was injected into it (a gaming person's honest sessions are `false`;
//!   a sprinter's sessions are gaming only inside the sprint window).
//! * `out/waste_labels.parquet` (the waste truth, #11): `user_id`,
//!   `archetype`, `added_tokens` (UInt64), one row per person in id order:
//!   the tokens the person's gaming added over what they would have used
//!   honestly: the rows the behaviour added (spammed agents' requests,
//!   reload rows' uncached input, loop requests, padding requests), the
//!   excess output of inflated replies, every row of a padder's extra turns
//!   and, for sprinters, 0.8 / 1.8 of the honest tokens of their Wednesday to
//!   Friday sessions (the expected share of the extra sessions). Not counted:
//!   the later cache reads of a conversation prefix the waste lengthened, so
//!   the truth is itself on the low side. 0 for legitimate people.
//!
//! Same [`SynthConfig`] ⇒ byte-identical files, whatever the number of
//! threads: each (person, day) has its own `ChaCha8Rng` seeded from an XXH3
//! hash of `(seed, person, day)`; days are generated one after the other (so
//! memory is bounded by one day of events) with people in parallel (rayon),
//! then concatenated in person order and sorted by a unique key. Writer
//! properties (ZSTD level 1, `created_by`, row-group size, statistics) are
//! all pinned.
//!
//! # The organisation
//!
//! **Teams** ([`TeamSpec::defaults`]): `platform`, `web`, `data`, `mobile`,
//! `ml`, differing in volume (0.6 to 1.6 sessions multiplier), sub-agent
//! habit, cache-expiry habit (how often people pause > 5 min), context sizes,
//! working hours (UTC offset of the day start, ±90 min per person) and main
//! models. Each team has 2-4 **team-standard sub-agents** (a fixed task hash,
//! like "run the tests"), spawned again and again by everybody in the team:
//! legitimate repeated spawn task hashes across sessions and people.
//!
//! **Volume**: a regular person on a volume-1 team starts on average 2.4
//! sessions per workday (Poisson), one tenth of that on weekends; a session
//! has ~9 turns (log-normal, 2..40) and ~28 events. About 60 events per
//! person per calendar day overall (8000 people × 21 days ≈ 10M events).
//! Every person has at least one session (on their first active weekday), so
//! every labelled person appears in the events.
//!
//! **A session**: the main agent (null `agent_id`) starts with a system
//! prompt (~9k tokens × team scale) and loads 1-2 file sets from the person's
//! working set (`context_load`, `cache_write` = the context's size, a pure
//! function of its hash). Each turn: think time (log-normal, median 60 s) or,
//! with the team's pause rate, a 6-40 min pause; a request with `input_tokens`
//! = the new turn (200-3000), `cache_read_tokens` = the cached prefix,
//! `cache_write_tokens` = what was appended since the last request; after a
//! pause > 5 min the cache has expired, so that request reads nothing and
//! writes the whole prefix once. Sometimes another file set is loaded (10%
//! of turns) or, after an expiry, a loaded one is legitimately re-loaded
//! (`cache_write`). 22% of prompts come from a global pool of 10 common
//! prompts ("continue", "yes", "run the tests", …) shared by everybody; 4%
//! of requests are retried once (same task hash, small output). Sub-agents
//! (12% of turns × team agent rate): an `agent_spawn` row (40% a
//! team-standard task), 1-8 requests by the new agent (cheap sibling model
//! 60% of the time), sometimes a nested agent, and usually (72%) an accepted
//! change (standard agents: 10%). The main agent proposes a change on 22% of
//! turns (78% accepted, 5-200 lines); 4% of accepted changes are reverted
//! later.
//!
//! # Archetypes
//!
//! Legitimate ([`LegitMix::default`]: light 25%, regular 46%, power 10%,
//! incident 5%, new_hire 6%, migration 8% of the non-gaming people):
//!
//! * `light`: 0.25-0.45 × the sessions of a regular person.
//! * `regular`: the baseline (± 25% personal habit).
//! * `power`: 3-5 × the sessions, identical sessions, so proportionally more
//!   accepted changes and the same waste ratios.
//! * `incident`: regular, plus one weekday with 8-14 extra long sessions
//!   (15-30 turns) loading many *distinct*, mostly never-seen contexts
//!   (3-5 at the start, then on half of the turns), few changes (15% of the
//!   usual rate).
//! * `new_hire`: `start_date` on day 1..=days/2 of the window, no events
//!   before; the first 7 days are reading-heavy (3-6 opening loads, loads on
//!   45% of turns, 30% of the usual change rate).
//! * `migration`: in 60% of sessions a fan-out of 8-24 *distinct* sub-agents
//!   in parallel, 92% of them ending in an accepted change.
//!
//! Gaming (people get an intensity `g` uniform in `[0.5, 1.5] ×`
//! [`SynthConfig::intensity`]; waste goes into 85% of their sessions):
//!
//! * `agent_spammer`: `round(U(8,16)·g)` (≥ 3) spawns of the person's *same*
//!   task hash per session; each spammed agent makes at most one tiny
//!   request and never produces a change.
//! * `context_reloader`: `round(U(5,12)·g)` (≥ 2) loads per session of the
//!   person's one large context (40k-120k tokens), each paid as *uncached*
//!   `input_tokens`.
//! * `prompt_looper`: one run per session of `round(U(10,25)·g)` (≥ 4)
//!   consecutive requests with the same fresh (non-common) task hash.
//! * `verbose_burner`: output tokens × `1 + U(6,14)·g` (capped at 64k per
//!   request); no more changes than regular.
//! * `leaderboard_sprinter`: normal, but 1.8 × sessions on Wed-Fri, and
//!   90% of sessions starting in `[Wednesday 17:00, Friday 17:00)` UTC (the
//!   48 h before the weekly snapshot, Friday 17:00 UTC) carry spawn spam,
//!   reloads and/or a loop (each with 60%, at least one).
//! * `change_padder`: `round(U(8,20)·g)` (≥ 3) extra trivial accepted changes
//!   per session (1-3 lines, each after a cheap request, 45% reverted later)
//!   plus `0.8·g` × more turns, so tokens per change look normal.
//! * `subtle`: two of {spawn spam, reload, loop, verbose, padding}, chosen per
//!   person, each applied to 60% of sessions at `g / 3` (lower minimums:
//!   2 spawns, 2 reloads, 3 loop requests, 2 pads, ≥ 2× output).
//!
//! Gaming people ([`SynthConfig::archetype_counts`]): `round(users ×
//! gaming_share)`, at least one per gaming archetype when `users >= 100` and
//! `gaming_share > 0`, none when `gaming_share == 0`. Archetypes and teams
//! are assigned to people by seeded shuffles, independently.
//!
//! # Scenarios
//!
//! Options for organisations unlike the default one (all off by default,
//! so default output is unchanged; `goodhart synth` exposes each):
//!
//! * [`SynthConfig::gaming_share`] up to 1 (e.g. 0.25 or 0.30: gaming is
//!   common) and [`SynthConfig::intensity`] down to (0, 1] (0.5: gamers at
//!   half the default intensity).
//! * [`SynthConfig::team_gaming`] ([`TeamGaming`]): `round(team size ×
//!   share)` members of one team get one gaming archetype (the team's first
//!   non-gaming members in user order are converted); agent spammers of such
//!   a team re-spawn one of the team's standard sub-agents. `share` 0.15 gives
//!   several same-kind gamers in one team, 0.67 a team where two thirds game.
//! * [`SynthConfig::office_hours`]: no sessions on Saturdays and Sundays.
//! * [`SynthConfig::agent_heavy`]: 4 × longer system prompts and 2 × the
//!   turns (most input is cached conversation); `context_load` rows carry
//!   no tokens, legitimate loads are cache-written by the next request, and
//!   a reloader re-reads a file of the session (or the big context) whose
//!   tokens (at least 8k) are billed uncached on the next request.
//! * [`LegitMix::migration`]: the weight of bulk migrations among the
//!   legitimate people (e.g. 0.30 for an organisation in a migration).
#![deny(missing_docs)]

mod archetype;
mod config;
mod gen;
mod plan;
mod write;

pub use archetype::Archetype;
pub use config::{LegitMix, Model, SynthConfig, TeamGaming, TeamSpec, MAX_SESSIONS_PER_USER_DAY};
pub use write::events_schema;

use gen::{DayOut, Ev, SessionLabel};
use plan::Plan;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DAY_US: i64 = 86_400_000_000;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A [`SynthConfig`] setting is invalid.
    #[error("invalid synth setting `{setting}`: {reason}")]
    Config {
        /// The setting, e.g. `gaming_share` or `teams[2].weight`.
        setting: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The output directory already holds generated events.
    #[error(
        "output directory {path} already contains events; choose a new or empty directory (goodhart never deletes files)"
    )]
    OutputNotEmpty {
        /// The `events` directory found.
        path: PathBuf,
    },
    /// A file or directory could not be created or written.
    #[error("cannot write {path}: {source}; check the output directory exists and is writable")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("writing Parquet file {path} failed: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed (a bug in the generator).
    #[error("building the Arrow batch for {path} failed: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// What [`generate`] wrote, for the CLI to print.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SynthSummary {
    /// People.
    pub users: usize,
    /// People with a gaming archetype.
    pub gaming_users: usize,
    /// Sessions.
    pub sessions: usize,
    /// Sessions with injected waste.
    pub gaming_sessions: usize,
    /// Event rows written.
    pub events: u64,
    /// Every file written, events partitions first (date order), then
    /// `users.parquet`, `labels.parquet`, `session_labels.parquet`,
    /// `waste_labels.parquet`.
    pub files: Vec<PathBuf>,
    /// People per archetype, in [`Archetype::ALL`] order (zeros included).
    pub archetypes: Vec<(Archetype, usize)>,
    /// First and last partition date written (None when no events).
    pub dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

impl std::fmt::Display for SynthSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} users ({} gaming), {} sessions ({} gaming), {} events, {} files",
            self.users,
            self.gaming_users,
            self.sessions,
            self.gaming_sessions,
            self.events,
            self.files.len()
        )?;
        if let Some((a, b)) = self.dates {
            writeln!(f, "dates {a} .. {b}")?;
        }
        for (a, n) in &self.archetypes {
            writeln!(f, "  {:<22}{n}", a.as_str())?;
        }
        Ok(())
    }
}

fn epoch() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")
}

/// Generates the organisation described by `cfg` into directory `out`.
///
/// See the crate docs for the files written. Fails without writing anything
/// when `cfg` is invalid or `out/events` already exists and is not empty.
pub fn generate(cfg: &SynthConfig, out: &Path) -> Result<SynthSummary, SynthError> {
    let plan = Plan::new(cfg)?;
    let events_dir = out.join("events");
    if let Ok(mut rd) = std::fs::read_dir(&events_dir) {
        if rd.next().is_some() {
            return Err(SynthError::OutputNotEmpty { path: events_dir });
        }
    }
    std::fs::create_dir_all(&events_dir).map_err(|source| SynthError::Io {
        path: events_dir.clone(),
        source,
    })?;

    let start_day = (cfg.start - epoch()).num_days();
    let mut pending: BTreeMap<i64, Vec<Ev>> = BTreeMap::new();
    let mut sessions: Vec<SessionLabel> = Vec::new();
    let mut files = Vec::new();
    let mut events = 0u64;
    let mut dates = None;
    let mut flush = |day: i64, mut evs: Vec<Ev>| -> Result<(), SynthError> {
        evs.par_sort_unstable_by_key(|e| (e.ts, e.sess, e.seq));
        let date = epoch() + chrono::Days::new(day as u64);
        let dir = events_dir.join(format!("date={}", date.format("%Y-%m-%d")));
        std::fs::create_dir_all(&dir).map_err(|source| SynthError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join("part-0.parquet");
        write::write_events(&path, &plan, &evs)?;
        events += evs.len() as u64;
        files.push(path);
        dates = Some(match dates {
            None => (date, date),
            Some((a, _)) => (a, date),
        });
        Ok(())
    };
    for day in 0..cfg.days {
        let outs: Vec<DayOut> = plan
            .users
            .par_iter()
            .map(|u| gen::user_day(&plan, u, day))
            .collect();
        for o in outs {
            sessions.extend(o.sessions);
            for e in o.events {
                pending.entry(e.ts.div_euclid(DAY_US)).or_default().push(e);
            }
        }
        // Every later session starts on a later day, so dates up to today are
        // complete.
        let today = start_day + day as i64;
        while let Some(entry) = pending.first_entry() {
            if *entry.key() > today {
                break;
            }
            let (d, evs) = entry.remove_entry();
            flush(d, evs)?;
        }
    }
    while let Some((d, evs)) = pending.pop_first() {
        flush(d, evs)?;
    }

    sessions.sort_unstable_by_key(|s| s.sess);
    for (name, f) in [
        ("users.parquet", 0),
        ("labels.parquet", 1),
        ("session_labels.parquet", 2),
    ] {
        let path = out.join(name);
        match f {
            0 => write::write_users(&path, &plan)?,
            1 => write::write_labels(&path, &plan)?,
            _ => write::write_session_labels(&path, &plan, &sessions)?,
        }
        files.push(path);
    }
    // The waste truth (#11), a hidden label like the others.
    let path = out.join("waste_labels.parquet");
    write::write_waste_labels(&path, &plan, &sessions)?;
    files.push(path);
    let archetypes: Vec<(Archetype, usize)> = Archetype::ALL
        .iter()
        .map(|a| (*a, plan.users.iter().filter(|u| u.archetype == *a).count()))
        .collect();
    Ok(SynthSummary {
        users: plan.users.len(),
        gaming_users: plan
            .users
            .iter()
            .filter(|u| u.archetype.is_gaming())
            .count(),
        sessions: sessions.len(),
        gaming_sessions: sessions.iter().filter(|s| s.gaming).count(),
        events,
        files,
        archetypes,
        dates,
    })
}
