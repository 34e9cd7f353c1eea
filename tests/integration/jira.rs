//! `goodhart scan` delivering into a test Jira Cloud on 127.0.0.1.
//!
//! The server implements the three endpoints goodhart uses (label search, create
//! issue, add comment), checks the Basic auth header, the labels and the
//! Atlassian Document Format shape, and keeps its issues in memory.

use crate::util::*;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const EMAIL: &str = "bot@example.com";
const TOKEN: &str = "jira-test-token-5f3a";

#[derive(Default)]
struct Jira {
    /// (key, labels, fields)
    issues: Vec<(String, Vec<String>, Value)>,
    comments: Vec<(String, Value)>,
    searches: usize,
    bad_requests: Vec<String>,
}

fn is_adf(v: &Value) -> bool {
    v["type"] == "doc"
        && v["version"] == 1
        && v["content"].as_array().is_some_and(|c| !c.is_empty())
}

fn serve(state: Arc<Mutex<Jira>>) -> (String, std::thread::JoinHandle<()>, Arc<tiny_http::Server>) {
    serve_on(state, 0)
}

fn serve_on(
    state: Arc<Mutex<Jira>>,
    port: u16,
) -> (String, std::thread::JoinHandle<()>, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let s = server.clone();
    let handle = std::thread::spawn(move || {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
        );
        while let Ok(mut req) = s.recv() {
            let mut body = String::new();
            req.as_reader().read_to_string(&mut body).unwrap();
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            let url = req.url().to_string();
            let mut st = state.lock().unwrap();
            let (code, resp) = if auth.as_deref() != Some(expected.as_str()) {
                (401, json!({"errorMessages": ["unauthorised"]}))
            } else if url == "/rest/api/3/search/jql" {
                st.searches += 1;
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let jql = v["jql"].as_str().unwrap_or("");
                let label = jql.split('"').nth(1).unwrap_or("").to_string();
                assert!(jql.contains("statusCategory != Done"), "{jql}");
                let found: Vec<Value> = st
                    .issues
                    .iter()
                    .filter(|(_, labels, _)| labels.contains(&label))
                    .map(|(k, _, _)| json!({"key": k, "fields": {"status": {"name": "To Do"}}}))
                    .collect();
                (200, json!({"issues": found}))
            } else if url == "/rest/api/3/issue" {
                let v: Value = serde_json::from_str(&body).unwrap();
                let f = &v["fields"];
                let labels: Vec<String> = f["labels"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let ok = f["project"]["key"] == "GOV"
                    && f["summary"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty() && s.chars().count() <= 255)
                    && labels
                        .iter()
                        .any(|l| l.starts_with("goodhart-") && l.len() == "goodhart-".len() + 16)
                    && is_adf(&f["description"])
                    && f["priority"]["name"].is_string();
                if ok {
                    let key = format!("GOV-{}", st.issues.len() + 1);
                    st.issues.push((key.clone(), labels, f.clone()));
                    (201, json!({"key": key, "id": "1"}))
                } else {
                    st.bad_requests.push(body.clone());
                    (400, json!({"errors": {"fields": "bad"}}))
                }
            } else if let Some(key) = url
                .strip_prefix("/rest/api/3/issue/")
                .and_then(|r| r.strip_suffix("/comment"))
            {
                let v: Value = serde_json::from_str(&body).unwrap();
                if is_adf(&v["body"]) {
                    st.comments.push((key.to_string(), v));
                    (201, json!({"id": "c1"}))
                } else {
                    st.bad_requests.push(body.clone());
                    (400, json!({}))
                }
            } else {
                (404, json!({}))
            };
            drop(st);
            let r = tiny_http::Response::from_string(resp.to_string())
                .with_status_code(code)
                .with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                );
            let _ = req.respond(r);
        }
    });
    (format!("http://127.0.0.1:{port}"), handle, server)
}

fn config(dir: &std::path::Path, base: &str, pseudonymize: bool) -> std::path::PathBuf {
    let p = dir.join("goodhart.toml");
    std::fs::write(
        &p,
        format!(
            "[scan]\nas_of = \"2026-10-14\"\nwindow = \"14d\"\n\n[alerts]\nbase_backoff_ms = 5\nmax_attempts = 2\n\n\
             [jira]\nbase_url = \"{base}\"\nproject_key = \"GOV\"\nemail_env = \"T_JIRA_EMAIL\"\ntoken_env = \"T_JIRA_TOKEN\"\n\n\
             [privacy]\npseudonymize = {pseudonymize}\nkey_env = \"T_PSEUDO_KEY\"\n"
        ),
    )
    .unwrap();
    p
}

fn scan_into_jira(
    cfg: &std::path::Path,
    out: &std::path::Path,
    state: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    run(goodhart()
        .arg("scan")
        .arg(sample())
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .arg("--state")
        .arg(state)
        .args(extra)
        .env("T_JIRA_EMAIL", EMAIL)
        .env("T_JIRA_TOKEN", TOKEN)
        .env("T_PSEUDO_KEY", "pseudonym-key-for-tests"))
}

#[test]
fn first_night_creates_one_ticket_per_alert_second_night_comments() {
    let dir = tempfile::tempdir().unwrap();
    let jira = Arc::new(Mutex::new(Jira::default()));
    let (base, _h, server) = serve(jira.clone());
    let cfg = config(dir.path(), &base, false);
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));

    let first = scan_into_jira(&cfg, &out, &state, &[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let alerts = read_alerts(&out.join("alerts.jsonl"));
    assert!(!alerts.is_empty());
    {
        let j = jira.lock().unwrap();
        assert!(j.bad_requests.is_empty(), "{:?}", j.bad_requests);
        assert_eq!(j.issues.len(), alerts.len(), "one ticket per alert");
        assert!(j.comments.is_empty());
        // Every alert's fingerprint label is on exactly one ticket, and the ticket key is recorded.
        for a in &alerts {
            let label = format!("goodhart-{}", a["fingerprint"].as_str().unwrap());
            assert_eq!(
                j.issues
                    .iter()
                    .filter(|(_, l, _)| l.contains(&label))
                    .count(),
                1
            );
            assert!(
                a["ticket"].as_str().is_some_and(|t| t.starts_with("GOV-")),
                "{a}"
            );
        }
    }
    // Credentials never reach the outputs or the logs.
    assert!(!stderr(&first).contains(TOKEN) && !stdout(&first).contains(TOKEN));

    let second = scan_into_jira(&cfg, &out, &state, &NEXT_NIGHT);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let j = jira.lock().unwrap();
    assert_eq!(
        j.issues.len(),
        alerts.len(),
        "no new ticket on the second night"
    );
    assert_eq!(
        j.comments.len(),
        alerts.len(),
        "each ongoing alert comments on its ticket"
    );
    server.unblock();
}

#[test]
fn pseudonymised_tickets_name_nobody_until_whois() {
    let dir = tempfile::tempdir().unwrap();
    let jira = Arc::new(Mutex::new(Jira::default()));
    let (base, _h, server) = serve(jira.clone());
    let cfg = config(dir.path(), &base, true);
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let first = scan_into_jira(&cfg, &out, &state, &[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let alerts = read_alerts(&out.join("alerts.jsonl"));
    let users: std::collections::BTreeSet<String> = alerts
        .iter()
        .map(|a| a["user_id"].as_str().unwrap().to_string())
        .collect();
    let j = jira.lock().unwrap();
    assert_eq!(j.issues.len(), alerts.len());
    let mut resolved = std::collections::BTreeSet::new();
    for (_, labels, fields) in &j.issues {
        let text = format!("{labels:?} {fields}");
        for u in &users {
            assert!(!text.contains(u.as_str()), "a ticket names {u}: {text}");
        }
        // Even the fingerprint label is not the real one (it could be recomputed from a user list).
        for a in &alerts {
            assert!(!text.contains(a["fingerprint"].as_str().unwrap()));
        }
        // The ticket carries a pseudonym that whois resolves.
        let p = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .find(|w| w.starts_with("p-") && w.len() == 18)
            .unwrap_or_else(|| panic!("no pseudonym in {text}"));
        let out = run(goodhart()
            .args(["whois", p, "--reason", "integration test", "--state"])
            .arg(&state));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        resolved.insert(stdout(&out).trim().to_string());
    }
    assert_eq!(
        resolved, users,
        "every alerted user is behind exactly one pseudonymous ticket"
    );
    drop(j);
    server.unblock();
}

#[test]
fn jira_down_leaves_deliveries_pending_and_the_next_night_sends_them_once() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening: bind, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = config(dir.path(), &base, false);
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));

    let down = scan_into_jira(&cfg, &out, &state, &["--format", "json"]);
    assert_eq!(
        code(&down),
        0,
        "a sink being down is not a failed scan: {}",
        stderr(&down)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&down)).unwrap();
    let alerts = read_alerts(&out.join("alerts.jsonl")).len() as u64;
    assert!(alerts > 0);
    assert_eq!(v["delivery"]["sent"], 0);
    assert_eq!(
        v["delivery"]["pending"].as_u64().unwrap(),
        alerts,
        "every delivery still pending"
    );

    let jira = Arc::new(Mutex::new(Jira::default()));
    let (_, _h, server) = serve_on(jira.clone(), port);
    let up = scan_into_jira(&cfg, &out, &state, &NEXT_NIGHT);
    assert_eq!(code(&up), 0, "{}", stderr(&up));
    {
        let j = jira.lock().unwrap();
        assert_eq!(
            j.issues.len() as u64,
            alerts,
            "each pending alert delivered exactly once"
        );
        let mut labels: Vec<&String> = j
            .issues
            .iter()
            .flat_map(|(_, l, _)| l)
            .filter(|l| l.starts_with("goodhart-"))
            .collect();
        labels.sort();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n, "no duplicate ticket");
    }
    // A third night: nothing pending any more, so no new ticket.
    let again = scan_into_jira(
        &cfg,
        &out,
        &state,
        &["--as-of", "2026-10-17", "--window", "17d"],
    );
    assert_eq!(code(&again), 0);
    assert_eq!(jira.lock().unwrap().issues.len() as u64, alerts);
    server.unblock();
}
