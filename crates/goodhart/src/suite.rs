//! The evaluation suite behind `goodhart eval --suite`: synthetic
//! organisations for each scenario of issue #17, scored with and without a
//! roster, measured against their labels next to the two naive baselines,
//! in one table.
//!
//! | scenario | what it tests |
//! |---|---|
//! | `default` | the default organisation (6% gaming) |
//! | `share-25` | a quarter of the organisation games |
//! | `share-30` | 30% of the organisation games |
//! | `team-same-kind` | 15% of team `web` pad changes, plus the usual gamers |
//! | `team-two-thirds` | two thirds of team `platform` re-spawn the team's standard sub-agents |
//! | `office-hours` | nobody works on weekends |
//! | `low-intensity` | every gamer at half the default intensity |
//! | `agent-heavy` | cached conversations, tokenless loads, re-reads billed on the next request |
//! | `migrations` | migrations are 30% of legitimate users, each fanning one templated task out over many agents that ship changes |
//! | `no-gamers` | nobody games |
//!
//! Metrics per scenario and roster setting: average precision (AP),
//! precision at `k` (`k` = number of gamers), alert recall (gamers at alert
//! level / gamers), false alerts (legitimate users at alert level /
//! legitimate users), migration users alerted, and alert recall per gaming
//! archetype; for the token leaderboard and the isolation forest on raw
//! totals, AP and precision at `k` (they raise no alerts).
//!
//! Seeds: scenario `i` uses `seed + i`, so a suite run with a seed nobody
//! tuned on is a fresh draw of every scenario.

use crate::scan::{features, score, Dataset};
use crate::Error;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use goodhart_detect::eval::evaluate_seeded;
use goodhart_detect::ScoreOptions;
use goodhart_features::FeatureOptions;
use goodhart_synth::{generate, Archetype, SynthConfig, TeamGaming};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// Size and seed of a suite run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SuiteOptions {
    /// People per organisation (default 600).
    pub users: usize,
    /// Days per organisation (default 21: three weekly snapshots).
    pub days: u32,
    /// Base seed: scenario `i` uses `seed + i` (default 20261117).
    pub seed: u64,
    /// Only the scenarios whose name contains one of these (empty = all).
    pub only: Vec<String>,
}

impl Default for SuiteOptions {
    fn default() -> SuiteOptions {
        SuiteOptions {
            users: 600,
            days: 21,
            seed: 20_261_117,
            only: Vec::new(),
        }
    }
}

impl SuiteOptions {
    /// `users` people over `days` days per organisation, base seed `seed`,
    /// only the scenarios whose name contains one of `only` (empty = all).
    pub fn new(users: usize, days: u32, seed: u64, only: Vec<String>) -> SuiteOptions {
        SuiteOptions {
            users,
            days,
            seed,
            only,
        }
    }
}

/// One scenario: a name and its generator settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Scenario {
    /// Scenario name (e.g. `share-25`).
    pub name: String,
    /// Generator settings.
    pub cfg: SynthConfig,
}

/// The scenarios of the suite, in table order.
pub fn scenarios(o: &SuiteOptions) -> Vec<Scenario> {
    let base = |i: u64| SynthConfig::new(o.users, o.days, o.seed.wrapping_add(i));
    let mut out: Vec<Scenario> = Vec::new();
    let mut push = |name: &str, cfg: SynthConfig| {
        out.push(Scenario {
            name: name.into(),
            cfg,
        });
    };
    push("default", base(0));
    let mut c = base(1);
    c.gaming_share = 0.25;
    push("share-25", c);
    let mut c = base(2);
    c.gaming_share = 0.30;
    push("share-30", c);
    let mut c = base(3);
    c.team_gaming = Some(TeamGaming::new("web", 0.15, Archetype::ChangePadder));
    push("team-same-kind", c);
    let mut c = base(4);
    c.team_gaming = Some(TeamGaming::new("platform", 0.67, Archetype::AgentSpammer));
    push("team-two-thirds", c);
    let mut c = base(5);
    c.office_hours = true;
    push("office-hours", c);
    let mut c = base(6);
    c.intensity = 0.5;
    push("low-intensity", c);
    let mut c = base(7);
    c.agent_heavy = true;
    push("agent-heavy", c);
    let mut c = base(8);
    c.legit_mix.migration = 0.30;
    c.migration_same_task = true;
    push("migrations", c);
    let mut c = base(9);
    c.gaming_share = 0.0;
    push("no-gamers", c);
    out.retain(|s| o.only.is_empty() || o.only.iter().any(|f| s.name.contains(f.as_str())));
    out
}

/// One row of the suite table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteRow {
    /// Scenario name.
    pub scenario: String,
    /// Scored with the roster's teams (else behavioural cohorts).
    pub roster: bool,
    /// `goodhart`, `token-leaderboard` or `isolation-forest-totals`.
    pub method: String,
    /// Gaming users.
    pub gamers: usize,
    /// Legitimate users.
    pub legit: usize,
    /// Average precision.
    pub average_precision: f64,
    /// Precision at `k` = number of gamers.
    pub precision_at_k: f64,
    /// Gamers at alert level / gamers (goodhart only).
    pub alert_recall: Option<f64>,
    /// Legitimate users at alert level.
    pub false_alerts: Option<usize>,
    /// `false_alerts / legit`.
    pub false_alert_rate: Option<f64>,
    /// Migration users at alert level (goodhart only).
    pub migration_alerts: Option<usize>,
    /// Per gaming archetype: (alerted, users) (goodhart only).
    pub archetype_alerts: BTreeMap<String, (usize, usize)>,
    /// Cohort-level findings as `cohort: pattern` (goodhart only).
    pub cohort_findings: Vec<String>,
}

/// Result of [`run_suite`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteReport {
    /// People per organisation.
    pub users: usize,
    /// Days per organisation.
    pub days: u32,
    /// Base seed.
    pub seed: u64,
    /// The rows, scenario by scenario: roster then no roster, goodhart then
    /// the baselines.
    pub rows: Vec<SuiteRow>,
}

fn read_all(path: &Path) -> Result<RecordBatch, Error> {
    let batches = goodhart_io::read_parquet(path)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| Error::Dataset {
            path: path.to_path_buf(),
            message: "no rows. Fix: regenerate the synthetic organisation".into(),
        })?;
    concat_batches(&schema, &batches).map_err(|e| Error::Dataset {
        path: path.to_path_buf(),
        message: format!("{e}"),
    })
}

/// Per user: (alert, archetype, gaming) of the scored users with a label.
fn alerts_by_label(scores: &RecordBatch, labels: &RecordBatch) -> Vec<(bool, String, bool)> {
    let str_col = |b: &RecordBatch, name: &str| -> Vec<String> {
        b.column_by_name(name)
            .map(|c| {
                let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
                    .expect("cast to Utf8");
                let s = c.as_string::<i32>();
                (0..s.len()).map(|i| s.value(i).to_string()).collect()
            })
            .unwrap_or_default()
    };
    let ids = str_col(labels, "user_id");
    let arch = str_col(labels, "archetype");
    let gaming = labels
        .column_by_name("is_gaming")
        .map(|c| {
            let b = c.as_boolean();
            (0..b.len()).map(|i| b.value(i)).collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let label: HashMap<&str, (&str, bool)> = ids
        .iter()
        .zip(arch.iter().zip(gaming))
        .map(|(i, (a, g))| (i.as_str(), (a.as_str(), g)))
        .collect();
    let sid = str_col(scores, "user_id");
    let alert = scores
        .column_by_name("alert")
        .map(|c| c.as_boolean().clone());
    sid.iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let (a, g) = label.get(id.as_str())?;
            let al = alert.as_ref().is_some_and(|c| c.value(i));
            Some((al, a.to_string(), *g))
        })
        .collect()
}

/// Runs every scenario with and without a roster. The organisations are
/// generated one at a time in a temporary directory (removed afterwards).
pub fn run_suite(o: &SuiteOptions) -> Result<SuiteReport, Error> {
    let tmp = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let work = tmp.path();
    let opts = ScoreOptions::default();
    let mut rows = Vec::new();
    for (i, sc) in scenarios(o).into_iter().enumerate() {
        let dir = work.join(&sc.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
        }
        generate(&sc.cfg, &dir)?;
        let labels = read_all(&dir.join("labels.parquet"))?;
        for roster in [true, false] {
            let mut ds = Dataset::locate(std::slice::from_ref(&dir), None)?;
            if !roster {
                ds.roster = None;
            }
            let run = features(&ds, &FeatureOptions::default(), None, None)?;
            let scores = score(&run.features, &opts)?;
            // Without gamers there is no ranking to measure: only alerts.
            let report = if sc.cfg.gaming_share > 0.0 {
                Some(evaluate_seeded(&labels, &scores.users, i as u64)?)
            } else {
                None
            };
            let per_user = alerts_by_label(&scores.users, &labels);
            let gamers = per_user.iter().filter(|u| u.2).count();
            let legit = per_user.len() - gamers;
            let alerted_gamers = per_user.iter().filter(|u| u.2 && u.0).count();
            let false_alerts = per_user.iter().filter(|u| !u.2 && u.0).count();
            let migration_alerts = per_user
                .iter()
                .filter(|u| u.0 && u.1 == Archetype::Migration.as_str())
                .count();
            let mut archetype_alerts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for u in per_user.iter().filter(|u| u.2) {
                let e = archetype_alerts.entry(u.1.clone()).or_default();
                e.0 += usize::from(u.0);
                e.1 += 1;
            }
            let findings: Vec<String> = scores
                .cohort_findings
                .iter()
                .map(|f| format!("{}: {}", f.cohort, f.pattern))
                .collect();
            let ratio = |a: usize, b: usize| {
                if b == 0 {
                    f64::NAN
                } else {
                    a as f64 / b as f64
                }
            };
            let mut push = |m: &goodhart_detect::eval::MethodReport, ours: bool| {
                rows.push(SuiteRow {
                    scenario: sc.name.clone(),
                    roster,
                    method: m.method.clone(),
                    gamers,
                    legit,
                    average_precision: m.average_precision,
                    precision_at_k: m.precision_at_k,
                    alert_recall: ours.then(|| ratio(alerted_gamers, gamers)),
                    false_alerts: ours.then_some(false_alerts),
                    false_alert_rate: ours.then(|| ratio(false_alerts, legit)),
                    migration_alerts: ours.then_some(migration_alerts),
                    archetype_alerts: if ours {
                        archetype_alerts.clone()
                    } else {
                        BTreeMap::new()
                    },
                    cohort_findings: if ours { findings.clone() } else { Vec::new() },
                });
            };
            match &report {
                Some(report) => {
                    push(&report.goodhart, true);
                    push(&report.token_leaderboard, false);
                    if let Some(f) = &report.isolation_forest_totals {
                        push(f, false);
                    }
                }
                None => rows.push(SuiteRow {
                    scenario: sc.name.clone(),
                    roster,
                    method: "goodhart".into(),
                    gamers,
                    legit,
                    average_precision: f64::NAN,
                    precision_at_k: f64::NAN,
                    alert_recall: None,
                    false_alerts: Some(false_alerts),
                    false_alert_rate: Some(ratio(false_alerts, legit)),
                    migration_alerts: Some(migration_alerts),
                    archetype_alerts: BTreeMap::new(),
                    cohort_findings: findings.clone(),
                }),
            }
        }
        std::fs::remove_dir_all(&dir).map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(SuiteReport {
        users: o.users,
        days: o.days,
        seed: o.seed,
        rows,
    })
}

/// Short names of the gaming archetypes in the table.
fn short(a: &str) -> &str {
    match a {
        "agent_spammer" => "spam",
        "context_reloader" => "reload",
        "prompt_looper" => "loop",
        "verbose_burner" => "verbose",
        "leaderboard_sprinter" => "sprint",
        "change_padder" => "pad",
        "subtle" => "subtle",
        other => other,
    }
}

impl fmt::Display for SuiteReport {
    /// A Markdown table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} users x {} days per scenario, base seed {}\n",
            self.users, self.days, self.seed
        )?;
        writeln!(
            f,
            "| scenario | roster | method | gamers | AP | P@k | alert recall | false alerts (legit) | migration alerts | alerted per archetype | cohort findings |"
        )?;
        writeln!(f, "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")?;
        let pct = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => format!("{:.1}%", 100.0 * v),
            Some(_) => "n/a".into(),
            None => "–".into(),
        };
        for r in &self.rows {
            let arch = r
                .archetype_alerts
                .iter()
                .map(|(a, (k, n))| format!("{} {k}/{n}", short(a)))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} |",
                r.scenario,
                if r.roster { "yes" } else { "no" },
                r.method,
                r.gamers,
                r.average_precision,
                r.precision_at_k,
                pct(r.alert_recall),
                match (r.false_alerts, r.false_alert_rate) {
                    (Some(n), rate) => format!("{n} of {} ({})", r.legit, pct(rate)),
                    _ => "–".into(),
                },
                r.migration_alerts.map_or("–".into(), |n| n.to_string()),
                if arch.is_empty() { "–".into() } else { arch },
                if r.method != "goodhart" {
                    "–".to_string()
                } else if r.cohort_findings.is_empty() {
                    "none".to_string()
                } else {
                    r.cohort_findings.join("; ")
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_distinct_seeds_and_defaults_elsewhere() {
        let s = scenarios(&SuiteOptions::default());
        assert_eq!(s.len(), 10);
        let mut seeds: Vec<u64> = s.iter().map(|s| s.cfg.seed).collect();
        seeds.dedup();
        assert_eq!(seeds.len(), 10);
        assert_eq!(
            s[0].cfg.gaming_share,
            SynthConfig::new(1, 1, 1).gaming_share
        );
        let only = scenarios(&SuiteOptions {
            only: vec!["share".into()],
            ..SuiteOptions::default()
        });
        assert_eq!(
            only.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            vec!["share-25", "share-30"]
        );
    }
}
