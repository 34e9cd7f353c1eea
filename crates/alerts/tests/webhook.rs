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
