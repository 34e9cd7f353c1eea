//! The evaluation suite of `goodhart eval --suite` (issue #17), on seeds
//! nobody tuned on (the detectors were tuned on other base seeds). Slow
//! (ten organisations, each scored with and without a roster): `#[ignore]`d,
//! run once by `.ci/run` (test profile, optimised):
//!
//! ```text
//! cargo test --workspace --test eval_suite -- --ignored --nocapture
//! ```
//!
//! It prints the table of `BENCHMARKS.md` and asserts the "Done when"
//! targets of issue #17 for every scenario, with and without a roster.

use goodhart::suite::{run_suite, SuiteOptions, SuiteRow};

fn ours(rows: &[SuiteRow]) -> impl Iterator<Item = &SuiteRow> {
    rows.iter().filter(|r| r.method == "goodhart")
}

/// The scenario whose gaming team is `platform` (two thirds of it re-spawn
/// the team's standard sub-agents): the only one that must have a
/// team-level finding, and only for that team.
const GAMING_TEAM_SCENARIO: &str = "team-two-thirds";
const GAMING_TEAM: &str = "platform";

#[test]
#[ignore = "slow: ten synthetic organisations; .ci/run runs it"]
fn evaluation_suite_targets() {
    let t = std::time::Instant::now();
    let report = run_suite(&SuiteOptions::default()).unwrap();
    println!("{report}");
    eprintln!("suite ran in {:.0} s", t.elapsed().as_secs_f64());
    let name = |r: &SuiteRow| format!("{} (roster: {})", r.scenario, r.roster);
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            failures.push(msg);
        }
    };
    for r in ours(&report.rows) {
        if r.gamers > 0 {
            check(
                r.average_precision >= 0.97,
                format!("{}: AP {:.3} < 0.97", name(r), r.average_precision),
            );
            let recall = r.alert_recall.unwrap_or(0.0);
            check(
                recall >= 0.90,
                format!(
                    "{}: {:.1}% of gamers alerted < 90% ({:?})",
                    name(r),
                    100.0 * recall,
                    r.archetype_alerts
                ),
            );
            // And far above both naive baselines.
            for b in report.rows.iter().filter(|b| {
                b.scenario == r.scenario && b.roster == r.roster && b.method != "goodhart"
            }) {
                check(
                    r.average_precision > b.average_precision,
                    format!(
                        "{}: AP {:.3} not above {} {:.3}",
                        name(r),
                        r.average_precision,
                        b.method,
                        b.average_precision
                    ),
                );
            }
        }
        let limit = if r.gamers == 0 { 0.005 } else { 0.01 };
        let rate = r.false_alert_rate.unwrap_or(1.0);
        check(
            rate <= limit,
            format!(
                "{}: {:.2}% of legitimate users alerted > {:.1}%",
                name(r),
                100.0 * rate,
                100.0 * limit
            ),
        );
        check(
            r.migration_alerts == Some(0),
            format!(
                "{}: {:?} migration users alerted",
                name(r),
                r.migration_alerts
            ),
        );
        // Team-level findings: for the gaming team with a roster, for no
        // other team, and none without a roster (behavioural groups are
        // not teams; see ScoreOptions::cohort_findings).
        let want_team = r.roster && r.scenario == GAMING_TEAM_SCENARIO;
        let teams: Vec<&str> = r
            .cohort_findings
            .iter()
            .map(|f| f.split(':').next().unwrap_or(""))
            .collect();
        check(
            if want_team {
                !teams.is_empty() && teams.iter().all(|t| *t == GAMING_TEAM)
            } else {
                teams.is_empty()
            },
            format!("{}: team findings {:?}", name(r), r.cohort_findings),
        );
    }
    assert!(
        failures.is_empty(),
        "targets missed:\n{}",
        failures.join("\n")
    );
}
