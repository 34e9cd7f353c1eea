//! The scoring pipeline: cohorts → pattern detectors → multivariate support
//! → combination → explanations → output tables.

use crate::cohort::{self, CohortMethod, Cohorts};
use crate::columns;
use crate::ecod::EcodParams;
use crate::finding::CohortFinding;
use crate::iforest::IsolationForestParams;
use crate::options::{ScoreOptions, Severity};
use crate::patterns::{
    decayed_sum, CohortRows, FeatureColumns, FeatureEvidence, FeatureSpec, PatternModel,
    PatternParams, PatternSpec, ORGANISATION,
};
use crate::robust::{total_key, Baseline, PeerStats};
use crate::DetectError;
use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, StringArray, StringBuilder, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use goodhart_core::Evidence;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa::ParamGuard;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

const USERS: &str = "user feature table";
const SESSIONS: &str = "session feature table";

/// One pattern's contribution to a user's score, explained: the
/// [`Evidence`] an alert carries (the user's value of the pattern's strongest
/// feature, the peers' typical value and 95th percentile, the sessions that
/// show it, one line for humans) plus the detector's own figures.
///
/// The evidence's fields read through (`explanation.pattern`), as `Deref`
/// makes an `Explanation` usable wherever its evidence is.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// What an alert carries of this explanation.
    pub evidence: Evidence,
    /// Number of peers behind `typical`, `p95` and `percentile`.
    pub peers: usize,
    /// Pattern strength (robust-z units after materiality gating).
    pub strength: f64,
    /// Whether the pattern fired on its own (`strength >= fire_strength`).
    /// Patterns that did not are listed after the fired ones, as context,
    /// and their text says so.
    pub fired: bool,
}

impl std::ops::Deref for Explanation {
    type Target = Evidence;

    fn deref(&self) -> &Evidence {
        &self.evidence
    }
}

/// One flat JSON object (the `explanations` column of `user_scores.parquet`),
/// its fields in the order they have always had: the evidence's figures,
/// then the detector's, then the sessions and the sentence.
impl Serialize for Explanation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let e = &self.evidence;
        let mut o = s.serialize_struct("Explanation", 11)?;
        o.serialize_field("pattern", &e.pattern)?;
        o.serialize_field("feature", &e.feature)?;
        o.serialize_field("value", &e.value)?;
        o.serialize_field("typical", &e.typical)?;
        o.serialize_field("p95", &e.p95)?;
        o.serialize_field("percentile", &e.percentile)?;
        o.serialize_field("peers", &self.peers)?;
        o.serialize_field("strength", &self.strength)?;
        o.serialize_field("fired", &self.fired)?;
        o.serialize_field("sessions", &e.sessions)?;
        o.serialize_field("text", &e.text)?;
        o.end()
    }
}

/// A pattern that could not be evaluated for a user, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotEvaluated {
    /// Pattern name.
    pub pattern: String,
    /// Why (absent columns, or no value for this user).
    pub reason: String,
}

/// The multivariate detectors' view of a user (supporting evidence only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultivariateEvidence {
    /// Isolation-forest score (higher = more anomalous), if run.
    pub iforest: Option<f64>,
    /// ECOD score (higher = more anomalous), if run.
    pub ecod: Option<f64>,
    /// Larger of the two scores' organisation-wide robust z.
    pub z: f64,
    /// Evidence added to the user's combined evidence (robust-z units),
    /// `min(multivariate_max, 0.25 * max(0, z - 3))`.
    pub evidence: f64,
}

/// Everything behind one user's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserExplanation {
    /// The user.
    pub user_id: String,
    /// The peer cohort the user was compared with.
    pub cohort: String,
    /// Score 0–100.
    pub score: f64,
    /// Severity of the score.
    pub severity: Severity,
    /// Severity at or above the alert severity.
    pub alert: bool,
    /// Combined evidence (robust-z units) behind the score.
    pub evidence: f64,
    /// Top contributing patterns, strongest first: the fired ones, then
    /// weaker ones as context (`fired = false`).
    pub patterns: Vec<Explanation>,
    /// Multivariate support (absent when not run).
    pub multivariate: Option<MultivariateEvidence>,
    /// Patterns that could not be evaluated, and why.
    pub not_evaluated: Vec<NotEvaluated>,
}

/// Output of [`score`].
#[derive(Debug, Clone)]
pub struct Scores {
    /// One row per user, by decreasing score then `user_id`: `user_id`,
    /// `cohort`, `score` (Float64 0–100), `severity`, `top_patterns` (comma
    /// list of firing patterns, strongest first), `explanations` (JSON of
    /// [`UserExplanation`]), `alert` (Boolean), `evidence` (Float64),
    /// `evidence_<pattern>` (Float64 per pattern, null = not evaluated),
    /// `multivariate` (Float64, evidence added by the multivariate
    /// detectors), then every column of the input user table.
    pub users: RecordBatch,
    /// One row per session, by decreasing score then `user_id`,
    /// `session_id`: `session_id`, `user_id`, `cohort`, `score`, `severity`,
    /// `patterns` (comma list), `evidence_<pattern>` for the patterns with
    /// session features, then every column of the input session table.
    pub sessions: RecordBatch,
    /// Per user explanations, in the order of `users`.
    pub explanations: Vec<UserExplanation>,
    /// How cohorts were formed.
    pub cohort_method: CohortMethod,
    /// Cohorts whose typical member shows a pattern against the
    /// organisation, strongest first (see [`crate::finding`]).
    pub cohort_findings: Vec<CohortFinding>,
}

/// Per pattern results on one table.
struct PatternRun {
    model: Option<PatternModel>,
    /// Columns of the pattern absent from the table.
    missing: Vec<String>,
    /// Per-feature evidence, row-major (`m` values per row), kept for
    /// explanations (users); large tables (sessions) only keep the strength.
    evidence: Vec<FeatureEvidence>,
    strength: Vec<Option<f64>>,
}

impl PatternRun {
    /// Per-feature evidence of row `r` (empty when not kept).
    fn evidence(&self, r: usize) -> &[FeatureEvidence] {
        let m = self.model.as_ref().map_or(0, |m| m.features().len());
        self.evidence.get(r * m..(r + 1) * m).unwrap_or(&[])
    }
}

/// Numeric columns of one input table in scoring row order, each read once
/// (cast to f64, reordered, NaN for null and non-finite values) and shared
/// by every detector using it: patterns share many columns (supports such
/// as `sessions`, `spawns` or `accepted`, ranking columns that are also
/// features).
struct NumericColumns {
    /// By name; `None` = absent from the table.
    cols: HashMap<String, Option<Vec<f64>>>,
}

impl NumericColumns {
    /// Reads the named columns (in parallel); errors on a non-numeric one.
    fn load<'a>(
        batch: &RecordBatch,
        table: &str,
        names: impl IntoIterator<Item = &'a str>,
        order: &[usize],
    ) -> Result<NumericColumns, DetectError> {
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        let loaded: Vec<Result<Option<Vec<f64>>, DetectError>> = names
            .par_iter()
            .map(|name| columns::opt_f64_ordered(batch, table, name, order))
            .collect();
        let mut cols = HashMap::with_capacity(names.len());
        for (name, col) in names.into_iter().zip(loaded) {
            cols.insert(name.to_string(), col?);
        }
        Ok(NumericColumns { cols })
    }

    /// A column (`None` when absent from the table).
    ///
    /// # Panics
    /// If `name` was not loaded.
    fn get(&self, name: &str) -> Option<&[f64]> {
        self.cols
            .get(name)
            .unwrap_or_else(|| panic!("column `{name}` was not loaded"))
            .as_deref()
    }
}

/// The columns the features read: values and supports.
fn feature_column_names(features: &[FeatureSpec]) -> impl Iterator<Item = &str> {
    features.iter().flat_map(|f| {
        std::iter::once(f.column.as_str())
            .chain(f.fallback.as_ref().map(|fb| fb.0.as_str()))
            .chain(f.support.as_deref())
    })
}

/// Fits one pattern detector on a table's columns and scores its rows
/// (row `r` against cohort `targets[r]`).
fn run_pattern(
    cols: &NumericColumns,
    features: &[FeatureSpec],
    targets: &[usize],
    groups: &CohortRows,
    detailed: bool,
    secondary_weight: f64,
) -> Result<PatternRun, DetectError> {
    let n = targets.len();
    let m = features.len();
    let features: Vec<FeatureSpec> = features
        .iter()
        .map(|f| f.resolve(|c| cols.get(c).is_some()))
        .collect();
    let features = &features[..];
    let values: Vec<Option<&[f64]>> = features.iter().map(|f| cols.get(&f.column)).collect();
    let missing: Vec<String> = features
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| f.column.clone())
        .collect();
    if missing.len() == m {
        return Ok(PatternRun {
            model: None,
            missing,
            evidence: vec![],
            strength: vec![None; n],
        });
    }
    let fc = FeatureColumns {
        values,
        supports: features
            .iter()
            .map(|f| f.support.as_deref().and_then(|s| cols.get(s)))
            .collect(),
        rows: n,
    };
    let params = PatternParams::new(features.to_vec())
        .percentiles(detailed)
        .secondary_weight(secondary_weight)
        .check()?;
    let train = DatasetBase::new(fc, groups);
    let model = params.fit(&train)?;
    let rows = DatasetBase::new(train.records, targets);
    let (evidence, strength) = if detailed {
        // The evidence behind each strength is kept for the explanations.
        let evidence = model.evidence_columns(&rows.records, targets);
        let strength = evidence
            .chunks_exact(m)
            .map(|e| model.strength(e))
            .collect();
        (evidence, strength)
    } else {
        (Vec::new(), model.predict(&rows))
    };
    Ok(PatternRun {
        model: Some(model),
        missing,
        evidence,
        strength,
    })
}

/// Scores users and sessions for tokenmaxxing.
///
/// `users` and `sessions` are the feature tables of `goodhart-features`
/// (see `docs/features.md`): columns are addressed by name, extra columns
/// are carried through, missing feature columns disable the patterns that
/// need them (the explanations say so). `users` needs a unique Utf8
/// `user_id`; `sessions` needs `session_id` and `user_id`.
// One piece: the scoring stage in order (users, behavioural groups, pattern detectors, cohort
// findings, multivariate support, explanations, tables), each section headed by a comment; later
// sections read the columns and models the earlier ones built.
pub fn score(
    users: &RecordBatch,
    sessions: &RecordBatch,
    opts: &ScoreOptions,
) -> Result<Scores, DetectError> {
    opts.check()?;
    // ---- users, in user_id order (input row order never matters) --------
    let user_arr = columns::utf8(users, USERS, "user_id")?;
    let user_ids = columns::str_values(&user_arr);
    let n = user_ids.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| user_ids[a].cmp(user_ids[b]));
    if let Some(w) = order.windows(2).find(|w| user_ids[w[0]] == user_ids[w[1]]) {
        return Err(DetectError::DuplicateId {
            table: USERS.into(),
            column: "user_id".into(),
            id: user_ids[w[0]].to_string(),
        });
    }
    let ids: Vec<&str> = order.iter().map(|&i| user_ids[i]).collect();
    let teams = columns::opt_strings(users, USERS, "team")?;
    let user_cols = NumericColumns::load(
        users,
        USERS,
        opts.patterns.iter().flat_map(|p| {
            feature_column_names(&p.user_features).chain(p.requires.as_ref().map(|r| r.0.as_str()))
        }),
        &order,
    )?;

    // Behavioural groups are learned from the unremarkable users, and so
    // are their baselines (`learn_from`); roster teams learn from everyone.
    let (cohorts, learn_from) = make_cohorts(users, teams, &order, &user_cols, opts)?;
    let user_groups = CohortRows::new(&cohorts.ids, |u| learn_from.as_ref().is_none_or(|l| l[u]));

    // ---- pattern detectors on users -----------------------------------
    let mut user_runs: Vec<PatternRun> = opts
        .patterns
        .par_iter()
        .map(|p| {
            run_pattern(
                &user_cols,
                &p.user_features,
                &cohorts.ids,
                &user_groups,
                true,
                opts.secondary_weight,
            )
        })
        .collect::<Result<_, _>>()?;
    apply_weights(&user_cols, opts, &mut user_runs);

    // ---- cohort-level findings -------------------------------------------
    // Only for roster teams: behavioural groups are learned from usage
    // mixes that gaming itself changes (spawns per request, loads per
    // request), so a group where most members game is an artefact of the
    // clustering, not an organisational unit to report; and their baselines
    // are already learned only from users who do not fire against the
    // whole organisation (`learn_from`).
    let (cohort_findings, org_scored) = if opts.cohort_findings
        && cohorts.method == CohortMethod::Team
        && !cohorts.names.is_empty()
    {
        cohort_level(
            &user_cols,
            &cohorts,
            learn_from.as_deref(),
            opts,
            &mut user_runs,
        )?
    } else {
        (Vec::new(), vec![Vec::new(); opts.patterns.len()])
    };

    // ---- sessions ------------------------------------------------------
    let s_id_arr = columns::utf8(sessions, SESSIONS, "session_id")?;
    let s_user_arr = columns::utf8(sessions, SESSIONS, "user_id")?;
    let s_ids = columns::str_values(&s_id_arr);
    let s_users = columns::str_values(&s_user_arr);
    let ns = s_ids.len();
    let s_sorted = order_sessions(&ids, &s_users, &s_ids);
    let s_order = &s_sorted.order;
    let s_cohort: Vec<usize> = s_sorted
        .user
        .iter()
        .map(|u| u.map_or(ORGANISATION, |u| cohorts.ids[u]))
        .collect();
    let s_groups = CohortRows::new(&s_cohort, |k| match (&learn_from, s_sorted.user[k]) {
        (None, _) => true,
        (Some(l), u) => u.is_some_and(|u| l[u]),
    });
    let s_cols = NumericColumns::load(
        sessions,
        SESSIONS,
        opts.patterns.iter().flat_map(|p| {
            feature_column_names(&p.session_features).chain(p.session_rank.as_deref())
        }),
        s_order,
    )?;

    // ---- multivariate support, session detectors, ranking columns --------
    // Independent of each other: run side by side.
    let (mv, (session_runs, rank_cols)) = rayon::join(
        || {
            if opts.multivariate {
                multivariate(&user_runs, n, opts)
            } else {
                Ok(None)
            }
        },
        || {
            rayon::join(
                || {
                    opts.patterns
                        .par_iter()
                        .map(|p| {
                            if p.session_features.is_empty() {
                                return Ok(None);
                            }
                            let mut run = run_pattern(
                                &s_cols,
                                &p.session_features,
                                &s_cohort,
                                &s_groups,
                                false,
                                opts.secondary_weight,
                            )?;
                            for v in run.strength.iter_mut().flatten() {
                                *v *= p.weight;
                            }
                            Ok(Some(run))
                        })
                        .collect::<Result<Vec<Option<PatternRun>>, DetectError>>()
                },
                // Ranking columns (top sessions per pattern) with per-cohort p95.
                || {
                    opts.patterns
                        .par_iter()
                        .map(|p| rank_column(&s_cols, p, &s_cohort))
                        .collect::<Vec<_>>()
                },
            )
        },
    );
    let mv = mv?;
    let session_runs = session_runs?;

    // ---- combination and explanations per user --------------------------
    let explanations: Vec<UserExplanation> = (0..n)
        .into_par_iter()
        .map(|u| {
            explain_user(
                u,
                learn_from.as_ref().is_none_or(|l| l[u]),
                &org_scored,
                &ids,
                &cohorts,
                opts,
                &user_runs,
                mv.as_ref(),
                s_sorted.user_rows[u].clone(),
                &rank_cols,
                s_order,
                &s_ids,
            )
        })
        .collect();

    // ---- session scores -------------------------------------------------
    // Per session: score, and the firing patterns with their strengths,
    // strongest first.
    let s_scores: Vec<(f64, Vec<(f64, &str)>)> = (0..ns)
        .into_par_iter()
        .map(|k| {
            let mut fired: Vec<(f64, &str)> = Vec::new();
            let e = decayed_sum(
                opts.patterns
                    .iter()
                    .zip(&session_runs)
                    .filter_map(|(p, run)| {
                        let s = run.as_ref()?.strength[k]?;
                        if s >= opts.fire_strength {
                            fired.push((s, p.name.as_str()));
                        }
                        Some(s)
                    }),
                opts.secondary_weight,
            );
            fired.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            (opts.score_of(e), fired)
        })
        .collect();

    let (users_out, sessions_out) = rayon::join(
        || user_table(users, &order, &explanations, &user_runs, mv.as_ref(), opts),
        || {
            session_table(
                sessions,
                s_order,
                &s_id_arr,
                &s_user_arr,
                &s_cohort,
                &cohorts,
                &s_scores,
                &session_runs,
                opts,
            )
        },
    );
    let (users_out, sessions_out) = (users_out?, sessions_out?);
    let mut rank: Vec<usize> = (0..n).collect();
    rank.sort_by(|&a, &b| {
        explanations[b]
            .score
            .total_cmp(&explanations[a].score)
            .then(ids[a].cmp(ids[b]))
    });
    let mut slots: Vec<Option<UserExplanation>> = explanations.into_iter().map(Some).collect();
    let explanations = rank
        .iter()
        .map(|&u| slots[u].take().expect("each user once"))
        .collect();
    Ok(Scores {
        users: users_out,
        sessions: sessions_out,
        explanations,
        cohort_method: cohorts.method,
        cohort_findings,
    })
}

/// Session rows in scoring order.
struct SessionOrder {
    /// Input row of each scored row: by `user_id`, then `session_id`, then
    /// input row.
    order: Vec<usize>,
    /// Per scored row: the user's index in the sorted user ids (`None` =
    /// not in the user table).
    user: Vec<Option<usize>>,
    /// Per user: the range of its scored rows (they are contiguous).
    user_rows: Vec<Range<usize>>,
}

/// Sorts the session rows by (`user_id`, `session_id`, input row).
///
/// Rather than comparing user id strings in a sort of all rows, each row's
/// user is looked up once (hash map) and rows are bucketed by user with a
/// counting sort; only each user's few sessions are sorted by id. Sessions
/// of users absent from the user table are sorted by (user id, session id)
/// and merged in at their user id's place. Same order as a stable sort of
/// all rows by (user id, session id).
fn order_sessions(ids: &[&str], s_users: &[&str], s_ids: &[&str]) -> SessionOrder {
    let n = ids.len();
    let index: FxHashMap<&str, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut of_row: Vec<Option<usize>> = vec![None; s_users.len()];
    of_row
        .par_chunks_mut(8192)
        .zip(s_users.par_chunks(8192))
        .for_each(|(of_row, s_users)| {
            for i in 0..s_users.len() {
                // Feature tables usually list a user's sessions together.
                of_row[i] = if i > 0 && s_users[i - 1] == s_users[i] {
                    of_row[i - 1]
                } else {
                    index.get(s_users[i]).copied()
                };
            }
        });
    // Counting sort of the known rows by user (stable: input order).
    let mut start = vec![0usize; n + 1];
    for u in of_row.iter().flatten() {
        start[u + 1] += 1;
    }
    for u in 0..n {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    let mut known = vec![0usize; start[n]];
    let mut unknown: Vec<usize> = Vec::new();
    for (i, u) in of_row.iter().enumerate() {
        match u {
            Some(u) => {
                known[next[*u]] = i;
                next[*u] += 1;
            }
            None => unknown.push(i),
        }
    }
    let mut groups: Vec<&mut [usize]> = Vec::with_capacity(n);
    let mut rest: &mut [usize] = &mut known;
    for u in 0..n {
        let (g, r) = std::mem::take(&mut rest).split_at_mut(start[u + 1] - start[u]);
        groups.push(g);
        rest = r;
    }
    groups
        .par_iter_mut()
        .for_each(|g| g.sort_by(|&a, &b| s_ids[a].cmp(s_ids[b])));
    unknown.sort_by(|&a, &b| {
        s_users[a]
            .cmp(s_users[b])
            .then_with(|| s_ids[a].cmp(s_ids[b]))
    });
    // Merge: an unknown user's rows go right before the first known user id
    // that sorts after it.
    let mut order = Vec::with_capacity(s_users.len());
    let mut user = Vec::with_capacity(s_users.len());
    let mut user_rows = Vec::with_capacity(n);
    let mut unknown = unknown.into_iter().peekable();
    for (u, &id) in ids.iter().enumerate() {
        while let Some(i) = unknown.next_if(|&i| s_users[i] < id) {
            order.push(i);
            user.push(None);
        }
        let first = order.len();
        order.extend_from_slice(&known[start[u]..start[u + 1]]);
        user.resize(order.len(), Some(u));
        user_rows.push(first..order.len());
    }
    for i in unknown {
        order.push(i);
        user.push(None);
    }
    SessionOrder {
        order,
        user,
        user_rows,
    }
}

/// Multiplies user-level pattern strengths by the pattern's `weight` and
/// its `requires` gate.
fn apply_weights(cols: &NumericColumns, opts: &ScoreOptions, runs: &mut [PatternRun]) {
    for (p, run) in opts.patterns.iter().zip(runs.iter_mut()) {
        let required = p
            .requires
            .as_ref()
            .and_then(|(c, t)| cols.get(c).map(|v| (v, *t)));
        for (u, s) in run.strength.iter_mut().enumerate() {
            if let Some(v) = s {
                *v *= p.weight * required.map_or(1.0, |(col, t)| requirement_gate(col[u], t));
            }
        }
    }
}

/// Ramp from 0 at half the threshold to 1 at the threshold; null is 0.
fn requirement_gate(x: f64, t: f64) -> f64 {
    if x.is_finite() {
        ((x - 0.5 * t) / (0.5 * t)).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Cohort-level findings ([`crate::finding`]): the organisation-wide
/// detectors, each cohort's typical member against them, and for a flagged
/// (cohort, pattern) its members' strength raised to their strength against
/// the organisation when larger. Returns the findings (strongest first) and,
/// per pattern, which users are now scored against the organisation.
fn cohort_level(
    cols: &NumericColumns,
    cohorts: &Cohorts,
    learn_from: Option<&[bool]>,
    opts: &ScoreOptions,
    runs: &mut [PatternRun],
) -> Result<(Vec<CohortFinding>, Vec<Vec<bool>>), DetectError> {
    let n = cohorts.ids.len();
    let org = vec![ORGANISATION; n];
    let groups = CohortRows::new(&org, |u| learn_from.is_none_or(|l| l[u]));
    let mut org_runs: Vec<PatternRun> = opts
        .patterns
        .par_iter()
        .map(|p| {
            run_pattern(
                cols,
                &p.user_features,
                &org,
                &groups,
                true,
                opts.secondary_weight,
            )
        })
        .collect::<Result<_, _>>()?;
    apply_weights(cols, opts, &mut org_runs);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); cohorts.names.len()];
    for (u, &c) in cohorts.ids.iter().enumerate() {
        if c != ORGANISATION {
            members[c].push(u);
        }
    }
    let mut findings = Vec::new();
    let mut org_scored = vec![Vec::new(); opts.patterns.len()];
    for (c, members) in members.iter().enumerate() {
        if members.len() < opts.min_cohort_size {
            continue;
        }
        let mut in_cohort = vec![false; n];
        for &u in members {
            in_cohort[u] = true;
        }
        for (pi, p) in opts.patterns.iter().enumerate() {
            let Some(model) = &org_runs[pi].model else {
                continue;
            };
            let values: Vec<Option<&[f64]>> = model
                .features()
                .iter()
                .map(|f| cols.get(&f.column))
                .collect();
            let required = p
                .requires
                .as_ref()
                .and_then(|(col, t)| cols.get(col).map(|v| (v, *t)));
            let Some(f) = crate::finding::cohort_finding(
                &cohorts.names[c],
                members,
                p,
                model,
                &values,
                required,
                opts,
                &in_cohort,
            ) else {
                continue;
            };
            findings.push(f);
            let m = model.features().len();
            let scored: &mut Vec<bool> = &mut org_scored[pi];
            if scored.is_empty() {
                *scored = vec![false; n];
            }
            for &u in members {
                let (Some(o), own) = (org_runs[pi].strength[u], runs[pi].strength[u]) else {
                    continue;
                };
                if own.is_none_or(|s| o > s) {
                    runs[pi].strength[u] = Some(o);
                    let ev = org_runs[pi].evidence[u * m..(u + 1) * m].to_vec();
                    runs[pi].evidence[u * m..(u + 1) * m].copy_from_slice(&ev);
                    scored[u] = true;
                }
            }
        }
    }
    findings.sort_by(|a, b| {
        b.strength
            .total_cmp(&a.strength)
            .then_with(|| a.cohort.cmp(&b.cohort))
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    Ok((findings, org_scored))
}

/// Cohorts, and for behavioural groups which users the baselines learn from.
type CohortsAndLearnMask = (Cohorts, Option<Vec<bool>>);

fn make_cohorts(
    users: &RecordBatch,
    teams: Option<Vec<Option<String>>>,
    order: &[usize],
    user_cols: &NumericColumns,
    opts: &ScoreOptions,
) -> Result<CohortsAndLearnMask, DetectError> {
    if let Some(teams) = teams {
        if teams.iter().any(Option::is_some) {
            let teams: Vec<Option<String>> = order.iter().map(|&i| teams[i].clone()).collect();
            return Ok((cohort::from_teams(&teams, opts.min_cohort_size), None));
        }
    }
    let n = order.len();
    let column = |name: &str| columns::opt_f64_ordered(users, USERS, name, order);
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for spec in &opts.mix_features {
        let col = match spec.split_once('/') {
            Some((a, b)) => match (column(a.trim())?, column(b.trim())?) {
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .zip(&b)
                        .map(|(a, b)| if *b > 0.0 { a / b } else { f64::NAN })
                        .collect(),
                ),
                _ => None,
            },
            None => column(spec)?,
        };
        if let Some(c) = col {
            if c.iter().any(|v| v.is_finite()) {
                cols.push(c);
            }
        }
    }
    let mut mix = Array2::from_elem((n, cols.len()), f64::NAN);
    for (j, c) in cols.into_iter().enumerate() {
        mix.column_mut(j).assign(&Array1::from(c));
    }
    // Learn the groups from the unremarkable users only: score everybody
    // against the whole organisation first and leave out whoever fires.
    let org = vec![ORGANISATION; n];
    let everyone = CohortRows::new(&org, |_| true);
    let mut runs: Vec<PatternRun> = opts
        .patterns
        .par_iter()
        .map(|p| {
            run_pattern(
                user_cols,
                &p.user_features,
                &org,
                &everyone,
                false,
                opts.secondary_weight,
            )
        })
        .collect::<Result<_, _>>()?;
    apply_weights(user_cols, opts, &mut runs);
    let fit_rows: Vec<bool> = (0..n)
        .map(|u| {
            decayed_sum(
                runs.iter().filter_map(|r| r.strength[u]),
                opts.secondary_weight,
            ) < opts.fire_strength
        })
        .collect();
    let c = cohort::from_behaviour(
        &mix,
        &fit_rows,
        opts.min_cohort_size,
        opts.clusters,
        opts.seed,
    )?;
    let mask = (c.method == CohortMethod::Behaviour).then_some(fit_rows);
    Ok((c, mask))
}

/// Isolation forest + ECOD over the users' (positive, clipped) robust z of
/// every available pattern feature. Returns per user (iforest, ecod, z).
struct Mv {
    iforest: Vec<f64>,
    ecod: Vec<f64>,
    z: Vec<f64>,
}

fn multivariate(
    runs: &[PatternRun],
    n: usize,
    opts: &ScoreOptions,
) -> Result<Option<Mv>, DetectError> {
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for run in runs {
        let Some(model) = &run.model else { continue };
        for j in 0..model.features().len() {
            if (0..n).any(|u| run.evidence(u)[j].value.is_some()) {
                cols.push((0..n).map(|u| run.evidence(u)[j].z.max(0.0)).collect());
            }
        }
    }
    if cols.is_empty() || n < 2 * opts.min_cohort_size.max(8) {
        return Ok(None);
    }
    let x = Array2::from_shape_fn((n, cols.len()), |(u, j)| cols[j][u]);
    // Both detectors through linfa: parameters checked first, then `Fit` on
    // the users' matrix and `Predict` of the same rows.
    let forest_params = IsolationForestParams::new().seed(opts.seed).check()?;
    let ds = DatasetBase::new(x.view(), ());
    let (iforest, ecod) = rayon::join(
        || -> Result<Vec<f64>, DetectError> {
            let forest = Fit::fit(&forest_params, &ds)?;
            let scores: Array1<f64> = forest.predict(&ds.records);
            Ok(scores.to_vec())
        },
        || -> Result<Vec<f64>, DetectError> {
            let ecod = Fit::fit(&EcodParams, &ds)?;
            let scores: Array1<f64> = ecod.predict(&ds.records);
            Ok(scores.to_vec())
        },
    );
    let (iforest, ecod) = (iforest?, ecod?);
    let zs = |s: &[f64]| -> Vec<f64> {
        match Baseline::learn_summary(s, 0.01) {
            Some(b) => s.iter().map(|&v| b.z(v)).collect(),
            None => vec![0.0; s.len()],
        }
    };
    let zi = zs(&iforest);
    let ze = zs(&ecod);
    let z = zi.iter().zip(&ze).map(|(a, b)| a.max(*b)).collect();
    Ok(Some(Mv { iforest, ecod, z }))
}

/// A pattern's session ranking column and each cohort's sorted values.
struct RankColumn<'a> {
    /// The column, in scoring order.
    values: &'a [f64],
    /// `(cohort id, the finite values of the cohort's sessions, ascending)`,
    /// by cohort id; [`ORGANISATION`]'s entry is over all sessions.
    sorted: Vec<(usize, Vec<f64>)>,
}

impl RankColumn<'_> {
    /// The p95 of the sessions of `cohort` (the organisation's for a cohort
    /// without any) without the user's own sessions `own` (the user's
    /// finite values, ascending), and how many sessions that leaves.
    fn p95_of_peers(&self, cohort: usize, own: &[f64]) -> (f64, usize) {
        let find = |c: usize| {
            self.sorted
                .binary_search_by_key(&c, |e| e.0)
                .ok()
                .map(|i| &self.sorted[i].1)
        };
        let Some(all) = find(cohort).or_else(|| find(ORGANISATION)) else {
            return (f64::NAN, 0);
        };
        // Indices of the user's values in `all` (one per value, ascending,
        // distinct: equal values take consecutive slots).
        let mut skip: Vec<usize> = Vec::with_capacity(own.len());
        for &v in own {
            let mut i = all.partition_point(|&a| a < v);
            if let Some(&last) = skip.last() {
                i = i.max(last + 1);
            }
            if i < all.len() && all[i] == v {
                skip.push(i);
            }
        }
        let m = all.len() - skip.len();
        if m == 0 {
            return (f64::NAN, 0);
        }
        // The value at rank r of `all` without the skipped indices.
        let at = |r: usize| {
            let mut i = r;
            for &k in &skip {
                if k <= i {
                    i += 1;
                } else {
                    break;
                }
            }
            all[i]
        };
        let pos = 0.95 * (m - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        (at(lo) + (at(hi) - at(lo)) * (pos - lo as f64), m)
    }
}

/// The ranking column of a pattern with each cohort's sorted values (what
/// the explanations' leave-one-out p95 is read from).
fn rank_column<'a>(
    cols: &'a NumericColumns,
    p: &PatternSpec,
    s_cohort: &[usize],
) -> Option<RankColumn<'a>> {
    let values = cols.get(p.session_rank.as_deref()?)?;
    // Cohort ids index the cohort names: small and dense.
    let mut by_cohort: Vec<Vec<f64>> = Vec::new();
    let mut any_org = false;
    for (&c, &v) in s_cohort.iter().zip(values) {
        if c == ORGANISATION {
            any_org = true;
        } else if v.is_finite() {
            if c >= by_cohort.len() {
                by_cohort.resize_with(c + 1, Vec::new);
            }
            by_cohort[c].push(v);
        }
    }
    let mut sorted: Vec<(usize, Vec<f64>)> = by_cohort
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if any_org || sorted.is_empty() {
        sorted.push((
            ORGANISATION,
            values.iter().copied().filter(|v| v.is_finite()).collect(),
        ));
    }
    for (_, v) in &mut sorted {
        v.sort_unstable_by(f64::total_cmp);
    }
    Some(RankColumn { values, sorted })
}

#[allow(clippy::too_many_arguments)]
fn explain_user(
    u: usize,
    learned: bool,
    org_scored: &[Vec<bool>],
    ids: &[&str],
    cohorts: &Cohorts,
    opts: &ScoreOptions,
    runs: &[PatternRun],
    mv: Option<&Mv>,
    sessions: Range<usize>,
    rank_cols: &[Option<RankColumn<'_>>],
    s_order: &[usize],
    s_ids: &[&str],
) -> UserExplanation {
    let cohort = cohorts.ids[u];
    let mut not_evaluated = Vec::new();
    let mut contrib: Vec<(f64, usize)> = Vec::new();
    for (pi, (p, run)) in opts.patterns.iter().zip(runs).enumerate() {
        match run.strength[u] {
            Some(s) => contrib.push((s, pi)),
            None => not_evaluated.push(NotEvaluated {
                pattern: p.name.clone(),
                reason: if run.model.is_none() {
                    format!(
                        "column(s) {} absent from the user feature table",
                        run.missing.join(", ")
                    )
                } else {
                    let cols: Vec<&str> =
                        p.user_features.iter().map(|f| f.column.as_str()).collect();
                    format!(
                        "no value of {} for this user (nothing to measure)",
                        cols.join(", ")
                    )
                },
            }),
        }
    }
    let mv_ev = mv.map(|m| {
        let z = m.z[u];
        MultivariateEvidence {
            iforest: Some(m.iforest[u]),
            ecod: Some(m.ecod[u]),
            z,
            evidence: (0.25 * (z - 3.0).max(0.0)).min(opts.multivariate_max),
        }
    });
    let evidence = decayed_sum(contrib.iter().map(|c| c.0), opts.secondary_weight)
        + mv_ev.as_ref().map_or(0.0, |m| m.evidence);
    let score = opts.score_of(evidence);
    let severity = opts.thresholds.severity(score);
    // Strongest first: the fired patterns (strength >= fire_strength) come
    // before the context ones.
    contrib.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let patterns = contrib
        .iter()
        .filter(|c| c.0 > 0.0)
        .take(opts.max_explanations)
        .map(|&(strength, pi)| {
            explain_pattern(
                u,
                learned,
                // Members of a cohort flagged for this pattern who were
                // scored against the organisation are explained against it.
                if org_scored[pi].get(u) == Some(&true) {
                    ORGANISATION
                } else {
                    cohort
                },
                strength,
                &opts.patterns[pi],
                &runs[pi],
                sessions.clone(),
                rank_cols[pi].as_ref(),
                s_order,
                s_ids,
                opts,
            )
        })
        .collect();
    UserExplanation {
        user_id: ids[u].to_string(),
        cohort: cohorts.name(u).to_string(),
        score,
        severity,
        alert: severity >= opts.alert_severity,
        evidence,
        patterns,
        multivariate: mv_ev,
        not_evaluated,
    }
}

/// Prefix of the text of a pattern that did not fire on its own.
pub const CONTEXT_PREFIX: &str = "context, did not fire on its own: ";

#[allow(clippy::too_many_arguments)]
fn explain_pattern(
    u: usize,
    learned: bool,
    cohort: usize,
    strength: f64,
    p: &PatternSpec,
    run: &PatternRun,
    sessions: Range<usize>,
    rank: Option<&RankColumn<'_>>,
    s_order: &[usize],
    s_ids: &[&str],
    opts: &ScoreOptions,
) -> Explanation {
    let model = run.model.as_ref().expect("evaluated pattern has a model");
    let ev = run.evidence(u);
    // Strongest feature (first on ties) among the available ones.
    let j = (0..ev.len())
        .filter(|&j| ev[j].value.is_some())
        .max_by(|&a, &b| ev[a].evidence.total_cmp(&ev[b].evidence).then(b.cmp(&a)))
        .unwrap_or(0);
    let spec = &model.features()[j];
    let value = ev[j].value.unwrap_or(f64::NAN);
    // Typical value and p95 of the *peers*: the user's own value is left
    // out of the cohort (when it was learned from), so a reviewer never
    // reads "colleagues do it too" about a pattern only the user shows.
    let peers = match model.baseline(cohort, j) {
        Some(b) => b.raw.among_peers(value, learned),
        None => PeerStats {
            typical: f64::NAN,
            p95: f64::NAN,
            percentile: f64::NAN,
            peers: 0,
        },
    };
    let typical_text = spec.unit.format(peers.typical);
    let p95_text = spec.unit.format(peers.p95);
    let phrase = PatternSpec::render(
        &spec.phrase,
        &["value", "typical", "p95", "percentile", "feature"],
        |i| match i {
            0 => spec.unit.format(value),
            1 => typical_text.clone(),
            2 => p95_text.clone(),
            3 => format!("{:.0}", peers.percentile),
            _ => spec.column.clone(),
        },
    );
    let mut text = format!(
        "{phrase} ({} peer{}{}: typical {typical_text}, p95 {p95_text})",
        peers.peers,
        if peers.peers == 1 { "" } else { "s" },
        if cohort == ORGANISATION {
            " across the organisation"
        } else {
            ""
        }
    );
    let mut top: Vec<String> = Vec::new();
    if let Some(rank) = rank {
        let vals = rank.values;
        let mut own: Vec<f64> = sessions
            .clone()
            .map(|k| vals[k])
            .filter(|v| v.is_finite())
            .collect();
        let mut cand: Vec<(f64, &str)> = sessions
            .filter(|&k| vals[k].is_finite() && vals[k] > 0.0)
            .map(|k| (vals[k], s_ids[s_order[k]]))
            .collect();
        cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        cand.truncate(opts.top_sessions);
        if let Some(&(sv, sid)) = cand.first() {
            own.sort_unstable_by(f64::total_cmp);
            let (p95, _) = rank.p95_of_peers(cohort, &own);
            let top_session = PatternSpec::render(&p.session_phrase, &["svalue"], |_| {
                p.session_rank_unit.format(sv)
            });
            text = format!(
                "{top_session} in session {sid} (p95 of peers' sessions: {}); {text}",
                p.session_rank_unit.format(p95)
            );
        }
        top = cand.into_iter().map(|c| c.1.to_string()).collect();
    }
    let fired = strength >= opts.fire_strength;
    if !fired {
        text.insert_str(0, CONTEXT_PREFIX);
    }
    Explanation {
        evidence: Evidence {
            pattern: p.name.clone(),
            feature: spec.column.clone(),
            value,
            typical: peers.typical,
            p95: peers.p95,
            percentile: peers.percentile,
            sessions: top,
            text,
        },
        peers: peers.peers,
        strength,
        fired,
    }
}

fn user_table(
    users: &RecordBatch,
    order: &[usize],
    ex: &[UserExplanation],
    runs: &[PatternRun],
    mv: Option<&Mv>,
    opts: &ScoreOptions,
) -> Result<RecordBatch, DetectError> {
    let n = order.len();
    let mut rank: Vec<usize> = (0..n).collect();
    rank.sort_by(|&a, &b| {
        ex[b]
            .score
            .total_cmp(&ex[a].score)
            .then(ex[a].user_id.cmp(&ex[b].user_id))
    });
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |f: Field, c: ArrayRef| {
        fields.push(f);
        cols.push(c);
    };
    push(
        Field::new("user_id", DataType::Utf8, false),
        Arc::new(utf8_array(rank.iter().map(|&u| ex[u].user_id.as_str()))),
    );
    push(
        Field::new("cohort", DataType::Utf8, false),
        Arc::new(utf8_array(rank.iter().map(|&u| ex[u].cohort.as_str()))),
    );
    push(
        Field::new("score", DataType::Float64, false),
        Arc::new(Float64Array::from_iter_values(
            rank.iter().map(|&u| ex[u].score),
        )),
    );
    push(
        Field::new("severity", DataType::Utf8, false),
        Arc::new(utf8_array(rank.iter().map(|&u| ex[u].severity.as_str()))),
    );
    push(
        Field::new("top_patterns", DataType::Utf8, false),
        Arc::new(StringArray::from_iter_values(rank.iter().map(|&u| {
            ex[u]
                .patterns
                .iter()
                .filter(|e| e.strength >= opts.fire_strength)
                .map(|e| e.pattern.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }))),
    );
    // Serialising the explanations is the largest part of this table:
    // rows in parallel (each row's JSON is independent).
    let json: Vec<String> = rank
        .par_iter()
        .map(|&u| {
            serde_json::to_string(&ex[u])
                .map_err(|e| DetectError::Model(format!("explanation JSON: {e}")))
        })
        .collect::<Result<_, _>>()?;
    push(
        Field::new("explanations", DataType::Utf8, false),
        Arc::new(utf8_array(json.iter().map(String::as_str))),
    );
    push(
        Field::new("alert", DataType::Boolean, false),
        Arc::new(BooleanArray::from(
            rank.iter().map(|&u| ex[u].alert).collect::<Vec<_>>(),
        )),
    );
    push(
        Field::new("evidence", DataType::Float64, false),
        Arc::new(Float64Array::from_iter_values(
            rank.iter().map(|&u| ex[u].evidence),
        )),
    );
    for (p, run) in opts.patterns.iter().zip(runs) {
        push(
            Field::new(format!("evidence_{}", p.name), DataType::Float64, true),
            Arc::new(Float64Array::from(
                rank.iter().map(|&u| run.strength[u]).collect::<Vec<_>>(),
            )),
        );
    }
    push(
        Field::new("multivariate", DataType::Float64, true),
        Arc::new(Float64Array::from(
            rank.iter()
                .map(|&u| mv.map(|_| ex[u].multivariate.as_ref().map_or(0.0, |m| m.evidence)))
                .collect::<Vec<_>>(),
        )),
    );
    let idx = UInt32Array::from(rank.iter().map(|&u| order[u] as u32).collect::<Vec<_>>());
    append_input(users, &idx, &mut fields, &mut cols)?;
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// A Utf8 array of `values`, its buffers sized exactly up front (arrow's
/// `from_iter_values` grows the value buffer by doubling, copying it each
/// time: a large part of building 200k-row string columns).
fn utf8_array<'a>(values: impl Iterator<Item = &'a str> + Clone) -> StringArray {
    let (n, bytes) = values
        .clone()
        .fold((0, 0), |(n, bytes), v| (n + 1, bytes + v.len()));
    let mut b = StringBuilder::with_capacity(n, bytes);
    for v in values {
        b.append_value(v);
    }
    b.finish()
}

/// Appends the input's columns (reordered by `idx`), skipping names the
/// output already has.
fn append_input(
    input: &RecordBatch,
    idx: &UInt32Array,
    fields: &mut Vec<Field>,
    cols: &mut Vec<ArrayRef>,
) -> Result<(), DetectError> {
    let schema = input.schema();
    let mut carried: Vec<(Field, &ArrayRef)> = Vec::new();
    for (f, c) in schema.fields().iter().zip(input.columns()) {
        if fields.iter().any(|g| g.name() == f.name())
            || carried.iter().any(|(g, _)| g.name() == f.name())
        {
            continue;
        }
        carried.push((f.as_ref().clone(), c));
    }
    // Reordering dozens of input columns: one column per task.
    let taken: Vec<Result<ArrayRef, arrow::error::ArrowError>> = carried
        .par_iter()
        .map(|(_, c)| take(c.as_ref(), idx, None))
        .collect();
    for ((f, _), c) in carried.into_iter().zip(taken) {
        fields.push(f);
        cols.push(c?);
    }
    Ok(())
}

/// A gathered Utf8 column without nulls, without a validity buffer (like
/// the other output string columns): Arrow's `take` reads the offsets
/// buffer, more cache-friendly than gathering `&str`s in random order.
fn take_utf8(arr: &ArrayRef, idx: &UInt32Array) -> Result<StringArray, DetectError> {
    let taken = take(arr.as_ref(), idx, None)?;
    let (offsets, values, _) = taken.as_string::<i32>().clone().into_parts();
    Ok(StringArray::try_new(offsets, values, None)?)
}

#[allow(clippy::too_many_arguments)]
fn session_table(
    sessions: &RecordBatch,
    s_order: &[usize],
    s_id_arr: &ArrayRef,
    s_user_arr: &ArrayRef,
    s_cohort: &[usize],
    cohorts: &Cohorts,
    scores: &[(f64, Vec<(f64, &str)>)],
    runs: &[Option<PatternRun>],
    opts: &ScoreOptions,
) -> Result<RecordBatch, DetectError> {
    // By decreasing score; s_order is already (user_id, session_id) order,
    // so ties keep it. Sorting (inverted score key, row) pairs compares
    // integers without indirection; the pairs are unique, so the unstable
    // sort gives that order.
    let mut keyed: Vec<(i64, u32)> = scores
        .iter()
        .enumerate()
        .map(|(k, s)| (!total_key(s.0), k as u32))
        .collect();
    keyed.par_sort_unstable();
    let rank: Vec<usize> = keyed.iter().map(|&(_, k)| k as usize).collect();
    drop(keyed);
    let idx = UInt32Array::from(rank.iter().map(|&k| s_order[k] as u32).collect::<Vec<_>>());
    let score: Vec<f64> = rank.iter().map(|&k| scores[k].0).collect();
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |f: Field, c: ArrayRef| {
        fields.push(f);
        cols.push(c);
    };
    push(
        Field::new("session_id", DataType::Utf8, false),
        Arc::new(take_utf8(s_id_arr, &idx)?),
    );
    push(
        Field::new("user_id", DataType::Utf8, false),
        Arc::new(take_utf8(s_user_arr, &idx)?),
    );
    let cohort_of: Vec<usize> = rank.iter().map(|&k| s_cohort[k]).collect();
    push(
        Field::new("cohort", DataType::Utf8, false),
        Arc::new(utf8_array(cohort_of.iter().map(|&c| match c {
            ORGANISATION => cohort::ORGANISATION_NAME,
            c => cohorts.names[c].as_str(),
        }))),
    );
    let severity = utf8_array(score.iter().map(|&s| opts.thresholds.severity(s).as_str()));
    push(
        Field::new("score", DataType::Float64, false),
        Arc::new(Float64Array::from(score)),
    );
    push(
        Field::new("severity", DataType::Utf8, false),
        Arc::new(severity),
    );
    let mut patterns = StringBuilder::with_capacity(rank.len(), 0);
    let mut line = String::new();
    for &k in &rank {
        line.clear();
        for (i, (_, name)) in scores[k].1.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(name);
        }
        patterns.append_value(&line);
    }
    push(
        Field::new("patterns", DataType::Utf8, false),
        Arc::new(patterns.finish()),
    );
    for (p, run) in opts.patterns.iter().zip(runs) {
        if let Some(run) = run {
            push(
                Field::new(format!("evidence_{}", p.name), DataType::Float64, true),
                Arc::new(Float64Array::from(
                    rank.iter().map(|&k| run.strength[k]).collect::<Vec<_>>(),
                )),
            );
        }
    }
    append_input(sessions, &idx, &mut fields, &mut cols)?;
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, UInt64Array};
    use arrow::datatypes::Float64Type;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn strs(v: Vec<String>) -> ArrayRef {
        Arc::new(StringArray::from(v))
    }
    fn f64s(v: Vec<f64>) -> ArrayRef {
        Arc::new(Float64Array::from(v))
    }
    fn u64s(v: Vec<u64>) -> ArrayRef {
        Arc::new(UInt64Array::from(v))
    }
    #[test]
    fn an_explanation_is_one_flat_json_object_in_the_published_field_order() {
        let e = Explanation {
            evidence: Evidence {
                pattern: "prompt-loop".into(),
                feature: "loop_ratio".into(),
                value: 0.5,
                typical: f64::NAN,
                p95: 0.04,
                percentile: 100.0,
                sessions: vec!["s1".into()],
                text: "t".into(),
            },
            peers: 19,
            strength: 9.5,
            fired: true,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"pattern":"prompt-loop","feature":"loop_ratio","value":0.5,"typical":null,"p95":0.04,"percentile":100.0,"peers":19,"strength":9.5,"fired":true,"sessions":["s1"],"text":"t"}"#
        );
    }

    /// `b` with its last column replaced by `last`.
    fn with_last_column(b: &RecordBatch, last: ArrayRef) -> RecordBatch {
        let mut cols = b.columns().to_vec();
        *cols.last_mut().expect("a column") = last;
        RecordBatch::try_new(b.schema(), cols).unwrap()
    }

    /// 20 users of team `a`; loop_ratio 0, .01, .02, .03, .04 (4 times each,
    /// but u-19 = 0.5). Sessions: one per user with loop_requests 1, and
    /// u-19 has five: 7, 3, 0, 12, 1.
    fn looper_tables() -> (RecordBatch, RecordBatch) {
        let ids: Vec<String> = (0..20).map(|i| format!("u-{i:02}")).collect();
        let ratio: Vec<f64> = (0..20)
            .map(|i| if i == 19 { 0.5 } else { 0.01 * (i % 5) as f64 })
            .collect();
        let users = RecordBatch::try_from_iter(vec![
            ("user_id", strs(ids.clone())),
            ("team", strs(vec!["a".into(); 20])),
            ("loop_ratio", f64s(ratio)),
        ])
        .unwrap();
        let mut sid: Vec<String> = (0..19).map(|i| format!("s-{i:02}")).collect();
        let mut suser: Vec<String> = ids[..19].to_vec();
        let mut loops: Vec<u64> = vec![1; 19];
        for (s, l) in [("s-a", 7), ("s-b", 3), ("s-c", 0), ("s-d", 12), ("s-e", 1)] {
            sid.push(s.into());
            suser.push("u-19".into());
            loops.push(l);
        }
        let sessions = RecordBatch::try_from_iter(vec![
            ("session_id", strs(sid)),
            ("user_id", strs(suser)),
            ("loop_requests", u64s(loops)),
        ])
        .unwrap();
        (users, sessions)
    }

    #[test]
    fn looper_is_found_and_explained_with_hand_computed_numbers() {
        let (users, sessions) = looper_tables();
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let top = &s.explanations[0];
        assert_eq!(top.user_id, "u-19");
        assert_eq!(top.cohort, "a");
        assert!(top.alert);
        assert_eq!(top.severity, Severity::Critical);
        let e = &top.patterns[0];
        assert_eq!(e.pattern, "prompt-loop");
        assert_eq!(e.feature, "loop_ratio");
        assert_eq!(e.value, 0.5);
        // Typical and p95 of the 19 peers (u-19 left out): 0 x4, .01 x4,
        // .02 x4, .03 x4, .04 x3 -> median .02; p95 at 0.95 * 18 = 17.1 -> .04.
        assert_eq!(e.peers, 19);
        assert!((e.typical - 0.02).abs() < 1e-12);
        assert!((e.p95 - 0.04).abs() < 1e-12);
        assert_eq!(e.percentile, 100.0);
        assert!(e.fired);
        assert_eq!(e.sessions, vec!["s-d", "s-a", "s-b"]);
        // The peers' sessions all have loop_requests 1: their p95 is 1.
        assert_eq!(
            e.text,
            "sent the same prompt again 12 times in session s-d (p95 of peers' sessions: 1); \
             50% of requests repeat a prompt already sent in the session (19 peers: typical 2%, p95 4%)"
        );
        // Nobody else alerts or has a firing pattern.
        for other in &s.explanations[1..] {
            assert!(!other.alert, "{}", other.user_id);
            assert!(other.score < 20.0, "{} {}", other.user_id, other.score);
        }
        // The user table: sorted by score, top_patterns, JSON explanations.
        let u = &s.users;
        assert_eq!(
            u.column_by_name("user_id")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "u-19"
        );
        assert_eq!(
            u.column_by_name("top_patterns")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "prompt-loop"
        );
        assert_eq!(
            u.column_by_name("top_patterns")
                .unwrap()
                .as_string::<i32>()
                .value(1),
            ""
        );
        let json = u
            .column_by_name("explanations")
            .unwrap()
            .as_string::<i32>()
            .value(0);
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["patterns"][0]["sessions"][0], "s-d");
        // Input columns are carried through.
        assert!(u.column_by_name("loop_ratio").is_some());
        assert_eq!(s.sessions.num_rows(), 24);
        assert!(s.sessions.column_by_name("loop_requests").is_some());
    }

    #[test]
    fn nobody_else_shows_the_pattern_gives_typical_zero() {
        // Every colleague at loop_ratio 0, one session each with no loop;
        // only u-19 loops. The cohort with u-19 in it has a p95 above 0; the
        // explanation must say the 19 peers' typical and p95 are 0.
        let (users, sessions) = looper_tables();
        let ratio: Vec<f64> = (0..20).map(|i| if i == 19 { 0.5 } else { 0.0 }).collect();
        let users = with_last_column(&users, f64s(ratio));
        let loops: Vec<u64> = vec![0; 19].into_iter().chain([7, 3, 0, 12, 1]).collect();
        let sessions = with_last_column(&sessions, u64s(loops));
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let e = &s.explanations[0].patterns[0];
        assert_eq!(s.explanations[0].user_id, "u-19");
        assert_eq!((e.typical, e.p95, e.peers), (0.0, 0.0, 19));
        assert!(
            e.text.contains("(19 peers: typical 0%, p95 0%)"),
            "{}",
            e.text
        );
        assert!(e.text.contains("(p95 of peers' sessions: 0)"), "{}", e.text);
    }

    #[test]
    fn weaker_patterns_are_listed_after_fired_ones_as_context() {
        // u-19 loops (fires) and pads a little: 35% trivial changes among
        // colleagues at 10-20%, below what fires on its own.
        let (users, sessions) = looper_tables();
        let trivial: Vec<f64> = (0..20)
            .map(|i| {
                if i == 19 {
                    0.4
                } else {
                    0.10 + 0.025 * (i % 5) as f64
                }
            })
            .collect();
        let mut cols: Vec<(String, ArrayRef)> = users
            .schema()
            .fields()
            .iter()
            .zip(users.columns())
            .map(|(f, c)| (f.name().clone(), c.clone()))
            .collect();
        cols.push(("trivial_change_share".into(), f64s(trivial)));
        let users = RecordBatch::try_from_iter(cols).unwrap();
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let top = &s.explanations[0];
        assert_eq!(top.user_id, "u-19");
        assert_eq!(top.patterns[0].pattern, "prompt-loop");
        assert!(top.patterns[0].fired);
        let pad = top
            .patterns
            .iter()
            .find(|p| p.pattern == "change-padding")
            .expect("padding listed as context");
        assert!(!pad.fired, "{pad:?}");
        assert!(pad.strength < 3.0 && pad.strength > 0.0, "{pad:?}");
        assert!(pad.text.starts_with(CONTEXT_PREFIX), "{}", pad.text);
        let fired: Vec<bool> = top.patterns.iter().map(|p| p.fired).collect();
        assert!(fired.windows(2).all(|w| w[0] >= w[1]), "{fired:?}");
    }

    /// A team of `n` users with padding features: colleagues revert nothing
    /// and keep 10–20% trivial changes; `padders` (revert rate, trivial
    /// share) pairs are appended. Everybody accepted 40 changes.
    fn padding_team(n: usize, padders: &[(f64, f64)]) -> (RecordBatch, RecordBatch) {
        let total = n + padders.len();
        let ids: Vec<String> = (0..total).map(|i| format!("u-{i:02}")).collect();
        let mut revert = vec![0.0; n];
        let mut trivial: Vec<f64> = (0..n).map(|i| 0.10 + 0.02 * (i % 6) as f64).collect();
        for &(r, t) in padders {
            revert.push(r);
            trivial.push(t);
        }
        let users = RecordBatch::try_from_iter(vec![
            ("user_id", strs(ids.clone())),
            ("team", strs(vec!["core".into(); total])),
            ("revert_rate", f64s(revert)),
            ("trivial_change_share", f64s(trivial)),
            ("accepted", u64s(vec![40; total])),
        ])
        .unwrap();
        let sessions = RecordBatch::try_from_iter(vec![
            (
                "session_id",
                strs(ids.iter().map(|i| format!("s-{i}")).collect()),
            ),
            ("user_id", strs(ids)),
        ])
        .unwrap();
        (users, sessions)
    }

    fn alerted(s: &Scores) -> Vec<&str> {
        let mut v: Vec<&str> = s
            .explanations
            .iter()
            .filter(|e| e.alert)
            .map(|e| e.user_id.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn two_same_kind_gamers_in_one_team_both_alert() {
        // Issue #17: two change padders (revert 45% and 48%) among ten
        // colleagues who revert nothing scored 11 and 12 when the baseline's
        // upper spread came from a p90 that included them.
        let (users, sessions) = padding_team(10, &[(0.45, 0.3), (0.48, 0.3)]);
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        assert_eq!(
            alerted(&s),
            vec!["u-10", "u-11"],
            "{:#?}",
            &s.explanations[..3]
        );
    }

    #[test]
    fn a_quarter_of_the_team_gaming_still_alerts_and_nobody_else() {
        // 15 colleagues, 5 padders (25%) at revert rates 30-50%.
        let padders: Vec<(f64, f64)> = (0..5).map(|i| (0.3 + 0.05 * i as f64, 0.5)).collect();
        let (users, sessions) = padding_team(15, &padders);
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        assert_eq!(
            alerted(&s),
            vec!["u-15", "u-16", "u-17", "u-18", "u-19"],
            "{:#?}",
            &s.explanations[..6]
        );
    }

    #[test]
    fn input_row_order_does_not_matter() {
        let (users, sessions) = looper_tables();
        let rev = |b: &RecordBatch| {
            let idx = UInt32Array::from((0..b.num_rows() as u32).rev().collect::<Vec<_>>());
            let cols = b
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &idx, None).unwrap())
                .collect();
            RecordBatch::try_new(b.schema(), cols).unwrap()
        };
        let a = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let b = score(&rev(&users), &rev(&sessions), &ScoreOptions::default()).unwrap();
        assert_eq!(a.explanations, b.explanations);
        assert_eq!(a.users, b.users);
        assert_eq!(a.sessions, b.sessions);
    }

    /// 64 users in 2 teams with ordinary noise, 8 of them power users with
    /// 5x the volume in every column the patterns read (the support counts
    /// behind each ratio: requests, spawns, sessions, context loads,
    /// accepted changes) and ratios from the same distributions: no alert,
    /// no firing pattern. More support means less shrinkage towards the
    /// cohort, so this is where volume could leak into a score. Caught when
    /// `evidence_with` was made to scale evidence with the support count.
    #[test]
    fn no_gamers_no_alerts_and_power_users_do_not_fire() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 64;
        let power = |i: usize| i < 8;
        let ids: Vec<String> = (0..n).map(|i| format!("u-{i:02}")).collect();
        let team: Vec<String> = (0..n)
            .map(|i| if i % 2 == 0 { "x".into() } else { "y".into() })
            .collect();
        let mut g =
            |lo: f64, hi: f64| -> Vec<f64> { (0..n).map(|_| rng.gen_range(lo..hi)).collect() };
        let loop_ratio = g(0.01, 0.06);
        let redundant: Vec<f64> = g(0.0, 1.0)
            .into_iter()
            .map(|r| if r < 0.8 { 0.0 } else { r * 0.05 })
            .collect();
        let output = g(400.0, 800.0);
        let tpc = g(1.5e5, 3.5e5);
        let trivial = g(0.05, 0.2);
        let reload = g(0.0, 0.04);
        let pre = g(0.25, 0.4);
        // Volume: ordinary users' counts, power users' five times larger.
        let scaled = |base: Vec<f64>| -> Vec<f64> {
            base.into_iter()
                .enumerate()
                .map(|(i, v)| (if power(i) { 5.0 * v } else { v }).round())
                .collect()
        };
        let requests = scaled(g(300.0, 500.0));
        let spawns = scaled(g(30.0, 50.0));
        let sessions = scaled(g(15.0, 25.0));
        let context_loads = scaled(g(50.0, 80.0));
        let accepted = scaled(g(20.0, 40.0));
        let tokens: Vec<u64> = (0..n)
            .map(|i| if power(i) { 50_000_000 } else { 10_000_000 })
            .collect();
        let users = RecordBatch::try_from_iter(vec![
            ("user_id", strs(ids.clone())),
            ("team", strs(team)),
            ("loop_ratio", f64s(loop_ratio)),
            ("redundant_spawn_ratio", f64s(redundant)),
            ("output_per_request", f64s(output)),
            ("tokens_per_accepted_change", f64s(tpc)),
            ("trivial_change_share", f64s(trivial)),
            ("reload_uncached_share", f64s(reload)),
            ("pre_snapshot_token_share", f64s(pre)),
            ("requests", f64s(requests)),
            ("spawns", f64s(spawns)),
            ("sessions", f64s(sessions)),
            ("context_loads", f64s(context_loads)),
            ("accepted", f64s(accepted)),
            ("total_tokens", u64s(tokens)),
        ])
        .unwrap();
        let sessions = RecordBatch::try_from_iter(vec![
            (
                "session_id",
                strs(ids.iter().map(|i| format!("s-{i}")).collect()),
            ),
            ("user_id", strs(ids)),
        ])
        .unwrap();
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        assert_eq!(s.cohort_method, CohortMethod::Team);
        assert_eq!(s.explanations.len(), n);
        for e in &s.explanations {
            assert!(!e.alert, "{} alerted: {e:?}", e.user_id);
            assert!(e.severity <= Severity::Low, "{}: {}", e.user_id, e.score);
            assert!(e.patterns.iter().all(|p| p.strength < 3.0), "{e:?}");
        }
        // The power users were really scored on the volume-backed ratios,
        // not skipped: the support-weighted patterns are evaluated for them.
        for e in s
            .explanations
            .iter()
            .filter(|e| power(id_index(&e.user_id)))
        {
            for pattern in ["redundant-agent-spawns", "prompt-loop", "change-padding"] {
                assert!(
                    e.not_evaluated.iter().all(|ne| ne.pattern != pattern),
                    "{}: {pattern} not evaluated: {:?}",
                    e.user_id,
                    e.not_evaluated
                );
            }
        }
        let top = s
            .users
            .column_by_name("top_patterns")
            .unwrap()
            .as_string::<i32>();
        assert!((0..top.len()).all(|i| top.value(i).is_empty()));
    }

    /// The index `i` of a test user id `u-{i:02}`.
    fn id_index(id: &str) -> usize {
        id.trim_start_matches("u-").parse().unwrap()
    }

    #[test]
    fn small_team_falls_back_to_organisation() {
        let (users, sessions) = looper_tables();
        // Put 3 users in team b: fewer than min_cohort_size (8).
        let team: Vec<String> = (0..20)
            .map(|i| if i < 3 { "b".into() } else { "a".into() })
            .collect();
        let mut cols: Vec<(String, ArrayRef)> = vec![];
        for (f, c) in users.schema().fields().iter().zip(users.columns()) {
            let c = if f.name() == "team" {
                strs(team.clone())
            } else {
                c.clone()
            };
            cols.push((f.name().clone(), c));
        }
        let users = RecordBatch::try_from_iter(cols).unwrap();
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let cohort = |id: &str| {
            s.explanations
                .iter()
                .find(|e| e.user_id == id)
                .unwrap()
                .cohort
                .clone()
        };
        assert_eq!(cohort("u-00"), "organisation");
        assert_eq!(cohort("u-05"), "a");
        let sc = s
            .sessions
            .column_by_name("cohort")
            .unwrap()
            .as_string::<i32>();
        let su = s
            .sessions
            .column_by_name("user_id")
            .unwrap()
            .as_string::<i32>();
        for i in 0..s.sessions.num_rows() {
            let want = if ["u-00", "u-01", "u-02"].contains(&su.value(i)) {
                "organisation"
            } else {
                "a"
            };
            assert_eq!(sc.value(i), want);
        }
    }

    #[test]
    fn errors_name_the_column_and_the_fix() {
        let (users, sessions) = looper_tables();
        let e = score(&sessions, &sessions, &ScoreOptions::default()).unwrap_err();
        // The session table has user_id repeated: not unique per user.
        assert!(
            e.to_string().contains("u-19") && e.to_string().contains("unique"),
            "{e}"
        );
        let no_id = users.project(&[1, 2]).unwrap();
        let e = score(&no_id, &sessions, &ScoreOptions::default()).unwrap_err();
        assert!(matches!(e, DetectError::MissingColumn { .. }));
        assert!(e.to_string().contains("`user_id`"), "{e}");
        let mut o = ScoreOptions::default();
        o.thresholds.high = 10.0;
        let e = score(&users, &sessions, &o).unwrap_err();
        assert!(e.to_string().contains("thresholds"), "{e}");
    }

    #[test]
    fn requirement_gate_ramps() {
        assert_eq!(requirement_gate(0.02, 0.06), 0.0);
        assert!((requirement_gate(0.045, 0.06) - 0.5).abs() < 1e-12);
        assert_eq!(requirement_gate(0.2, 0.06), 1.0);
        assert_eq!(requirement_gate(f64::NAN, 0.06), 0.0);
    }

    #[test]
    fn score_column_matches_explanations() {
        let (users, sessions) = looper_tables();
        let s = score(&users, &sessions, &ScoreOptions::default()).unwrap();
        let sc = s
            .users
            .column_by_name("score")
            .unwrap()
            .as_primitive::<Float64Type>();
        for (i, e) in s.explanations.iter().enumerate() {
            assert_eq!(sc.value(i), e.score);
            assert!(!sc.is_null(i));
        }
    }
}
