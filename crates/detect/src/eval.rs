//! Quality evaluation against labels, next to two naive baselines.
//!
//! [`evaluate`] joins labels (`user_id`, `archetype`, `is_gaming`) with a
//! scored user table (`user_id`, `score`, and the carried-through features
//! such as `total_tokens`, `team`) and reports, for goodhart's score and for
//! two baselines computed in the same run — the **token leaderboard**
//! (rank by `total_tokens`) and a **plain isolation forest on raw per-user
//! totals** —:
//!
//! * average precision and ROC-AUC (`crate::table`'s scikit-learn
//!   compatible implementations),
//! * precision at `k`, `k` = number of gaming users,
//! * recall at `k` per gaming archetype,
//! * hard negatives in the top `k`: non-gaming users a token leaderboard
//!   would put under suspicion. The labels say who they are in an optional
//!   Boolean `hard_negative` column (`goodhart synth` marks its legitimate
//!   heavy archetypes); without it, they are the non-gaming users in the top
//!   [`HARD_NEGATIVE_VOLUME_SHARE`] of everyone by `total_tokens`. Either
//!   way, the non-gaming users of the heaviest team (highest mean
//!   `total_tokens` per user) count too. Nothing here knows any generator's
//!   archetype names,
//! * the number of alerts (when the table has an `alert` column).
//!
//! Rankings break score ties by `user_id`. Labelled users missing from the
//! scores rank last (they count as misses); scored users without a label
//! are ignored and counted.

use crate::columns;
use crate::iforest::IsolationForestParams;
use crate::table::{average_precision, roc_auc};
use crate::DetectError;
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use ndarray::Array2;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Without a `hard_negative` label column: the share of all labelled users,
/// by `total_tokens`, inside which a non-gaming user is a hard negative.
pub const HARD_NEGATIVE_VOLUME_SHARE: f64 = 0.1;

/// Per-user totals the isolation-forest baseline uses (those present).
pub const RAW_TOTALS: [&str; 9] = [
    "total_tokens",
    "output_tokens",
    "requests",
    "spawns",
    "context_loads",
    "sessions",
    "accepted",
    "lines_accepted",
    "cost_usd",
];

const LABELS: &str = "label table";
const SCORES: &str = "score table";

/// Recall of one archetype inside the top `k`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchetypeRecall {
    /// Users of the archetype.
    pub n: usize,
    /// Of them, inside the top `k`.
    pub in_top_k: usize,
    /// `in_top_k / n`.
    pub recall: f64,
}

/// Metrics of one ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodReport {
    /// Method name (`goodhart`, `token-leaderboard`, `isolation-forest-totals`).
    pub method: String,
    /// Average precision.
    pub average_precision: f64,
    /// ROC-AUC.
    pub roc_auc: f64,
    /// Share of the top `k` that is gaming.
    pub precision_at_k: f64,
    /// Recall at `k` of every gaming archetype.
    pub recall_at_k: BTreeMap<String, ArchetypeRecall>,
    /// Hard negatives inside the top `k`.
    pub hard_negatives_in_top_k: usize,
    /// `hard_negatives_in_top_k / k`.
    pub hard_negative_share: f64,
    /// Alerted users (`alert` column), when known.
    pub alerts: Option<usize>,
    /// Alerted users that are not gaming, when known.
    pub false_alerts: Option<usize>,
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Labelled users.
    pub n_users: usize,
    /// Gaming users (= `k`).
    pub n_gaming: usize,
    /// Hard-negative users.
    pub n_hard_negatives: usize,
    /// Heaviest team by mean tokens per user, when teams are known.
    pub heaviest_team: Option<String>,
    /// Labelled users absent from the scores (ranked last).
    pub unscored: usize,
    /// Scored users without a label (ignored).
    pub unlabelled: usize,
    /// goodhart's score.
    pub goodhart: MethodReport,
    /// Rank by `total_tokens`.
    pub token_leaderboard: MethodReport,
    /// Isolation forest on raw per-user totals.
    pub isolation_forest_totals: Option<MethodReport>,
}

fn bools(batch: &RecordBatch, table: &str, name: &str) -> Result<Vec<Option<bool>>, DetectError> {
    let col = columns::find(batch, name).ok_or_else(|| DetectError::MissingColumn {
        table: table.into(),
        column: name.into(),
    })?;
    if *col.data_type() == DataType::Boolean {
        let a = col.as_boolean();
        return Ok((0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect());
    }
    let v = columns::opt_f64(batch, table, name)?.expect("column exists");
    Ok(v.into_iter().map(|x| x.map(|x| x != 0.0)).collect())
}

struct Joined {
    ids: Vec<String>,
    gaming: Vec<bool>,
    archetype: Vec<String>,
    /// The labels' `hard_negative` column, when they have one.
    hard_negative: Option<Vec<bool>>,
    /// Row in the score table, if scored.
    row: Vec<Option<usize>>,
}

fn join(
    labels: &RecordBatch,
    key_cols: &[&str],
    scores: &RecordBatch,
) -> Result<(Joined, usize), DetectError> {
    let key = |b: &RecordBatch, t: &str| -> Result<Vec<String>, DetectError> {
        let parts: Vec<Vec<String>> = key_cols
            .iter()
            .map(|c| columns::strings(b, t, c))
            .collect::<Result<_, _>>()?;
        Ok((0..b.num_rows())
            .map(|i| {
                parts
                    .iter()
                    .map(|p| p[i].as_str())
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
            })
            .collect())
    };
    let lk = key(labels, LABELS)?;
    let sk = key(scores, SCORES)?;
    let gaming = bools(labels, LABELS, "is_gaming")?;
    let archetype = columns::opt_strings(labels, LABELS, "archetype")?;
    let hard_negative = match columns::find(labels, "hard_negative") {
        Some(_) => Some(bools(labels, LABELS, "hard_negative")?),
        None => None,
    };
    let mut s_index: Vec<(&str, usize)> = sk
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    s_index.sort_unstable();
    let mut order: Vec<usize> = (0..lk.len()).collect();
    order.sort_by(|&a, &b| lk[a].cmp(&lk[b]));
    let mut j = Joined {
        ids: vec![],
        gaming: vec![],
        archetype: vec![],
        hard_negative: hard_negative.as_ref().map(|_| vec![]),
        row: vec![],
    };
    let mut matched = 0;
    for i in order {
        let row = s_index
            .binary_search_by(|(k, _)| (*k).cmp(lk[i].as_str()))
            .ok()
            .map(|p| s_index[p].1);
        matched += usize::from(row.is_some());
        j.ids.push(lk[i].clone());
        j.gaming.push(gaming[i].unwrap_or(false));
        j.archetype.push(
            archetype
                .as_ref()
                .and_then(|a| a[i].clone())
                .unwrap_or_else(|| "unknown".into()),
        );
        if let (Some(out), Some(h)) = (j.hard_negative.as_mut(), &hard_negative) {
            out.push(h[i].unwrap_or(false));
        }
        j.row.push(row);
    }
    let unlabelled = sk.len().saturating_sub(matched);
    Ok((j, unlabelled))
}

/// Who is in the top `share` of the joined users by `tokens` (at least one
/// user; ties broken by id, as the rankings do). All false without tokens.
fn top_by_volume(tokens: Option<&[f64]>, ids: &[String], share: f64) -> Vec<bool> {
    let n = ids.len();
    let mut top = vec![false; n];
    let Some(tokens) = tokens else {
        return top;
    };
    let mut order: Vec<usize> = (0..n).filter(|&i| tokens[i].is_finite()).collect();
    order.sort_by(|&a, &b| tokens[b].total_cmp(&tokens[a]).then(ids[a].cmp(&ids[b])));
    let k = ((n as f64 * share).ceil() as usize).max(1).min(order.len());
    for &i in &order[..k] {
        top[i] = true;
    }
    top
}

/// Scores of the joined rows from a score-table column (missing rows and
/// nulls rank last).
fn column_scores(
    j: &Joined,
    scores: &RecordBatch,
    name: &str,
) -> Result<Option<Vec<f64>>, DetectError> {
    let Some(v) = columns::opt_f64(scores, SCORES, name)? else {
        return Ok(None);
    };
    Ok(Some(
        j.row
            .iter()
            .map(|r| r.and_then(|r| v[r]).unwrap_or(f64::NEG_INFINITY))
            .collect(),
    ))
}

fn method_report(
    name: &str,
    j: &Joined,
    scores: &[f64],
    hard: &[bool],
    alerts: Option<&[bool]>,
) -> Result<MethodReport, DetectError> {
    let n = j.ids.len();
    let k = j.gaming.iter().filter(|&&g| g).count();
    // Metrics need finite scores: map the "missing" sentinel below the minimum.
    let min = scores
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let floor = if min.is_finite() { min - 1.0 } else { 0.0 };
    let s: Vec<f64> = scores
        .iter()
        .map(|&v| if v.is_finite() { v } else { floor })
        .collect();
    let ap = average_precision(&s, &j.gaming)?;
    let auc = if k < n {
        roc_auc(&s, &j.gaming)?
    } else {
        f64::NAN
    };
    let mut rank: Vec<usize> = (0..n).collect();
    rank.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(j.ids[a].cmp(&j.ids[b])));
    let mut top = vec![false; n];
    for &i in &rank[..k] {
        top[i] = true;
    }
    let tp = (0..n).filter(|&i| top[i] && j.gaming[i]).count();
    let mut recall_at_k: BTreeMap<String, ArchetypeRecall> = BTreeMap::new();
    for i in (0..n).filter(|&i| j.gaming[i]) {
        let e = recall_at_k
            .entry(j.archetype[i].clone())
            .or_insert(ArchetypeRecall {
                n: 0,
                in_top_k: 0,
                recall: 0.0,
            });
        e.n += 1;
        e.in_top_k += usize::from(top[i]);
    }
    for e in recall_at_k.values_mut() {
        e.recall = e.in_top_k as f64 / e.n as f64;
    }
    let hn = (0..n).filter(|&i| top[i] && hard[i]).count();
    Ok(MethodReport {
        method: name.into(),
        average_precision: ap,
        roc_auc: auc,
        precision_at_k: if k == 0 {
            f64::NAN
        } else {
            tp as f64 / k as f64
        },
        recall_at_k,
        hard_negatives_in_top_k: hn,
        hard_negative_share: if k == 0 {
            f64::NAN
        } else {
            hn as f64 / k as f64
        },
        alerts: alerts.map(|a| a.iter().filter(|&&x| x).count()),
        false_alerts: alerts.map(|a| (0..n).filter(|&i| a[i] && !j.gaming[i]).count()),
    })
}

/// Evaluates a scored user table against labels.
///
/// `labels`: `user_id` (Utf8), `archetype` (Utf8, optional), `is_gaming`
/// (Boolean or integer). `scores`: `user_id`, `score`, and optionally
/// `alert`, `team`, `total_tokens` and the raw totals of [`RAW_TOTALS`]
/// (a goodhart user score table carries them all). `seed` seeds the
/// isolation-forest baseline.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
/// use arrow::record_batch::RecordBatch;
/// use goodhart_detect::eval::evaluate;
///
/// let labels = RecordBatch::try_from_iter(vec![
///     ("user_id", Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef),
///     ("archetype", Arc::new(StringArray::from(vec!["looper", "normal", "power", "normal"])) as ArrayRef),
///     ("is_gaming", Arc::new(BooleanArray::from(vec![true, false, false, false])) as ArrayRef),
/// ]).unwrap();
/// let scores = RecordBatch::try_from_iter(vec![
///     ("user_id", Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef),
///     ("score", Arc::new(Float64Array::from(vec![90.0, 10.0, 20.0, 5.0])) as ArrayRef),
///     ("total_tokens", Arc::new(UInt64Array::from(vec![100u64, 50, 900, 40])) as ArrayRef),
/// ]).unwrap();
/// let r = evaluate(&labels, &scores).unwrap();
/// assert_eq!(r.goodhart.average_precision, 1.0);
/// assert_eq!(r.token_leaderboard.hard_negatives_in_top_k, 1); // "c" tops the leaderboard
/// assert_eq!(r.goodhart.recall_at_k["looper"].recall, 1.0);
/// ```
pub fn evaluate(labels: &RecordBatch, scores: &RecordBatch) -> Result<EvalReport, DetectError> {
    evaluate_seeded(labels, scores, 0)
}

/// [`evaluate`] with the isolation-forest baseline's seed.
// One piece: every measure of the report over the same joined label and score rows, one block per
// measure.
pub fn evaluate_seeded(
    labels: &RecordBatch,
    scores: &RecordBatch,
    seed: u64,
) -> Result<EvalReport, DetectError> {
    let (j, unlabelled) = join(labels, &["user_id"], scores)?;
    let n = j.ids.len();
    let n_gaming = j.gaming.iter().filter(|&&g| g).count();
    if n_gaming == 0 || n == 0 {
        return Err(DetectError::InvalidSetting {
            setting: "labels.is_gaming".into(),
            value: format!("{n_gaming} gaming of {n} users"),
            fix: "evaluation needs at least one gaming user in the labels".into(),
        });
    }
    let unscored = j.row.iter().filter(|r| r.is_none()).count();
    let main = column_scores(&j, scores, "score")?.ok_or_else(|| DetectError::MissingColumn {
        table: SCORES.into(),
        column: "score".into(),
    })?;
    let tokens = column_scores(&j, scores, "total_tokens")?;
    // Heaviest team: highest mean total_tokens per user.
    let teams = columns::opt_strings(scores, SCORES, "team")?;
    let team_of: Vec<Option<String>> = j
        .row
        .iter()
        .map(|r| r.and_then(|r| teams.as_ref().and_then(|t| t[r].clone())))
        .collect();
    let heaviest_team = match &tokens {
        Some(tok) => {
            let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
            for (t, v) in team_of.iter().zip(tok) {
                if let (Some(t), true) = (t, v.is_finite()) {
                    let e = sums.entry(t.as_str()).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
            }
            sums.into_iter()
                .map(|(t, (s, c))| (t, s / c as f64))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(a.0)))
                .map(|(t, _)| t.to_string())
        }
        None => None,
    };
    let heavy = match &j.hard_negative {
        Some(h) => h.clone(),
        None => top_by_volume(tokens.as_deref(), &j.ids, HARD_NEGATIVE_VOLUME_SHARE),
    };
    let hard: Vec<bool> = (0..n)
        .map(|i| {
            !j.gaming[i] && (heavy[i] || (heaviest_team.is_some() && team_of[i] == heaviest_team))
        })
        .collect();
    let alerts: Option<Vec<bool>> = match columns::find(scores, "alert") {
        Some(_) => {
            let a = bools(scores, SCORES, "alert")?;
            Some(
                j.row
                    .iter()
                    .map(|r| r.and_then(|r| a[r]).unwrap_or(false))
                    .collect(),
            )
        }
        None => None,
    };
    let goodhart = method_report("goodhart", &j, &main, &hard, alerts.as_deref())?;
    let token_leaderboard = method_report(
        "token-leaderboard",
        &j,
        tokens.as_deref().unwrap_or(&vec![0.0; n]),
        &hard,
        None,
    )?;
    // Isolation forest on raw totals (log1p so one column's scale does not dominate).
    let mut raw: Vec<Vec<f64>> = Vec::new();
    for c in RAW_TOTALS {
        if let Some(v) = column_scores(&j, scores, c)? {
            raw.push(
                v.into_iter()
                    .map(|x| {
                        if x.is_finite() {
                            x.max(0.0).ln_1p()
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            );
        }
    }
    let isolation_forest_totals = if raw.is_empty() || n < 4 {
        None
    } else {
        let mut x = Array2::zeros((n, raw.len()));
        for (c, v) in raw.iter().enumerate() {
            for (r, val) in v.iter().enumerate() {
                x[[r, c]] = *val;
            }
        }
        let s = IsolationForestParams::new()
            .seed(seed)
            .fit(&x.view())?
            .score(&x.view())
            .to_vec();
        Some(method_report(
            "isolation-forest-totals",
            &j,
            &s,
            &hard,
            None,
        )?)
    };
    Ok(EvalReport {
        n_users: n,
        n_gaming,
        n_hard_negatives: hard.iter().filter(|&&h| h).count(),
        heaviest_team,
        unscored,
        unlabelled,
        goodhart,
        token_leaderboard,
        isolation_forest_totals,
    })
}

fn write_method(f: &mut fmt::Formatter<'_>, m: &MethodReport) -> fmt::Result {
    write!(
        f,
        "  {:<24} AP {:.3}  ROC-AUC {:.3}  P@k {:.3}  hard negatives in top k {} ({:.1}%)",
        m.method,
        m.average_precision,
        m.roc_auc,
        m.precision_at_k,
        m.hard_negatives_in_top_k,
        100.0 * m.hard_negative_share
    )?;
    if let (Some(a), Some(fa)) = (m.alerts, m.false_alerts) {
        write!(f, "  alerts {a} (false {fa})")?;
    }
    writeln!(f)?;
    let parts: Vec<String> = m
        .recall_at_k
        .iter()
        .map(|(k, r)| format!("{k} {}/{} ({:.0}%)", r.in_top_k, r.n, 100.0 * r.recall))
        .collect();
    writeln!(f, "  {:<24} recall@k: {}", "", parts.join(", "))
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "users {}  gaming (k) {}  hard negatives {}  heaviest team {}  unscored {}  unlabelled {}",
            self.n_users,
            self.n_gaming,
            self.n_hard_negatives,
            self.heaviest_team.as_deref().unwrap_or("-"),
            self.unscored,
            self.unlabelled
        )?;
        write_method(f, &self.goodhart)?;
        write_method(f, &self.token_leaderboard)?;
        if let Some(m) = &self.isolation_forest_totals {
            write_method(f, m)?;
        }
        Ok(())
    }
}

/// Session-level metrics of one ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionMethodReport {
    /// Method name (`goodhart`, `token-leaderboard`).
    pub method: String,
    /// Average precision.
    pub average_precision: f64,
    /// ROC-AUC.
    pub roc_auc: f64,
    /// Share of the top `k` sessions that is gaming (`k` = gaming sessions).
    pub precision_at_k: f64,
}

/// Result of [`evaluate_sessions`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvalReport {
    /// Labelled sessions.
    pub n_sessions: usize,
    /// Gaming sessions (= `k`).
    pub n_gaming: usize,
    /// Labelled sessions absent from the scores (ranked last).
    pub unscored: usize,
    /// goodhart's session score.
    pub goodhart: SessionMethodReport,
    /// Rank by the session's `total_tokens`.
    pub token_leaderboard: Option<SessionMethodReport>,
}

impl fmt::Display for SessionEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sessions {}  gaming (k) {}  unscored {}",
            self.n_sessions, self.n_gaming, self.unscored
        )?;
        for m in std::iter::once(&self.goodhart).chain(&self.token_leaderboard) {
            writeln!(
                f,
                "  {:<24} AP {:.3}  ROC-AUC {:.3}  P@k {:.3}",
                m.method, m.average_precision, m.roc_auc, m.precision_at_k
            )?;
        }
        Ok(())
    }
}

/// Evaluates session scores against session labels (`session_id`,
/// `is_gaming`, and `user_id` when session ids are only unique per user:
/// the join uses `user_id` too when both tables have it).
pub fn evaluate_sessions(
    labels: &RecordBatch,
    scores: &RecordBatch,
) -> Result<SessionEvalReport, DetectError> {
    let both_have_user =
        columns::find(labels, "user_id").is_some() && columns::find(scores, "user_id").is_some();
    let keys: &[&str] = if both_have_user {
        &["user_id", "session_id"]
    } else {
        &["session_id"]
    };
    let (j, _) = join(labels, keys, scores)?;
    let n = j.ids.len();
    let n_gaming = j.gaming.iter().filter(|&&g| g).count();
    if n_gaming == 0 {
        return Err(DetectError::InvalidSetting {
            setting: "session_labels.is_gaming".into(),
            value: format!("0 gaming of {n} sessions"),
            fix: "evaluation needs at least one gaming session in the labels".into(),
        });
    }
    let hard = vec![false; n];
    let to_session = |m: MethodReport| SessionMethodReport {
        method: m.method,
        average_precision: m.average_precision,
        roc_auc: m.roc_auc,
        precision_at_k: m.precision_at_k,
    };
    let main = column_scores(&j, scores, "score")?.ok_or_else(|| DetectError::MissingColumn {
        table: SCORES.into(),
        column: "score".into(),
    })?;
    let goodhart = to_session(method_report("goodhart", &j, &main, &hard, None)?);
    let token_leaderboard = match column_scores(&j, scores, "total_tokens")? {
        Some(t) => Some(to_session(method_report(
            "token-leaderboard",
            &j,
            &t,
            &hard,
            None,
        )?)),
        None => None,
    };
    Ok(SessionEvalReport {
        n_sessions: n,
        n_gaming,
        unscored: j.row.iter().filter(|r| r.is_none()).count(),
        goodhart,
        token_leaderboard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
    use std::sync::Arc;

    fn labels(ids: &[&str], arch: &[&str], gaming: &[bool]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(ids.to_vec())) as ArrayRef,
            ),
            (
                "archetype",
                Arc::new(StringArray::from(arch.to_vec())) as ArrayRef,
            ),
            (
                "is_gaming",
                Arc::new(BooleanArray::from(gaming.to_vec())) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// `l` with a `hard_negative` column.
    fn with_hard(l: RecordBatch, hard: &[bool]) -> RecordBatch {
        let mut cols: Vec<(String, ArrayRef)> = l
            .schema()
            .fields()
            .iter()
            .zip(l.columns())
            .map(|(f, c)| (f.name().clone(), c.clone()))
            .collect();
        cols.push((
            "hard_negative".into(),
            Arc::new(BooleanArray::from(hard.to_vec())),
        ));
        RecordBatch::try_from_iter(cols).unwrap()
    }

    /// The score table of `hand_computed_metrics` (x is not labelled).
    fn six_scored() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec![
                    "m", "n2", "g2", "n1", "p", "g1", "x",
                ])) as ArrayRef,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![
                    5.0, 10.0, 40.0, 50.0, 80.0, 90.0, 99.0,
                ])) as ArrayRef,
            ),
            (
                "alert",
                Arc::new(BooleanArray::from(vec![
                    false, false, false, false, true, true, true,
                ])) as ArrayRef,
            ),
            (
                "total_tokens",
                Arc::new(UInt64Array::from(vec![600u64, 100, 200, 300, 900, 150, 1])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn hard_negatives_without_a_label_column_are_the_heaviest_tenth() {
        // No hard_negative column: the top ceil(6 * 0.1) = 1 user by tokens
        // (p, 900) is the only hard negative; archetype names play no part.
        let l = labels(
            &["g1", "g2", "p", "n1", "n2", "m"],
            &["a", "b", "c", "d", "e", "f"],
            &[true, true, false, false, false, false],
        );
        let r = evaluate_seeded(&l, &six_scored(), 3).unwrap();
        assert_eq!(r.n_hard_negatives, 1);
        // Leaderboard top 2 = p, m: only p is a hard negative.
        assert_eq!(r.token_leaderboard.hard_negatives_in_top_k, 1);
        assert_eq!(r.goodhart.hard_negatives_in_top_k, 1);
    }

    #[test]
    fn hand_computed_metrics() {
        // 6 users, 2 gaming (g1 looper, g2 sprinter). Ranking by score:
        // g1 90, p 80 (power), n1 50, g2 40, n2 10, m 5 (migration); the
        // labels mark p and m as hard negatives.
        let l = labels(
            &["g1", "g2", "p", "n1", "n2", "m"],
            &[
                "looper",
                "sprinter",
                "power",
                "normal",
                "normal",
                "migration",
            ],
            &[true, true, false, false, false, false],
        );
        let l = with_hard(l, &[false, false, true, false, false, true]);
        let s = six_scored();
        let r = evaluate_seeded(&l, &s, 3).unwrap();
        assert_eq!(r.n_users, 6);
        assert_eq!(r.n_gaming, 2);
        assert_eq!(r.unlabelled, 1);
        assert_eq!(r.n_hard_negatives, 2);
        // AP: g1 at rank 1 (P=1), g2 at rank 4 (P=2/4) -> (1 + 0.5) / 2.
        assert!((r.goodhart.average_precision - 0.75).abs() < 1e-12);
        // top 2 = g1, p -> P@k 0.5, one hard negative.
        assert_eq!(r.goodhart.precision_at_k, 0.5);
        assert_eq!(r.goodhart.hard_negatives_in_top_k, 1);
        assert_eq!(r.goodhart.recall_at_k["looper"].recall, 1.0);
        assert_eq!(r.goodhart.recall_at_k["sprinter"].recall, 0.0);
        assert_eq!(r.goodhart.alerts, Some(2));
        assert_eq!(r.goodhart.false_alerts, Some(1));
        // Leaderboard: p 900, m 600 top 2 -> no gaming, both hard negatives.
        assert_eq!(r.token_leaderboard.precision_at_k, 0.0);
        assert_eq!(r.token_leaderboard.hard_negatives_in_top_k, 2);
        assert_eq!(r.token_leaderboard.hard_negative_share, 1.0);
        assert!(r.isolation_forest_totals.is_some());
        let text = r.to_string();
        assert!(text.contains("goodhart") && text.contains("token-leaderboard"));
    }

    #[test]
    fn unscored_gaming_user_counts_as_miss() {
        let l = labels(
            &["a", "b", "c"],
            &["looper", "looper", "normal"],
            &[true, true, false],
        );
        let s = RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec!["a", "c"])) as ArrayRef,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![9.0, 1.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let r = evaluate(&l, &s).unwrap();
        assert_eq!(r.unscored, 1);
        // a (P 1), c, b last: b at rank 3 -> P 2/3. AP = (1 + 2/3) / 2.
        assert!((r.goodhart.average_precision - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.goodhart.recall_at_k["looper"].in_top_k, 1);
    }

    #[test]
    fn sessions_join_on_user_and_session() {
        let l = RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec!["u1", "u2", "u2"])) as ArrayRef,
            ),
            (
                "session_id",
                Arc::new(StringArray::from(vec!["s1", "s1", "s2"])) as ArrayRef,
            ),
            (
                "is_gaming",
                Arc::new(BooleanArray::from(vec![false, true, false])) as ArrayRef,
            ),
        ])
        .unwrap();
        let s = RecordBatch::try_from_iter(vec![
            (
                "session_id",
                Arc::new(StringArray::from(vec!["s1", "s1", "s2"])) as ArrayRef,
            ),
            (
                "user_id",
                Arc::new(StringArray::from(vec!["u2", "u1", "u2"])) as ArrayRef,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![70.0, 20.0, 30.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let r = evaluate_sessions(&l, &s).unwrap();
        assert_eq!(r.goodhart.average_precision, 1.0);
        assert_eq!(r.goodhart.precision_at_k, 1.0);
        assert!(r.token_leaderboard.is_none());
    }
}
