//! Jira delivery against an in-memory Jira Cloud on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use goodhart_alerts::*;

const SPAWNS: &str = "redundant-agent-spawns";

fn setup() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    (dir, store)
}

fn two_candidates() -> Vec<AlertCandidate> {
    vec![
        candidate("alice", SPAWNS, Severity::High, 80.0),
        candidate("bob", "prompt-loops", Severity::Medium, 55.0),
    ]
}

#[test]
fn first_run_creates_tickets_next_day_comments() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let p = LifecyclePolicy::default();
    let opts = fast_opts(jira_env());

    let r = store.reconcile(&two_candidates(), day(1), &p).unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!(rep.enqueued, 2);
    assert_eq!(rep.sent, 2);
    assert_eq!(rep.comments_added, 0);
    assert_eq!(rep.still_pending, 0);
    // Order: alice (high) before bob (medium).
    let fa = fingerprint("alice", SPAWNS);
    let fb = fingerprint("bob", "prompt-loops");
    assert_eq!(
        rep.tickets_created,
        vec![
            (fa.clone(), "GOV-1".to_string()),
            (fb.clone(), "GOV-2".to_string())
        ]
    );
    {
        let s = server.state();
        assert_eq!(s.issues.len(), 2);
        let i = &s.issues[0];
        assert_eq!(
            i.labels,
            vec![
                "goodhart".to_string(),
                format!("goodhart-{fa}"),
                "ai-usage".to_string()
            ]
        );
        assert_eq!(i.fields["priority"]["name"], "High");
        assert_eq!(s.issues[1].fields["priority"]["name"], "Medium");
        assert_eq!(i.fields["issuetype"]["name"], "Task");
        let summary = i.fields["summary"].as_str().unwrap();
        assert!(
            summary.contains("alice") && summary.contains(SPAWNS),
            "{summary}"
        );
        let description = i.fields["description"].to_string();
        assert!(description.contains("spawned the same agent task 12 times"));
        assert!(description.contains("bulletList"));
    }
    assert_eq!(store.ticket(&fa).unwrap().as_deref(), Some("GOV-1"));
    assert_eq!(store.ticket(&fb).unwrap().as_deref(), Some("GOV-2"));
    assert!(store
        .outbox()
        .unwrap()
        .iter()
        .all(|e| e.state == OutboxState::Done));

    // Same-day re-run: nothing new is sent.
    let r = store.reconcile(&two_candidates(), day(1), &p).unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!((rep.enqueued, rep.sent, rep.http_requests), (0, 0, 0));

    // Next day: ongoing alerts carry their ticket and get comments, no new tickets.
    let r = store.reconcile(&two_candidates(), day(2), &p).unwrap();
    assert!(r.alerts.iter().all(|a| a.status == AlertStatus::Ongoing));
    assert_eq!(r.alerts[0].ticket.as_deref(), Some("GOV-1"));
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!(rep.tickets_created, vec![]);
    assert_eq!(rep.comments_added, 2);
    let s = server.state();
    assert_eq!(s.issues.len(), 2);
    assert!(s.issues.iter().all(|i| i.comments.len() == 1));
    assert_eq!(
        s.requests
            .iter()
            .filter(|r| r.path == "/rest/api/3/issue")
            .count(),
        2
    );
    // Comments on known tickets need no search: the 2 searches are from day 1.
    assert_eq!(
        s.requests
            .iter()
            .filter(|r| r.path.ends_with("/search/jql"))
            .count(),
        2
    );
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[test]
fn rate_limit_is_retried_after_retry_after() {
    let server = start_jira();
    server.push_script(Scripted {
        retry_after: Some(1),
        ..Scripted::status(429)
    });
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let r = store
        .reconcile(&two_candidates()[..1], day(1), &LifecyclePolicy::default())
        .unwrap();
    let t = Instant::now();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    let took = t.elapsed();
    assert_eq!(rep.tickets_created.len(), 1);
    // The one wait is the server's Retry-After (1 s), not the 5 ms backoff
    // fast_opts would otherwise use; and it was really slept. No upper bound
    // on the wall clock: a busy machine may be slow, which proves nothing.
    // (Caught when the Retry-After header was ignored.)
    assert_eq!(rep.retry_waits_ms, vec![1000], "Retry-After not honoured");
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    let s = server.state();
    let statuses: Vec<(u16, &str)> = s
        .requests
        .iter()
        .map(|r| (r.status, r.path.as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (429, "/rest/api/3/search/jql"),
            (200, "/rest/api/3/search/jql"),
            (201, "/rest/api/3/issue"),
        ]
    );
    assert_eq!(store.outbox().unwrap()[0].attempts, 3);
}

#[test]
fn server_errors_retry_then_stay_pending() {
    let server = start_jira();
    for _ in 0..3 {
        server.push_script(Scripted::status(503));
    }
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let r = store
        .reconcile(&two_candidates(), day(1), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    // 3 attempts on the first delivery, then the sink is skipped for this run.
    assert_eq!(rep.http_requests, 3);
    assert_eq!((rep.sent, rep.still_pending), (0, 2));
    assert!(rep.retry_errors[0].contains("503"));
    let ob = store.outbox().unwrap();
    assert!(ob.iter().all(|e| e.state == OutboxState::Pending));
    assert_eq!(ob[0].attempts, 3);
    assert!(ob[0].last_error.as_deref().unwrap().contains("HTTP 503"));
    // Next run succeeds.
    let rep = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.tickets_created.len(), 2);
}

#[test]
fn client_errors_are_not_retried() {
    let server = start_jira();
    server.push_script(Scripted::status(400));
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let r = store
        .reconcile(&two_candidates()[..1], day(1), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!(server.state().requests.len(), 1);
    assert_eq!(rep.failed.len(), 1);
    assert!(
        rep.failed[0].error.contains("HTTP 400"),
        "{}",
        rep.failed[0].error
    );
    assert!(rep.failed[0].error.contains("scripted 400"));
    let e = &store.outbox().unwrap()[0];
    assert_eq!((e.state, e.attempts), (OutboxState::Failed, 1));
    // Failed deliveries are not resent by later runs...
    let rep = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.http_requests, 0);
    // ...unless requeued explicitly.
    assert!(store.requeue(&e.delivery_id).unwrap());
    let rep = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.tickets_created.len(), 1);
}

#[test]
fn server_down_then_up_sends_exactly_once() {
    let port = dead_port();
    let (_d, mut store) = setup();
    let cfg = jira_config(&format!("http://127.0.0.1:{port}"));
    let r = store
        .reconcile(&two_candidates(), day(1), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!((rep.sent, rep.still_pending, rep.http_requests), (0, 2, 3));
    // Two backoffs between the three attempts on the first delivery, jittered
    // to 50-100 % of 5 ms then 10 ms; the second delivery is not attempted
    // once the sink is known to be down. (Caught when a down sink was retried
    // for every delivery.)
    assert_eq!(rep.retry_waits_ms.len(), 2, "{:?}", rep.retry_waits_ms);
    assert!(rep.retry_waits_ms[0] <= 5 && rep.retry_waits_ms[1] <= 10);
    assert!(
        rep.retry_errors[0].contains("network error"),
        "{:?}",
        rep.retry_errors
    );
    assert_eq!(store.pending().unwrap().len(), 2);

    // The server comes up on the same port; the same scan is delivered again.
    let server = start_jira_on(port);
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.enqueued, 0);
    assert_eq!(rep.tickets_created.len(), 2);
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.http_requests, 0);
    assert_eq!(server.count("/rest/api/3/issue"), 2);
    assert_eq!(server.state().issues.len(), 2);
    assert!(store.pending().unwrap().is_empty());
}

#[test]
fn pending_from_yesterday_goes_first_and_today_comments() {
    let port = dead_port();
    let (_d, mut store) = setup();
    let cfg = jira_config(&format!("http://127.0.0.1:{port}"));
    let p = LifecyclePolicy::default();
    let r = store.reconcile(&two_candidates()[..1], day(1), &p).unwrap();
    deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    let server = start_jira_on(port);
    let r = store.reconcile(&two_candidates()[..1], day(2), &p).unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Ongoing);
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    // Yesterday's create, then today's comment on the ticket it made.
    assert_eq!(rep.tickets_created.len(), 1);
    assert_eq!(rep.comments_added, 1);
    let s = server.state();
    assert_eq!(s.issues.len(), 1);
    assert_eq!(s.issues[0].comments.len(), 1);
}

#[test]
fn crash_between_send_and_record_does_not_duplicate() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let fa = fingerprint("alice", SPAWNS);
    // The issue was created by a run that crashed before recording it: Jira has it, the state
    // has the delivery pending and no ticket.
    server.state().issues.push(Issue {
        key: "GOV-1".into(),
        labels: vec!["goodhart".into(), format!("goodhart-{fa}")],
        fields: serde_json::json!({}),
        comments: vec![],
        done: false,
        resolution: None,
    });
    let r = store
        .reconcile(&two_candidates()[..1], day(1), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert!(rep.tickets_created.is_empty());
    assert_eq!(rep.comments_added, 1);
    assert_eq!(server.count("/rest/api/3/issue"), 0);
    assert_eq!(server.state().issues.len(), 1);
    assert_eq!(store.ticket(&fa).unwrap().as_deref(), Some("GOV-1"));

    // Same with a delivery that was done and is replayed (requeued): still one issue.
    let id = store.outbox().unwrap()[0].delivery_id.clone();
    store.requeue(&id).unwrap();
    deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap();
    assert_eq!(server.state().issues.len(), 1);
    assert!(server.violations().is_empty());
}

#[test]
fn reopened_alert_gets_a_new_ticket_when_the_old_one_is_done() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let p = LifecyclePolicy::default();
    let c = &two_candidates()[..1];
    let r = store.reconcile(c, day(1), &p).unwrap();
    deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    server.state().issues[0].done = true;
    store.reconcile(&[], day(8), &p).unwrap();
    let r = store.reconcile(c, day(30), &p).unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Reopened);
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.tickets_created[0].1, "GOV-2");
    assert_eq!(
        store
            .ticket(&fingerprint("alice", SPAWNS))
            .unwrap()
            .as_deref(),
        Some("GOV-2")
    );
}

#[test]
fn pseudonymised_payloads_and_whois() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let mut cfg = jira_config(&server.url);
    cfg.privacy.pseudonymize = true;
    cfg.privacy.key_env = "T_PSEUDO_KEY".into();
    let env = env_map(&[
        ("T_JIRA_EMAIL", EMAIL),
        ("T_JIRA_TOKEN", TOKEN),
        ("T_PSEUDO_KEY", "k"),
    ]);
    let p = LifecyclePolicy::default();
    let r = store.reconcile(&two_candidates(), day(1), &p).unwrap();

    // Missing key: an error naming the variable, nothing recorded.
    let err = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap_err();
    assert!(matches!(err, AlertError::MissingEnv { .. }));
    assert!(err.to_string().contains("T_PSEUDO_KEY"));
    assert!(err.to_string().contains("[privacy] key_env"));
    assert!(store.outbox().unwrap().is_empty());

    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(env)).unwrap();
    assert_eq!(rep.tickets_created.len(), 2);
    // HMAC-SHA256("k", "alice") = ec631a55bb81f5b9..., computed independently.
    let alice_p = "p-ec631a55bb81f5b9";
    assert_eq!(pseudonym(b"k", "alice"), alice_p);
    let s = server.state();
    for req in &s.requests {
        assert!(
            !req.body.contains("alice") && !req.body.contains("bob"),
            "{}",
            req.body
        );
    }
    let summary = s.issues[0].fields["summary"].as_str().unwrap();
    assert!(summary.contains(alice_p), "{summary}");
    // Evidence text mentioning the user is pseudonymised too.
    assert!(s.issues[0].fields["description"]
        .to_string()
        .contains(&format!("{alice_p} spawned")));
    // The label uses the public fingerprint, not the internal one.
    let public_fp = fingerprint(alice_p, SPAWNS);
    assert!(s.issues[0]
        .labels
        .contains(&format!("goodhart-{public_fp}")));
    assert!(!s.issues[0]
        .labels
        .contains(&format!("goodhart-{}", fingerprint("alice", SPAWNS))));
    drop(s);

    assert_eq!(store.whois(alice_p).unwrap().as_deref(), Some("alice"));
    assert_eq!(
        store.whois("p-73662dcee4acad8d").unwrap().as_deref(),
        Some("bob")
    );
    assert_eq!(store.whois("p-0000000000000000").unwrap(), None);
    // Feedback can be given with the fingerprint shown in the ticket.
    assert_eq!(
        store.resolve_fingerprint(&public_fp).unwrap(),
        Some(fingerprint("alice", SPAWNS))
    );
    store
        .record_feedback(&public_fp, Verdict::FalsePositive, "", day(2), &p)
        .unwrap();
    let r = store.reconcile(&two_candidates(), day(3), &p).unwrap();
    assert_eq!(r.suppressed, 1);
}

#[test]
fn dry_run_sends_nothing_and_changes_nothing() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let mut cfg = jira_config(&server.url);
    cfg.privacy.pseudonymize = true;
    cfg.privacy.key_env = "T_PSEUDO_KEY".into();
    let p = LifecyclePolicy::default();
    let r = store.reconcile(&two_candidates(), day(1), &p).unwrap();
    let before = store.alert_records().unwrap();
    let mut opts = fast_opts(env_map(&[("T_PSEUDO_KEY", "k")])); // no Jira credentials needed
    opts.dry_run = true;
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert!(rep.dry_run);
    assert_eq!(rep.planned.len(), 2);
    assert_eq!(rep.planned[0].action, Action::Create);
    assert_eq!(rep.planned[0].sink, Sink::Jira);
    assert!(rep.planned[0].url.ends_with("/rest/api/3/search/jql"));
    assert!(rep.planned[0].payload["fields"]["summary"]
        .as_str()
        .unwrap()
        .contains("p-ec631a55bb81f5b9"));
    assert_eq!(server.state().requests.len(), 0);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.whois("p-ec631a55bb81f5b9").unwrap(), None);
    assert_eq!(store.alert_records().unwrap(), before);
}

#[test]
fn credentials_never_leak() {
    let b64 = "Z292LWJvdEBleGFtcGxlLmNvbTpzM2NyM3QtamlyYS10b2tlbi1YWVo="; // base64(email:token)
    let leaks = |s: &str| s.contains(TOKEN) || s.contains(b64);

    let opts = fast_opts(jira_env());
    assert!(!leaks(&format!("{opts:?}")));
    assert!(!leaks(&format!("{:?}", Secret::new(TOKEN))));
    assert!(!leaks(&format!("{}", Secret::new(TOKEN))));
    assert!(!leaks(&format!(
        "{:?}",
        Pseudonymizer::new(Secret::new(TOKEN))
    )));

    // A careless server echoing the Authorization header in its error body.
    let server = start_jira();
    server.push_script(Scripted {
        echo_auth: true,
        ..Scripted::status(400)
    });
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    assert!(!leaks(&format!("{cfg:?}")));
    let r = store
        .reconcile(&two_candidates(), day(1), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!(rep.failed.len(), 1);
    let err = &rep.failed[0].error;
    assert!(
        err.contains("you sent Authorization: Basic <redacted>"),
        "{err}"
    );
    assert!(!leaks(err) && !leaks(&format!("{rep:?}")));
    for e in store.outbox().unwrap() {
        assert!(!leaks(&format!("{e:?}")));
    }

    // Wrong token: 401, permanently failed, still nothing leaked.
    let wrong = env_map(&[("T_JIRA_EMAIL", EMAIL), ("T_JIRA_TOKEN", "wrong-token-123")]);
    let r2 = store
        .reconcile(&two_candidates(), day(2), &LifecyclePolicy::default())
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r2.alerts, &fast_opts(wrong)).unwrap();
    assert_eq!(rep.failed.len(), 2);
    assert!(
        rep.failed[0].error.contains("HTTP 401"),
        "{}",
        rep.failed[0].error
    );
    assert!(!rep.failed[0].error.contains("wrong-token-123"));

    // Missing token: the error names the variable, not a value.
    let err = deliver(
        &mut store,
        &cfg,
        &r.alerts,
        &fast_opts(env_map(&[("T_JIRA_EMAIL", EMAIL)])),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("T_JIRA_TOKEN") && msg.contains("[jira] token_env"),
        "{msg}"
    );
    assert!(!leaks(&msg) && !leaks(&format!("{err:?}")));
}

#[test]
fn below_min_severity_is_not_delivered_and_long_summaries_fit() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let long_user = "é".repeat(300);
    let r = store
        .reconcile(
            &[
                candidate(&long_user, SPAWNS, Severity::High, 90.0),
                candidate("quiet", SPAWNS, Severity::None, 3.0),
            ],
            day(1),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!(rep.below_threshold, 1);
    assert_eq!(rep.tickets_created.len(), 1);
    let s = server.state();
    let summary = s.issues[0].fields["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 255);
    assert!(summary.ends_with('…'));
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[test]
fn invalid_config_is_rejected_before_anything_happens() {
    let (_d, mut store) = setup();
    let mut cfg = jira_config("ftp://nope");
    let err = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap_err();
    assert!(err.to_string().contains("[jira] base_url"));
    cfg = jira_config("https://user:pw@example.atlassian.net");
    let err = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap_err();
    assert!(err.to_string().contains("must not contain credentials"));
    let mut cfg = jira_config("https://example.atlassian.net");
    cfg.jira.as_mut().unwrap().labels = vec!["has space".into()];
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("[jira] labels"));
}

#[test]
fn adf_helpers() {
    assert_eq!(jira::truncate_chars("ééé", 2), "é…");
    assert_eq!(jira::truncate_chars("abc", 3), "abc");
    assert_eq!(
        jira::search_jql("goodhart-0011223344556677"),
        "labels = \"goodhart-0011223344556677\" AND statusCategory != Done"
    );
}

#[test]
fn moved_ticket_is_found_again_by_label() {
    let server = start_jira();
    let (_d, mut store) = setup();
    let cfg = jira_config(&server.url);
    let p = LifecyclePolicy::default();
    let c = &two_candidates()[..1];
    let r = store.reconcile(c, day(1), &p).unwrap();
    deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    // Someone moved GOV-1 to GOV-99: commenting on GOV-1 now answers 404.
    server.state().issues[0].key = "GOV-99".into();
    let r = store.reconcile(c, day(2), &p).unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap();
    assert_eq!((rep.comments_added, rep.failed.len()), (1, 0));
    assert_eq!(server.state().issues.len(), 1);
    assert_eq!(server.state().issues[0].comments.len(), 1);
    assert_eq!(
        store
            .ticket(&fingerprint("alice", SPAWNS))
            .unwrap()
            .as_deref(),
        Some("GOV-99")
    );
}

#[test]
fn plain_http_is_refused_unless_loopback_or_allowed() {
    for ok in [
        "https://example.atlassian.net",
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://localhost:9000/",
        "http://[::1]:8080",
    ] {
        jira_config(ok)
            .validate()
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "http://jira.corp.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://10.0.0.5:8080",
    ] {
        let (_d, mut store) = setup();
        let cfg = jira_config(bad);
        let err = deliver(&mut store, &cfg, &[], &fast_opts(jira_env())).unwrap_err();
        let m = err.to_string();
        assert!(matches!(err, AlertError::Config { .. }), "{bad}: {err:?}");
        assert!(
            m.contains("[jira] base_url") && m.contains("allow_insecure_http"),
            "{m}"
        );
        assert!(!m.contains(TOKEN));
    }
    let cfg: AlertsConfig = toml::from_str(
        "[jira]\nbase_url = \"http://jira.corp.example\"\nproject_key = \"GOV\"\n\
         allow_insecure_http = true\n",
    )
    .unwrap();
    cfg.validate().unwrap();
}
