//! Pseudonymised delivery: nothing that leaves the machine (Jira and webhook request bodies,
//! headers, URLs) carries a real user id, session id or private cohort name.

mod common;

use common::*;
use goodhart_alerts::*;

const KEY: &str = "pseudonym-test-key";

/// A person whose session ids embed their email, as real exports often do, in a small team
/// whose name would point at them.
fn leaky(user: &str, team: &str) -> AlertCandidate {
    let s1 = format!("{user}/2025-01-03/7");
    let s2 = format!("{user}:laptop:42");
    AlertCandidate {
        user_id: user.into(),
        cohort: team.into(),
        pattern: "redundant-agent-spawns".into(),
        severity: Severity::High,
        score: 88.0,
        window: Window {
            start: day(1),
            end: day(7),
        },
        evidence: vec![
            Evidence {
                pattern: "redundant-agent-spawns".into(),
                feature: "duplicate_spawn_ratio".into(),
                value: 0.62,
                typical: 0.05,
                p95: 0.2,
                percentile: 99.0,
                sessions: vec![s1.clone(), s2.clone()],
                // Free text as the detector writes it, plus the user and the team by name.
                text: format!(
                    "12 spawns in session {s1} (cohort p95: 2); {user} of team {team} \
                     repeated it in {s2}"
                ),
            },
            Evidence {
                pattern: "prompt-loops".into(),
                feature: "loop_ratio".into(),
                value: 0.4,
                typical: 0.1,
                p95: 0.2,
                percentile: 97.0,
                sessions: vec![s1],
                text: "looping prompts".into(),
            },
        ],
    }
}

fn private_cfg(jira: &MockServer, hook: &MockServer) -> AlertsConfig {
    let mut cfg = jira_config(&jira.url);
    cfg.webhook = Some(WebhookConfig {
        url: format!("{}/hooks/goodhart", hook.url),
        secret_env: "T_WEBHOOK_SECRET".into(),
    });
    cfg.privacy = PrivacyConfig {
        pseudonymize: true,
        key_env: "T_PSEUDO_KEY".into(),
        pseudonymize_cohorts: true,
        ..PrivacyConfig::default()
    };
    cfg
}

fn env() -> EnvSource {
    env_map(&[
        ("T_JIRA_EMAIL", EMAIL),
        ("T_JIRA_TOKEN", TOKEN),
        ("T_WEBHOOK_SECRET", "whsec_c2VjcmV0"),
        ("T_PSEUDO_KEY", KEY),
    ])
}

/// Every byte each server received: method, path, every header, body.
fn everything_sent(servers: &[&MockServer]) -> Vec<String> {
    servers
        .iter()
        .flat_map(|s| {
            s.state()
                .requests
                .iter()
                .map(|r| {
                    let headers: Vec<String> =
                        r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!(
                        "{} {}\n{}\n\n{}",
                        r.method,
                        r.path,
                        headers.join("\n"),
                        r.body
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn no_real_user_session_or_private_team_leaves_the_machine() {
    let (jira, hook) = (start_jira(), start_receiver());
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let cfg = private_cfg(&jira, &hook);
    let users = ["alice.smith@corp.example", "bob.jones@corp.example"];
    let teams = ["alice-and-bob-squad", "payments-nightwatch"];
    let cands = [leaky(users[0], teams[0]), leaky(users[1], teams[1])];
    let p = LifecyclePolicy::default();
    // Night 1 creates tickets and posts webhooks; night 2 comments.
    let r = store.reconcile(&cands, day(8), &p).unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(env())).unwrap();
    assert_eq!((rep.tickets_created.len(), rep.webhooks_posted), (2, 2));
    let r = store.reconcile(&cands, day(9), &p).unwrap();
    let rep = deliver(&mut store, &cfg, &r.alerts, &fast_opts(env())).unwrap();
    assert_eq!((rep.comments_added, rep.webhooks_posted), (2, 2));
    assert!(jira.violations().is_empty(), "{:?}", jira.violations());

    let mut secrets: Vec<String> = Vec::new();
    for c in &cands {
        secrets.push(c.user_id.clone());
        secrets.push(c.cohort.clone());
        // The local part alone names the person too.
        secrets.push(c.user_id.split('@').next().unwrap().to_string());
        for e in &c.evidence {
            secrets.extend(e.sessions.iter().cloned());
        }
    }
    let sent = everything_sent(&[&jira, &hook]);
    // Night 1: a label search and a create per alert, two webhooks; night 2: a comment per
    // alert, two webhooks.
    assert_eq!(sent.len(), 4 + 2 + 2 + 2);
    for req in &sent {
        for secret in &secrets {
            assert!(!req.contains(secret.as_str()), "{secret:?} sent in:\n{req}");
        }
    }

    // What was sent instead: pseudonyms that whois resolves, users and sessions alike.
    let alice_p = pseudonym(KEY.as_bytes(), users[0]);
    let s1 = format!("{}/2025-01-03/7", users[0]);
    let s1_p = session_pseudonym(KEY.as_bytes(), &s1);
    let team_p = cohort_pseudonym(KEY.as_bytes(), teams[0]);
    let all = sent.join("\n");
    for p in [&alice_p, &s1_p, &team_p] {
        assert!(all.contains(p.as_str()), "{p} not sent");
    }
    assert_eq!(store.whois(&alice_p).unwrap().as_deref(), Some(users[0]));
    assert_eq!(store.whois(&s1_p).unwrap().as_deref(), Some(s1.as_str()));
    assert_eq!(store.whois(&team_p).unwrap().as_deref(), Some(teams[0]));
    // The webhook's structured evidence carries session pseudonyms, in order.
    let hook_body: serde_json::Value =
        serde_json::from_str(&hook.state().requests[0].body).unwrap();
    let sessions = &hook_body["data"]["evidence"][0]["sessions"];
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    assert!(sessions[0].as_str().unwrap().starts_with("s-"));
}

#[test]
fn team_names_stay_when_cohorts_are_not_private_and_sessions_are_still_hidden() {
    let (jira, hook) = (start_jira(), start_receiver());
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut cfg = private_cfg(&jira, &hook);
    cfg.privacy.pseudonymize_cohorts = false;
    let c = leaky("carol@corp.example", "platform");
    let r = store
        .reconcile(
            std::slice::from_ref(&c),
            day(8),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    // The dry run shows the pseudonymised payloads that will be sent.
    let mut opts = fast_opts(env());
    opts.dry_run = true;
    let rep = deliver(&mut store, &cfg, &r.alerts, &opts).unwrap();
    assert_eq!(rep.planned.len(), 2);
    let planned = serde_json::to_string(&rep.planned).unwrap();
    assert!(!planned.contains("carol"), "{planned}");
    deliver(&mut store, &cfg, &r.alerts, &fast_opts(env())).unwrap();
    let all = everything_sent(&[&jira, &hook]).join("\n");
    assert!(all.contains("platform"), "the team routes the ticket");
    assert!(!all.contains("carol"), "{all}");
}
