//! End-to-end quality of the tokenmaxxing score on synthetic organisations:
//! `goodhart_synth::generate` → `goodhart_io::fold_events` →
//! `goodhart_features::finalize` → `goodhart_detect::score` →
//! `goodhart_detect::eval::evaluate`.
//!
//! Several seeds, intensities and team mixes (never tuned to one), plus an
//! organisation without gamers. Set `GOODHART_EVAL_VERBOSE=1` to print the
//! reports.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use goodhart_detect::eval::{evaluate_seeded, evaluate_sessions, EvalReport};
use goodhart_detect::{score, ScoreOptions, Scores};
use goodhart_features::{finalize, FeatureOptions, SessionAccumulator};
use goodhart_io::{discover, fold_events, read_parquet, read_roster, ReadOptions};
use goodhart_synth::{generate, SynthConfig, TeamSpec};
use std::path::Path;

fn read_all(path: &Path) -> RecordBatch {
    let batches = read_parquet(path).unwrap();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

struct Run {
    scores: Scores,
    labels: RecordBatch,
    session_labels: RecordBatch,
}

fn run(cfg: &SynthConfig, roster: bool, opts: &ScoreOptions) -> Run {
    let dir = tempfile::tempdir().unwrap();
    generate(cfg, dir.path()).unwrap();
    let files = discover(&dir.path().join("events"), None).unwrap();
    let fopts = FeatureOptions::default();
    let ing = fold_events(
        &files,
        &ReadOptions::default(),
        || SessionAccumulator::with_options(&fopts),
        |acc, b| acc.add_batch(b),
        SessionAccumulator::merge,
    )
    .unwrap();
    let r = roster.then(|| read_roster(&dir.path().join("users.parquet")).unwrap());
    let f = finalize(ing.value, &fopts, r.as_ref()).unwrap();
    let scores = score(&f.users, &f.sessions, opts).unwrap();
    Run {
        scores,
        labels: read_all(&dir.path().join("labels.parquet")),
        session_labels: read_all(&dir.path().join("session_labels.parquet")),
    }
}

fn verbose() -> bool {
    std::env::var_os("GOODHART_EVAL_VERBOSE").is_some()
}

fn check_quality(name: &str, r: &EvalReport) {
    if verbose() {
        eprintln!("== {name}\n{r}");
    }
    let g = &r.goodhart;
    // The loops below pass vacuously on an organisation without gamers or
    // with an archetype missing: every gaming archetype synth knows must be
    // there. (Caught when synth's plan was made to leave out the context
    // reloaders.)
    assert!(r.n_gaming > 0, "{name}: no gaming user to evaluate");
    assert_eq!(
        g.recall_at_k.len(),
        goodhart_synth::Archetype::GAMING.len(),
        "{name}: gaming archetypes present: {:?}",
        g.recall_at_k.keys().collect::<Vec<_>>()
    );
    assert!(
        g.average_precision >= 0.95,
        "{name}: AP {:.3} < 0.95\n{r}",
        g.average_precision
    );
    for (arch, rec) in &g.recall_at_k {
        assert!(
            rec.recall > 0.5,
            "{name}: archetype {arch} recall@k {:.2} <= 0.5\n{r}",
            rec.recall
        );
    }
    assert!(
        g.hard_negative_share <= 0.05,
        "{name}: hard negatives {:.1}% of top k\n{r}",
        100.0 * g.hard_negative_share
    );
    let lb = &r.token_leaderboard;
    assert!(
        g.average_precision > lb.average_precision + 0.3,
        "{name}: not far above the token leaderboard\n{r}"
    );
    // The second baseline is not optional here: a missing one must fail,
    // not skip the comparison.
    let f = r
        .isolation_forest_totals
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: the isolation-forest baseline was not computed"));
    assert!(
        g.average_precision > f.average_precision + 0.3,
        "{name}: not far above the isolation forest on totals\n{r}"
    );
}

#[test]
fn synthetic_organisations_quality() {
    let opts = ScoreOptions::default();

    // 1. Default organisation with a roster.
    let mut cfg = SynthConfig::new(1000, 21, 11);
    cfg.gaming_share = 0.08;
    let a = run(&cfg, true, &opts);
    let ra = evaluate_seeded(&a.labels, &a.scores.users, 1).unwrap();
    check_quality("seed 11, roster", &ra);
    let sa = evaluate_sessions(&a.session_labels, &a.scores.sessions).unwrap();
    if verbose() {
        eprintln!("{sa}");
    }
    assert!(sa.goodhart.average_precision >= 0.85, "session AP\n{sa}");
    let session_leaderboard = sa
        .token_leaderboard
        .as_ref()
        .expect("the session token-leaderboard baseline is computed");
    assert!(sa.goodhart.average_precision > session_leaderboard.average_precision + 0.3);
    // Every alerted user explains itself with at least one firing pattern.
    let alerted = a.scores.explanations.iter().filter(|e| e.alert).count();
    assert!(alerted >= ra.n_gaming / 2, "{alerted} alerted users");
    for e in a.scores.explanations.iter().filter(|e| e.alert) {
        assert!(
            !e.patterns.is_empty(),
            "{} alerted without explanation",
            e.user_id
        );
        assert!(!e.patterns[0].text.is_empty());
    }

    // 2. Weaker gamers, another team mix, another seed.
    let mut cfg = SynthConfig::new(1000, 21, 23);
    cfg.gaming_share = 0.06;
    cfg.intensity = 0.7;
    let mut teams = TeamSpec::defaults();
    teams[4].weight *= 2.5; // ml: the heavy team, now the largest
    teams[0].weight *= 0.5;
    cfg.teams = teams;
    let b = run(&cfg, true, &opts);
    check_quality(
        "seed 23, intensity 0.7, ml-heavy",
        &evaluate_seeded(&b.labels, &b.scores.users, 2).unwrap(),
    );

    // 3. No roster: behavioural cohorts.
    let mut cfg = SynthConfig::new(1000, 21, 37);
    cfg.gaming_share = 0.08;
    cfg.intensity = 1.3;
    let c = run(&cfg, false, &opts);
    assert_eq!(
        c.scores.cohort_method,
        goodhart_detect::CohortMethod::Behaviour
    );
    check_quality(
        "seed 37, no roster",
        &evaluate_seeded(&c.labels, &c.scores.users, 3).unwrap(),
    );

    // 4. Nobody games: (almost) no alerts.
    let mut cfg = SynthConfig::new(1000, 21, 51);
    cfg.gaming_share = 0.0;
    let d = run(&cfg, true, &opts);
    let alerts = d.scores.explanations.iter().filter(|e| e.alert).count();
    if verbose() {
        eprintln!(
            "== no gamers: {alerts} alerts of {}",
            d.scores.explanations.len()
        );
    }
    assert!(
        alerts * 100 <= d.scores.explanations.len(),
        "{alerts} alerts in an organisation without gamers"
    );
}
