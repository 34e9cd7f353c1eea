//! The page as a whole: escaping, the small-group rule, ordering, the empty
//! states, the Content-Security-Policy hashes and writing the file.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use goodhart_core::Severity;

use crate::*;

fn user(id: &str, cohort: &str, score: f64, sev: &str, tokens: u64, changes: u64) -> ReportUser {
    ReportUser {
        user_id: id.to_string(),
        cohort: cohort.to_string(),
        score,
        severity: sev.parse().expect("a severity name"),
        total_tokens: tokens,
        accepted_changes: changes,
        tokens_per_accepted_change: (changes > 0).then(|| tokens as f64 / changes as f64),
        ..ReportUser::default()
    }
}

fn data(users: Vec<ReportUser>) -> ReportData {
    ReportData {
        title: "t".into(),
        tool_version: "9.9.9".into(),
        as_of: NaiveDate::from_ymd_opt(2025, 3, 4).unwrap(),
        window_days: 28,
        rows_read: 100,
        rows_accepted: 97,
        rows_quarantined: 3,
        users_scored: users.len() as u64,
        sessions_scored: 5,
        users,
        // These tests check the charts on tiny cohorts: no small-group suppression
        // here (default 5; tested on its own below).
        min_group_size: 1,
        ..ReportData::default()
    }
}

#[test]
fn a_team_of_three_shows_below_five_and_no_figures_of_its_own() {
    let mut users: Vec<ReportUser> = (0..3u32)
        .map(|i| {
            user(
                &format!("t{i}"),
                "tiny",
                80.0 - f64::from(i),
                "high",
                9_000 * (i as u64 + 1),
                3,
            )
        })
        .collect();
    users.extend((0..6u32).map(|i| {
        user(
            &format!("b{i}"),
            "big",
            10.0,
            "none",
            1_000 * (i as u64 + 1),
            10,
        )
    }));
    let mut d = data(users);
    d.min_group_size = DEFAULT_MIN_GROUP_SIZE;
    let html = render(&d);
    // The cohort table row of "tiny": every figure reads "< 5".
    let row_start = html
        .find(r#"<tr data-suppressed="true"><td>tiny</td>"#)
        .expect("tiny row suppressed");
    let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
    assert_eq!(
        row.matches(r#"<td class="num">&lt; 5</td>"#).count(),
        5,
        "{row}"
    );
    assert!(
        !row.contains(">3<"),
        "the team size itself is withheld: {row}"
    );
    // No box for it, a box for the cohort of 6.
    let svg = section(&html, CHART_IDS[1]);
    assert!(!svg.contains(r#"data-cohort="tiny""#));
    assert!(svg.contains(r#"data-cohort="big""#));
    assert!(html.contains("1 cohort of fewer than 5 people is not drawn"));
    // Its members are not compared with their cohort's median in the table.
    assert_eq!(html.matches("cohort of &lt; 5: not compared").count(), 3);
    assert!(html.contains("× cohort median"), "the big cohort still is");
    // With k = 3 the team of 3 is shown.
    d.min_group_size = 3;
    let html = render(&d);
    assert!(!html.contains("&lt; 3"));
    assert!(section(&html, CHART_IDS[1]).contains(r#"data-cohort="tiny""#));
}

#[test]
fn user_text_is_escaped_everywhere() {
    let mut u = user(
        "<script>alert(1)</script>",
        "<b>team\"x'</b>",
        88.0,
        "high",
        1000,
        2,
    );
    u.explanations = vec!["re-sent <img src=x onerror=alert(2)> 5 times".into()];
    u.patterns = vec!["<i>loop</i>".into()];
    u.alert_status = Some(goodhart_alerts::AlertStatus::Reopened);
    let mut d = data(vec![u]);
    d.title = "<title>".into();
    d.alerts_by_severity
        .insert(goodhart_core::Severity::High, 1);
    d.pattern_prevalence = vec![("<i>loop</i>".into(), 1)];
    let html = render(&d);
    for bad in [
        "<script>alert",
        "<b>team",
        "<img src=x",
        "<i>loop",
        "<open>",
        "<title><",
    ] {
        assert!(!html.contains(bad), "unescaped {bad:?} in output");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;team&quot;x&#39;&lt;/b&gt;"));
    assert!(html.contains("re-sent &lt;img src=x onerror=alert(2)&gt; 5 times"));
    // Exactly one script element: ours.
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn histogram_svg_has_one_stacked_segment_per_bin_and_severity() {
    let users = vec![
        user("a", "c", 1.0, "none", 10, 1),
        user("b", "c", 2.0, "none", 10, 1),
        user("c", "c", 3.0, "low", 10, 1),
        user("d", "c", 97.0, "critical", 10, 1),
    ];
    let html = render(&data(users));
    let svg = section(&html, CHART_IDS[0]);
    // bin 0 has "none" and "low" segments, bin 19 one "critical" segment.
    assert_eq!(svg.matches(r#"data-mark="bin""#).count(), 3);
    assert!(svg.contains("score 0–5: 2 users (none)"));
    assert!(svg.contains("score 0–5: 1 user (low)"));
    assert!(svg.contains("score 95–100 (incl. 100): 1 user (critical)"));
}

/// The text of the `<svg>` element with this id.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"id="{id}""#)).expect("chart present");
    let end = html[start..].find("</svg>").unwrap() + start;
    &html[start..end]
}

#[test]
fn table_ranks_by_score_then_id_and_compares_with_cohort_median() {
    // Cohort "a": ratios 100, 200, 900 -> median 200. u3's 900 = 4.5x median.
    let users = vec![
        user("u1", "a", 10.0, "none", 1000, 10),
        user("u2", "a", 50.0, "medium", 400, 2),
        user("u3", "a", 80.0, "high", 900, 1),
        user("u0", "a", 50.0, "medium", 0, 0),
    ];
    let mut d = data(users);
    d.top_users = 3;
    let html = render(&d);
    assert_eq!(html.matches("data-user-row=").count(), 3);
    let p3 = html.find(">u3<").unwrap();
    let p0 = html.find(">u0<").unwrap();
    let p2 = html.find(">u2<").unwrap();
    assert!(p3 < p0 && p0 < p2, "order: score desc, then id");
    assert!(!html.contains(">u1<"), "u1 is 4th, beyond top 3");
    assert!(html.contains("4.5× cohort median (200)"));
    assert!(html.contains("1.0× cohort median (200)")); // u2: 200/200
    assert!(html.contains("no accepted change")); // u0
}

#[test]
fn box_plot_draws_one_box_per_cohort_with_ratios() {
    let users = vec![
        user("a1", "alpha", 5.0, "none", 1_000, 10),
        user("a2", "alpha", 5.0, "none", 3_000, 10),
        user("b1", "beta", 5.0, "none", 50_000, 10),
        user("z1", "zeta", 5.0, "none", 50_000, 0), // no ratio: cohort not drawn
    ];
    let html = render(&data(users));
    let svg = section(&html, CHART_IDS[1]);
    assert_eq!(svg.matches(r#"data-mark="box""#).count(), 2);
    assert!(svg.contains("alpha: min 100, 25th pct 150, median 200, 75th pct 250, max 300"));
    assert!(html.contains("1 user without an accepted change is not drawn."));
    // log axis spans 100 .. 10k (two decades -> 1-2-5 ticks).
    assert!(svg.contains(">100<") && svg.contains(">10k<") && svg.contains(">2k<"));
}

#[test]
fn pattern_bars_sorted_by_count_then_name() {
    let mut d = data(vec![user("u", "c", 1.0, "none", 1, 1)]);
    d.users_scored = 4;
    d.pattern_prevalence = vec![
        ("loop".into(), 1),
        ("spawn".into(), 3),
        ("bloat".into(), 1),
        ("never".into(), 0),
    ];
    let html = render(&d);
    let svg = section(&html, CHART_IDS[2]);
    assert_eq!(svg.matches(r#"data-mark="bar""#).count(), 3);
    let (s, b, l) = (
        svg.find("spawn: 3 users (75.0%)").unwrap(),
        svg.find("bloat: 1 user (25.0%)").unwrap(),
        svg.find("loop: 1 user").unwrap(),
    );
    assert!(s < b && b < l);
    assert!(!svg.contains("never"));
}

#[test]
fn empty_report_renders_clean_empty_states() {
    let mut d = data(vec![]);
    d.rows_read = 0;
    d.rows_accepted = 0;
    d.rows_quarantined = 0;
    let html = render(&d);
    assert_eq!(html.matches(r#"data-empty="true""#).count(), 3);
    assert!(html.contains("No alerts raised in this window."));
    assert!(html.contains(r#"id="users-empty""#));
    assert!(!html.contains("data-mark="));
    assert!(!html.contains("Row accounting does not balance"));
    assert!(!html.contains("NaN") && !html.contains("=\"inf") && !html.contains(">inf"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn unbalanced_row_accounting_is_flagged() {
    let mut d = data(vec![]);
    d.rows_read = 10;
    d.rows_accepted = 7;
    d.rows_quarantined = 2;
    let html = render(&d);
    assert!(html.contains("7 accepted + 2 quarantined ≠ 10 read"));
}

#[test]
fn alerts_listed_most_severe_first() {
    let mut d = data(vec![]);
    d.alerts_by_severity = BTreeMap::from([
        (Severity::Low, 4),
        (Severity::Critical, 1),
        (Severity::High, 2),
    ]);
    let html = render(&d);
    let c = html.find("sev-critical\">critical</span> 1").unwrap();
    let hi = html.find("sev-high\">high</span> 2").unwrap();
    let lo = html.find("sev-low\">low</span> 4").unwrap();
    assert!(c < hi && hi < lo);
    assert!(html.contains(r#"<div class="v">7</div>"#));
}

#[test]
fn output_is_independent_of_user_order() {
    let users = vec![
        user("a", "x", 30.0, "low", 100, 1),
        user("b", "y", 30.0, "low", 200, 1),
        user("c", "x", 70.0, "high", 300, 1),
    ];
    let mut rev = users.clone();
    rev.reverse();
    assert_eq!(render(&data(users)), render(&data(rev)));
}

#[test]
fn write_report_names_the_file_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("report.html");
    let err = write_report(&data(vec![]), &path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("missing-dir"), "{msg}");
    let ok = dir.path().join("report.html");
    write_report(&data(vec![]), &ok).unwrap();
    assert_eq!(std::fs::read_to_string(&ok).unwrap(), render(&data(vec![])));
    assert!(!dir.path().join("report.html.tmp").exists());
}

/// The text between `open` (an opening tag, e.g. `<style>`) and its closing tag.
fn inline_block<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html.find(open).expect("block present") + open.len();
    let end = html[start..].find(close).expect("block closed") + start;
    &html[start..end]
}

/// The `'sha256-…'` source of `directive` in the page's Content-Security-Policy.
fn policy_hash<'a>(html: &'a str, directive: &str) -> &'a str {
    let policy = inline_block(
        html,
        r#"http-equiv="Content-Security-Policy" content=""#,
        "\"",
    );
    let rest = &policy[policy.find(directive).expect("directive present") + directive.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix("'sha256-")
        .expect("a sha256 source");
    &rest[..rest.find('\'').expect("quoted")]
}

fn sha256_base64(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

#[test]
fn csp_hashes_are_those_of_the_inline_style_and_script() {
    let html = render(&fixture_with_waste());
    assert_eq!(html.matches("<style>").count(), 1);
    assert_eq!(html.matches("<script>").count(), 1);
    let style = inline_block(&html, "<style>", "</style>");
    let script = inline_block(&html, "<script>", "</script>");
    assert!(style.contains("svg.chart") && script.contains("dataset.rendered"));
    assert_eq!(policy_hash(&html, "style-src"), sha256_base64(style));
    assert_eq!(policy_hash(&html, "script-src"), sha256_base64(script));
    // Known answer: the hash of the empty string, so a broken hasher cannot agree with itself.
    assert_eq!(
        crate::page::csp_hash(""),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
}

#[test]
fn hostile_team_names_and_user_ids_are_escaped_in_every_section() {
    let team = r#"<script>alert("t")</script>'x"#;
    let id = r#"<img src=x onerror="alert(1)">"#;
    let mut d = data(vec![
        user(id, team, 91.0, "high", 10_000, 2),
        user("u2", team, 10.0, "none", 4_000, 2),
    ]);
    d.pattern_prevalence = vec![(r#"<p>"pat"</p>"#.into(), 1)];
    let mut w = waste_fixture();
    w.by_team = vec![(team.into(), 2, Some((1.0, 2.0))), (team.into(), 1, None)];
    w.weeks = vec![(week(5), team.into(), r#"<p>"pat"</p>"#.into(), 3.0)];
    w.top_sessions = vec![(id.into(), id.into(), team.into(), 5, 1.0)];
    w.unpriced_models = vec![(team.into(), 5)];
    d.waste = Some(w);
    let html = render(&d);
    for bad in ["<script>alert(", "<img src", "<p>\"pat", "alert(\"t\")"] {
        assert!(!html.contains(bad), "unescaped {bad:?}");
    }
    let team_escaped = "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;&#39;x";
    let id_escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;";
    // Top table, box plot, waste by team / trend / sessions / unpriced models.
    assert!(html.contains(&format!(
        r#"<td class="user">{id_escaped}</td><td>{team_escaped}</td>"#
    )));
    assert!(html.contains(&format!(r#"<g data-cohort="{team_escaped}">"#)));
    assert!(html.contains(&format!(
        r#"<tr data-team="{team_escaped}"><td>{team_escaped}</td>"#
    )));
    assert!(html.contains(&format!(
        "<tr data-waste-session><td>{id_escaped}</td><td>{id_escaped}</td><td>{team_escaped}</td>"
    )));
    assert!(html.contains(&format!("models: {team_escaped} (5 tokens)")));
    assert!(html.contains("&lt;p&gt;&quot;pat&quot;&lt;/p&gt;: 1 user"));
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn tiny_shares_are_escaped_text() {
    let mut d = data(vec![]);
    d.rows_read = 1_000_000;
    d.rows_accepted = 999_999;
    d.rows_quarantined = 1;
    let html = render(&d);
    assert!(html.contains(r#"<div class="s">&gt;99.99% of rows read</div>"#));
    assert!(html.contains(r#"<div class="s">&lt;0.01% of rows read</div>"#));
}

#[test]
fn waste_section_comes_first_and_suppresses_small_teams() {
    let mut d = data(vec![user("u", "c", 1.0, "none", 1, 1)]);
    d.min_group_size = DEFAULT_MIN_GROUP_SIZE;
    d.waste = Some(waste_fixture());
    let html = render(&d);
    let cost = html
        .find(r#"<section id="what-it-cost""#)
        .expect("section shown");
    assert!(cost < html.find("<header>").unwrap());
    assert!(html.contains(r#"data-waste-total="2000.00">$2,000</div>"#));
    assert!(html.contains(r#"<div class="v">8.0%</div><div class="s">of $25,000</div>"#));
    assert!(html.contains(
        r#"<tr data-team="tiny"><td>tiny</td><td class="num">&lt; 5</td><td class="num">&lt; 5</td><td class="num">&lt; 5</td></tr>"#
    ));
    assert!(html.contains(
        r#"<td class="num">12</td><td class="num">$1,500</td><td class="num">10.0%</td>"#
    ));
    // 2 weeks x 2 patterns, stacked.
    assert_eq!(
        section(&html, WASTE_CHART_ID)
            .matches(r#"data-mark="week""#)
            .count(),
        4
    );
    assert!(html.contains("list prices of 2026-11-30"));
    d.waste = None;
    assert!(!render(&d).contains("what-it-cost"));
}

fn week(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 5, day).unwrap()
}

fn waste_fixture() -> WasteReport {
    let mut weeks = Vec::new();
    for (day, scale) in [(5, 1.0), (12, 0.5)] {
        weeks.push((
            week(day),
            "infra".into(),
            "prompt-loop".into(),
            900.0 * scale,
        ));
        weeks.push((
            week(day),
            "web".into(),
            "context-reload-churn".into(),
            400.0 * scale,
        ));
    }
    WasteReport {
        billed_usd: 1_840.0,
        estimated_usd: 160.0,
        tokens: 912_000_000,
        spend_usd: 25_000.0,
        unpriced_tokens: 12_000,
        unpriced_models: vec![("acme-llm-7".into(), 40_000)],
        price_table_date: Some("2026-11-30".into()),
        by_pattern: vec![
            ("prompt-loop".into(), 600_000_000, 1_300.0),
            ("context-reload-churn".into(), 312_000_000, 700.0),
        ],
        by_team: vec![
            ("infra".into(), 12, Some((1_500.0, 15_000.0))),
            ("web".into(), 9, Some((500.0, 9_000.0))),
            ("tiny".into(), 3, None),
        ],
        weeks,
        top_sessions: vec![(
            "s-1".into(),
            "u-1".into(),
            "prompt-loop".into(),
            40_000_000,
            180.0,
        )],
    }
}

/// Many users in cohorts of every size, every severity, a non-finite score, warnings.
fn fixture_with_waste() -> ReportData {
    let sev = ["critical", "high", "medium", "low", "none"];
    let users: Vec<ReportUser> = (0..140u64)
        .map(|i| {
            let mut u = user(
                &format!("u{i:03}"),
                &format!("team-{}", i % 37),
                (i * 7919 % 1013) as f64 / 10.0,
                sev[(i % 5) as usize],
                1_000 + i * i * 977,
                i % 9,
            );
            if i % 5 == 0 {
                u.patterns = vec![format!("p{}", i % 3)];
                u.explanations = vec![format!("explained {i}")];
                u.alert_status = Some(goodhart_alerts::AlertStatus::New);
            }
            if i == 7 {
                u.score = f64::NAN;
            }
            u
        })
        .collect();
    let mut d = data(users);
    d.min_group_size = 4;
    d.warnings = vec!["the last day looks incomplete".into()];
    d.pattern_prevalence = (0..34).map(|i| (format!("pattern-{i}"), i % 6)).collect();
    d.alerts_by_severity = BTreeMap::from([(Severity::High, 2), (Severity::Medium, 1)]);
    d.waste = Some(waste_fixture());
    d
}
