//! Verdicts taken back from Jira: resolved goodhart tickets become feedback, once.

mod common;

use common::*;
use goodhart_alerts::*;

fn five_users() -> Vec<AlertCandidate> {
    ["ann", "ben", "cat", "dan", "eve"]
        .iter()
        .map(|u| candidate(u, "redundant-agent-spawns", Severity::High, 80.0))
        .collect()
}

/// Five alerts delivered as GOV-1..GOV-5 (in fingerprint order: canonical alert order).
fn delivered(
    cfg: &AlertsConfig,
    env: EnvSource,
) -> (tempfile::TempDir, StateStore, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let r = store
        .reconcile(&five_users(), day(8), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, cfg, &r.alerts, &fast_opts(env)).unwrap();
    assert_eq!(rep.tickets_created.len(), 5);
    (dir, store, rep.tickets_created)
}

fn user_of(store: &StateStore, fp: &str) -> String {
    store.alert_record(fp).unwrap().unwrap().user_id
}

#[test]
fn resolutions_become_verdicts_once_across_pages() {
    let server = start_jira();
    let cfg = jira_config(&server.url);
    let (_d, mut store, tickets) = delivered(&cfg, jira_env());
    {
        let mut s = server.state();
        s.page_size = 2; // five resolved tickets: three pages
        s.resolve("GOV-1", "Won't Do");
        s.resolve("GOV-2", "Done");
        s.resolve("GOV-3", "not a bug"); // names compare case-insensitively
        s.resolve("GOV-4", "Cannot Reproduce"); // not mapped by default
        s.resolve("GOV-5", "Duplicate");
    }
    let fp_of = |key: &str| tickets.iter().find(|(_, k)| k == key).unwrap().0.clone();
    let opts = fast_opts(jira_env());
    let rep = sync_jira_verdicts(&mut store, &cfg, &opts, day(9)).unwrap();
    assert_eq!(rep.error, None);
    assert_eq!((rep.tickets_checked, rep.synced, rep.pages), (5, 4, 3));
    assert_eq!(rep.unmapped.get("Cannot Reproduce"), Some(&1));
    let got: Vec<(String, String, Verdict)> = rep
        .recorded
        .iter()
        .map(|v| (v.ticket.clone(), v.fingerprint.clone(), v.verdict))
        .collect();
    assert_eq!(
        got,
        vec![
            ("GOV-1".into(), fp_of("GOV-1"), Verdict::FalsePositive),
            ("GOV-2".into(), fp_of("GOV-2"), Verdict::Confirmed),
            ("GOV-3".into(), fp_of("GOV-3"), Verdict::FalsePositive),
            ("GOV-5".into(), fp_of("GOV-5"), Verdict::FalsePositive),
        ]
    );
    // Recorded as `goodhart feedback` records: suppressions and labels.
    assert_eq!(
        store.suppressed_until(&fp_of("GOV-1"), day(9)).unwrap(),
        Some(day(9) + chrono::Days::new(90))
    );
    let labels = store.feedback_labels().unwrap();
    assert_eq!(labels.len(), 4);
    assert!(labels.contains(&(
        user_of(&store, &fp_of("GOV-2")),
        "redundant-agent-spawns".into(),
        Verdict::Confirmed
    )));
    assert!(server.violations().is_empty(), "{:?}", server.violations());
    let searches = server.count("/rest/api/3/search/jql");

    // Again: nothing new is recorded.
    let again = sync_jira_verdicts(&mut store, &cfg, &opts, day(10)).unwrap();
    assert_eq!((again.synced, again.already_recorded), (0, 4));
    assert_eq!(store.feedback_labels().unwrap().len(), 4);
    assert_eq!(server.count("/rest/api/3/search/jql"), searches + 3);

    // A verdict changed in Jira is a new verdict.
    server.state().resolve("GOV-1", "Fixed");
    let changed = sync_jira_verdicts(&mut store, &cfg, &opts, day(11)).unwrap();
    assert_eq!(changed.synced, 1);
    assert_eq!(
        store.suppressed_until(&fp_of("GOV-1"), day(11)).unwrap(),
        None
    );
    // And back: recorded again, the latest verdict per ticket is what counts.
    server.state().resolve("GOV-1", "Won't Do");
    let back = sync_jira_verdicts(&mut store, &cfg, &opts, day(11)).unwrap();
    assert_eq!(back.synced, 1);
    assert!(store
        .suppressed_until(&fp_of("GOV-1"), day(11))
        .unwrap()
        .is_some());

    // The suppression takes effect in the lifecycle: GOV-3's alert is not raised again.
    let r = store
        .reconcile(&five_users(), day(12), &LifecyclePolicy::default())
        .unwrap();
    assert_eq!(r.suppressed, 3, "GOV-1, GOV-3 and GOV-5");
}

#[test]
fn pseudonymised_tickets_map_back_through_their_public_fingerprint() {
    let server = start_jira();
    let mut cfg = jira_config(&server.url);
    cfg.privacy.pseudonymize = true;
    cfg.privacy.key_env = "T_PSEUDO_KEY".into();
    let env = env_map(&[
        ("T_JIRA_EMAIL", EMAIL),
        ("T_JIRA_TOKEN", TOKEN),
        ("T_PSEUDO_KEY", "k"),
    ]);
    let (_d, mut store, tickets) = delivered(&cfg, env.clone());
    server.state().resolve("GOV-4", "Won't Do");
    let rep = sync_jira_verdicts(&mut store, &cfg, &fast_opts(env), day(9)).unwrap();
    assert_eq!(rep.synced, 1);
    // The label holds the public fingerprint; the verdict lands on the internal one.
    let internal = &tickets.iter().find(|(_, k)| k == "GOV-4").unwrap().0;
    assert_eq!(&rep.recorded[0].fingerprint, internal);
    assert!(store.suppressed_until(internal, day(9)).unwrap().is_some());
}

#[test]
fn custom_mapping_replaces_the_default() {
    let server = start_jira();
    let mut cfg = jira_config(&server.url);
    cfg.jira.as_mut().unwrap().resolution_verdicts =
        toml::from_str::<std::collections::BTreeMap<String, Verdict>>(
            "\"Working as intended\" = \"false-positive\"\n\"Gaming\" = \"confirmed\"\n",
        )
        .unwrap();
    let (_d, mut store, _) = delivered(&cfg, jira_env());
    {
        let mut s = server.state();
        s.resolve("GOV-1", "Working as intended");
        s.resolve("GOV-2", "Won't Do");
        s.resolve("GOV-3", "Gaming");
    }
    let rep = sync_jira_verdicts(&mut store, &cfg, &fast_opts(jira_env()), day(9)).unwrap();
    assert_eq!(rep.synced, 2);
    assert_eq!(rep.unmapped.get("Won't Do"), Some(&1));
    let verdicts: Vec<Verdict> = rep.recorded.iter().map(|v| v.verdict).collect();
    assert_eq!(verdicts, vec![Verdict::FalsePositive, Verdict::Confirmed]);
}

#[test]
fn jira_down_is_reported_not_fatal_and_no_jira_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let cfg = jira_config(&format!("http://127.0.0.1:{}", dead_port()));
    let rep = sync_jira_verdicts(&mut store, &cfg, &fast_opts(jira_env()), day(9)).unwrap();
    let e = rep.error.expect("reported");
    assert!(e.contains("network error"), "{e}");
    assert!(!e.contains(TOKEN));
    assert_eq!(rep.synced, 0);

    let err = sync_jira_verdicts(
        &mut store,
        &AlertsConfig::default(),
        &fast_opts(jira_env()),
        day(9),
    )
    .unwrap_err();
    assert!(err.to_string().contains("[jira]"), "{err}");
    // Missing credentials: named, before any request.
    let err = sync_jira_verdicts(&mut store, &cfg, &fast_opts(env_map(&[])), day(9)).unwrap_err();
    assert!(err.to_string().contains("T_JIRA_EMAIL"), "{err}");
}
