//! Standard Webhooks signing and delivery to a receiver on 127.0.0.1.

mod common;

use common::*;
use goodhart_alerts::*;

#[test]
fn standard_webhooks_test_vector() {
    // From the Standard Webhooks specification's reference tests (recomputed with Python's
    // hmac/hashlib/base64).
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let body = r#"{"test": 2432232314}"#;
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(sign_webhook(secret, id, 1614265330, body), expected);
    assert!(verify_signature(secret, id, 1614265330, body, expected));
    // Several signatures (rotation): any valid one passes.
    assert!(verify_signature(
        secret,
        id,
        1614265330,
        body,
        &format!("v1,AAAA {expected}")
    ));
    // Tampering fails.
    assert!(!verify_signature(secret, id, 1614265331, body, expected));
    assert!(!verify_signature(
        secret,
        id,
        1614265330,
        r#"{"test": 1}"#,
        expected
    ));
    assert!(!verify_signature(
        "whsec_b3RoZXI=",
        id,
        1614265330,
        body,
        expected
    ));
    assert!(!verify_signature(
        secret,
        id,
        1614265330,
        body,
        "v2,garbage"
    ));
    // Non-whsec secrets are raw bytes: HMAC-SHA256("plain-secret", "msg_1.1700000000.{}").
    assert_eq!(
        sign_webhook("plain-secret", "msg_1", 1_700_000_000, "{}"),
        "v1,p6NQsMzLWth/nlsTq5oslSVPNvyHmbQZrni4qovDPj4="
    );
    assert_eq!(secret_key("whsec_c2VjcmV0"), b"secret");
    assert_eq!(secret_key("plain"), b"plain");
}

#[test]
fn signed_delivery_keeps_its_id_across_retries() {
    let receiver = start_receiver();
    receiver.push_script(Scripted::status(503));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let cfg = AlertsConfig {
        webhook: Some(WebhookConfig {
            url: format!("{}/hooks/goodhart", receiver.url),
            secret_env: "T_WEBHOOK_SECRET".into(),
        }),
        ..AlertsConfig::default()
    };
    let r = store
        .reconcile(
            &[candidate(
                "alice",
                "redundant-agent-spawns",
                Severity::Critical,
                97.0,
            )],
            day(1),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    let opts = fast_opts(env_map(&[("T_WEBHOOK_SECRET", secret)]));
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!((rep.webhooks_posted, rep.sent), (1, 1));

    let delivery_id = store.outbox().unwrap()[0].delivery_id.clone();
    assert_eq!(
        delivery_id,
        format!(
            "webhook-{}-20250101",
            fingerprint("alice", "redundant-agent-spawns")
        )
    );
    let s = receiver.state();
    assert_eq!(s.requests.len(), 2);
    assert_eq!((s.requests[0].status, s.requests[1].status), (503, 200));
    for req in &s.requests {
        assert_eq!(req.path, "/hooks/goodhart");
        assert_eq!(req.headers["webhook-id"], delivery_id);
        let ts: i64 = req.headers["webhook-timestamp"].parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!((now - ts).abs() < 60);
        assert!(verify_signature(
            secret,
            &req.headers["webhook-id"],
            ts,
            &req.body,
            &req.headers["webhook-signature"]
        ));
        // A different secret does not verify.
        assert!(!verify_signature(
            "whsec_b3RoZXI=",
            &req.headers["webhook-id"],
            ts,
            &req.body,
            &req.headers["webhook-signature"]
        ));
    }
    // Both attempts carry the identical body.
    assert_eq!(s.requests[0].body, s.requests[1].body);
    let body: serde_json::Value = serde_json::from_str(&s.requests[1].body).unwrap();
    assert_eq!(body["type"], "goodhart.alert.new");
    assert_eq!(body["timestamp"], "2025-01-08T03:00:00Z");
    assert_eq!(body["data"]["user_id"], "alice");
    assert_eq!(body["data"]["severity"], "critical");
    assert_eq!(
        body["data"]["evidence"][0]["feature"],
        "duplicate_spawn_ratio"
    );
}

#[test]
fn webhook_and_jira_together() {
    let receiver = start_receiver();
    let jira = start_jira();
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut cfg = jira_config(&jira.url);
    cfg.webhook = Some(WebhookConfig {
        url: receiver.url.clone(),
        secret_env: "T_WEBHOOK_SECRET".into(),
    });
    let r = store
        .reconcile(
            &[
                candidate("alice", "redundant-agent-spawns", Severity::High, 80.0),
                candidate("bob", "prompt-loops", Severity::Low, 20.0),
            ],
            day(1),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    let env = env_map(&[
        ("T_JIRA_EMAIL", EMAIL),
        ("T_JIRA_TOKEN", TOKEN),
        ("T_WEBHOOK_SECRET", "plain-secret"),
    ]);
    // Missing webhook secret is reported by name.
    let err = deliver(&mut store, &cfg, &r.alerts, &fast_opts(jira_env())).unwrap_err();
    assert!(err.to_string().contains("T_WEBHOOK_SECRET"));
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(env)).unwrap();
    assert_eq!(rep.enqueued, 4);
    assert_eq!((rep.tickets_created.len(), rep.webhooks_posted), (2, 2));
    let sinks: Vec<Sink> = store.outbox().unwrap().iter().map(|e| e.sink).collect();
    assert_eq!(
        sinks,
        vec![Sink::Jira, Sink::Webhook, Sink::Jira, Sink::Webhook]
    );
    assert_eq!(receiver.state().requests.len(), 2);
}

fn webhook_cfg(receiver: &MockServer) -> AlertsConfig {
    AlertsConfig {
        webhook: Some(WebhookConfig {
            url: format!("{}/hooks/goodhart", receiver.url),
            secret_env: "T_WEBHOOK_SECRET".into(),
        }),
        ..AlertsConfig::default()
    }
}

fn webhook_opts() -> DeliverOptions {
    fast_opts(env_map(&[("T_WEBHOOK_SECRET", "plain-secret")]))
}

fn many_candidates(n: usize) -> Vec<AlertCandidate> {
    (0..n)
        .map(|i| {
            candidate(
                &format!("user-{i:02}"),
                "redundant-agent-spawns",
                Severity::High,
                80.0,
            )
        })
        .collect()
}

/// Holds the delivery lock the way another goodhart process would.
fn hold_lock(dir: &std::path::Path) -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("deliver.lock"))
        .unwrap();
    f.lock().unwrap();
    f
}

#[test]
fn a_held_delivery_lock_times_out_and_leaves_everything_pending() {
    let receiver = start_receiver();
    let cfg = webhook_cfg(&receiver);
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let r = store
        .reconcile(&many_candidates(3), day(1), &LifecyclePolicy::default())
        .unwrap();

    let held = hold_lock(dir.path());
    let opts = DeliverOptions {
        lock_timeout: std::time::Duration::from_millis(200),
        ..webhook_opts()
    };
    let err = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap_err();
    assert!(
        matches!(err, AlertError::DeliveryLocked { ref path, .. } if path.ends_with("deliver.lock")),
        "{err}"
    );
    assert!(err.to_string().contains("stay pending"), "{err}");
    assert_eq!(receiver.state().requests.len(), 0);
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|e| e.state == OutboxState::Pending));

    // Once the other process is gone, the next run sends each exactly once.
    drop(held);
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!((rep.enqueued, rep.sent, rep.still_pending), (0, 3, 0));
    assert_eq!(receiver.state().requests.len(), 3);
}

#[test]
fn a_delivery_waits_for_the_lock_holder_then_sends() {
    let receiver = start_receiver();
    let cfg = webhook_cfg(&receiver);
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let r = store
        .reconcile(&many_candidates(2), day(1), &LifecyclePolicy::default())
        .unwrap();
    let held = hold_lock(dir.path());
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    let started = std::time::Instant::now();
    let rep = deliver(&mut store, &cfg, &r.alerts, &webhook_opts()).unwrap();
    release.join().unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(rep.sent, 2);
    assert_eq!(receiver.state().requests.len(), 2);
}

#[test]
fn two_processes_delivering_at_once_send_each_alert_once() {
    // Two scans of the same night on one state directory (two connections,
    // as two processes would have), started together. The sink is slow, so
    // without the lock the second would read the rows the first is still
    // sending as pending and send them again.
    let receiver = start_slow_receiver(std::time::Duration::from_millis(15));
    let cfg = webhook_cfg(&receiver);
    let dir = tempfile::tempdir().unwrap();
    let n = 12;
    let alerts = {
        let mut store = StateStore::open(dir.path()).unwrap();
        store
            .reconcile(&many_candidates(n), day(1), &LifecyclePolicy::default())
            .unwrap()
            .alerts
    };
    let barrier = std::sync::Barrier::new(2);
    let reports: Vec<DeliveryReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut store = StateStore::open(dir.path()).unwrap();
                    barrier.wait();
                    deliver(&mut store, &cfg, &alerts, &webhook_opts()).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reports.iter().map(|r| r.sent).sum::<usize>(), n);
    assert_eq!(reports.iter().map(|r| r.enqueued).sum::<usize>(), n);
    let s = receiver.state();
    let mut ids: Vec<&str> = s
        .requests
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((s.requests.len(), ids.len()), (n, n));
}
