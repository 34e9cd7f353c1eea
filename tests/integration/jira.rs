//! `goodhart scan` delivering into a test Jira Cloud on 127.0.0.1.
//!
//! The server implements the endpoints goodhart uses (label search, create
//! issue, add comment, and the paged search of resolved tickets behind the
//! verdict sync), checks the Basic auth header, the labels and the Atlassian
//! Document Format shape, keeps its issues in memory and records every request.

use crate::util::*;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const EMAIL: &str = "bot@example.com";
const TOKEN: &str = "jira-test-token-5f3a";

/// One request as received: method, URL, headers, body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// Everything that crossed the wire, as one text.
    pub fn text(&self) -> String {
        let h: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{} {}\n{}\n\n{}",
            self.method,
            self.url,
            h.join("\n"),
            self.body
        )
    }
}

fn seen(req: &mut tiny_http::Request) -> Seen {
    let mut body = String::new();
    req.as_reader().read_to_string(&mut body).unwrap();
    Seen {
        method: req.method().to_string(),
        url: req.url().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|h| (h.field.to_string(), h.value.to_string()))
            .collect(),
        body,
    }
}

#[derive(Default)]
struct Jira {
    /// (key, labels, fields)
    issues: Vec<(String, Vec<String>, Value)>,
    comments: Vec<(String, Value)>,
    searches: usize,
    bad_requests: Vec<String>,
    /// Every request received.
    requests: Vec<Seen>,
    /// Resolution name per resolved issue key.
    resolutions: std::collections::BTreeMap<String, String>,
    /// Issues per page of the resolution search.
    page_size: usize,
}

/// The verdict sync's search (pinned here: the test checks the protocol).
const SYNC_JQL: &str = "labels = \"goodhart\" AND resolution IS NOT EMPTY ORDER BY key ASC";

/// Jira Cloud's enhanced search over resolved goodhart tickets, paged with `nextPageToken`.
fn resolution_page(st: &Jira, v: &Value) -> Value {
    let fields = v["fields"].to_string();
    assert!(
        fields.contains("\"resolution\"") && fields.contains("\"status\""),
        "{v}"
    );
    let start: usize = v["nextPageToken"]
        .as_str()
        .map(|t| t.strip_prefix("after-").unwrap().parse().unwrap())
        .unwrap_or(0);
    let size = st.page_size.max(1);
    let mut hits: Vec<&(String, Vec<String>, Value)> = st
        .issues
        .iter()
        .filter(|(k, l, _)| st.resolutions.contains_key(k) && l.iter().any(|l| l == "goodhart"))
        .collect();
    hits.sort_by_key(|(k, _, _)| k[4..].parse::<u64>().unwrap());
    let page: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(size)
        .map(|(k, l, _)| {
            json!({"key": k, "fields": {"labels": l,
                "resolution": {"name": st.resolutions[k.as_str()]},
                "status": {"name": "Done"}}})
        })
        .collect();
    let end = start + page.len();
    let mut out = json!({"issues": page, "isLast": end >= hits.len()});
    if end < hits.len() {
        out["nextPageToken"] = json!(format!("after-{end}"));
    }
    out
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
            let seen = seen(&mut req);
            let body = seen.body.clone();
            let auth = seen
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Authorization"))
                .map(|(_, v)| v.clone());
            let url = seen.url.clone();
            let mut st = state.lock().unwrap();
            st.requests.push(seen);
            let sync_search = url == "/rest/api/3/search/jql"
                && serde_json::from_str::<Value>(&body).is_ok_and(|v| v["jql"] == SYNC_JQL);
            let (code, resp) = if auth.as_deref() != Some(expected.as_str()) {
                (401, json!({"errorMessages": ["unauthorised"]}))
            } else if sync_search {
                (
                    200,
                    resolution_page(&st, &serde_json::from_str(&body).unwrap()),
                )
            } else if url == "/rest/api/3/search/jql" {
                st.searches += 1;
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let jql = v["jql"].as_str().unwrap_or("");
                let label = jql.split('"').nth(1).unwrap_or("").to_string();
                assert!(jql.contains("statusCategory != Done"), "{jql}");
                let found: Vec<Value> = st
                    .issues
                    .iter()
                    .filter(|(k, labels, _)| {
                        labels.contains(&label) && !st.resolutions.contains_key(k)
                    })
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
            "[scan]\nas_of = \"2026-10-14\"\nwindow = \"14d\"\nmin_last_day_share = 0.0\n\n[alerts]\nbase_backoff_ms = 5\nmax_attempts = 2\n\n\
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

/// A running receiver: URL, requests received, thread, server (to unblock).
type Receiver = (
    String,
    Arc<Mutex<Vec<Seen>>>,
    std::thread::JoinHandle<()>,
    Arc<tiny_http::Server>,
);

/// A webhook receiver on 127.0.0.1 answering 200 and recording every request.
fn receiver() -> Receiver {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (s, g) = (server.clone(), got.clone());
    let handle = std::thread::spawn(move || {
        while let Ok(mut req) = s.recv() {
            g.lock().unwrap().push(seen(&mut req));
            let _ = req.respond(tiny_http::Response::from_string("{}"));
        }
    });
    (
        format!("http://127.0.0.1:{port}/hooks/goodhart"),
        got,
        handle,
        server,
    )
}

/// The sample with identities as real exports carry them: user ids are emails, and every
/// session id embeds its user's email. Every real id contains `leaky` and `corp.example`.
fn leaky_sample(dir: &std::path::Path) -> std::path::PathBuf {
    use arrow::array::{Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    fn user(u: &str) -> String {
        format!("{u}.leaky@corp.example")
    }
    fn rewrite(path: &std::path::Path, out: &std::path::Path) {
        let b = read_parquet(path);
        let mut fields = Vec::new();
        let mut cols = Vec::new();
        let users: Vec<String> = {
            let c = arrow::compute::cast(b.column_by_name("user_id").unwrap(), &DataType::Utf8)
                .unwrap();
            let c = c.as_any().downcast_ref::<StringArray>().unwrap();
            (0..c.len()).map(|i| user(c.value(i))).collect()
        };
        for (f, c) in b.schema().fields().iter().zip(b.columns()) {
            let mapped: Option<Vec<String>> = match f.name().as_str() {
                "user_id" => Some(users.clone()),
                "session_id" => {
                    let c = arrow::compute::cast(c, &DataType::Utf8).unwrap();
                    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                    Some(
                        (0..c.len())
                            .map(|i| format!("{}/{}", users[i], c.value(i)))
                            .collect(),
                    )
                }
                _ => None,
            };
            match mapped {
                Some(v) => {
                    fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
                    cols.push(std::sync::Arc::new(StringArray::from(v)) as _);
                }
                None => {
                    fields.push(f.as_ref().clone());
                    cols.push(c.clone());
                }
            }
        }
        let b = RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), cols).unwrap();
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let f = std::fs::File::create(out).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let root = dir.join("leaky");
    let src = sample();
    for day in std::fs::read_dir(src.join("events")).unwrap() {
        let day = day.unwrap().path();
        for f in std::fs::read_dir(&day).unwrap() {
            let f = f.unwrap().path();
            let rel = f.strip_prefix(&src).unwrap();
            rewrite(&f, &root.join(rel));
        }
    }
    rewrite(&src.join("users.parquet"), &root.join("users.parquet"));
    root
}

#[test]
fn pseudonymised_delivery_sends_no_real_user_or_session_id_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = leaky_sample(dir.path());
    let jira = Arc::new(Mutex::new(Jira::default()));
    let (base, _h, server) = serve(jira.clone());
    let (hook_url, hooks, _h2, hook_server) = receiver();
    let cfg = config(dir.path(), &base, true);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[webhook]\nurl = \"{hook_url}\"\nsecret_env = \"T_HOOK_SECRET\"\n"
    ));
    std::fs::write(&cfg, text).unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let scan = |extra: &[&str]| {
        run(goodhart()
            .arg("scan")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .arg("--state")
            .arg(&state)
            .args(extra)
            .env("T_JIRA_EMAIL", EMAIL)
            .env("T_JIRA_TOKEN", TOKEN)
            .env("T_HOOK_SECRET", "whsec_c2VjcmV0")
            .env("T_PSEUDO_KEY", "pseudonym-key-for-tests"))
    };
    // Night 1 creates tickets and posts webhooks; night 2 comments and posts again.
    let first = scan(&[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let alerts = read_alerts(&out.join("alerts.jsonl"));
    assert!(!alerts.is_empty());
    let second = scan(&NEXT_NIGHT);
    assert_eq!(code(&second), 0, "{}", stderr(&second));

    // The real identities at stake: every alerted user and every session of the evidence.
    let mut real: std::collections::BTreeSet<String> = Default::default();
    for a in alerts
        .iter()
        .chain(read_alerts(&out.join("alerts.jsonl")).iter())
    {
        real.insert(a["user_id"].as_str().unwrap().to_string());
        for e in a["evidence"].as_array().unwrap() {
            for s in e["sessions"].as_array().unwrap() {
                real.insert(s.as_str().unwrap().to_string());
            }
        }
    }
    assert!(
        real.iter().any(|r| r.contains('/')),
        "the alerts cite sessions"
    );
    let mut sent: Vec<Seen> = jira.lock().unwrap().requests.clone();
    let n_jira = sent.len();
    sent.extend(hooks.lock().unwrap().iter().cloned());
    assert!(n_jira >= 2 * alerts.len(), "tickets and comments went out");
    assert!(sent.len() >= n_jira + 2 * alerts.len(), "webhooks went out");
    for req in &sent {
        let t = req.text();
        // Every real user and session id of the dataset contains both markers.
        assert!(
            !t.contains("leaky") && !t.contains("corp.example"),
            "a real id left the machine:\n{t}"
        );
        for r in &real {
            assert!(!t.contains(r.as_str()), "{r} left the machine:\n{t}");
        }
    }
    // In their place: session pseudonyms, which whois resolves to the real session.
    let all: String = sent.iter().map(Seen::text).collect();
    let s = all
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("s-") && w.len() == 18)
        .expect("a session pseudonym was sent");
    let who = run(goodhart()
        .args(["whois", s, "--reason", "integration test", "--state"])
        .arg(&state));
    assert_eq!(code(&who), 0, "{}", stderr(&who));
    assert!(
        real.contains(stdout(&who).trim()),
        "{s} -> {}",
        stdout(&who)
    );
    assert!(stdout(&who).contains('/'), "a session id: {}", stdout(&who));
    server.unblock();
    hook_server.unblock();
}

#[test]
fn resolved_tickets_come_back_as_verdicts_at_the_next_scan_and_with_feedback_sync() {
    let dir = tempfile::tempdir().unwrap();
    let jira = Arc::new(Mutex::new(Jira {
        page_size: 1, // one ticket per page: the sync must follow nextPageToken
        ..Jira::default()
    }));
    let (base, _h, server) = serve(jira.clone());
    let cfg = config(dir.path(), &base, false);
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let first = scan_into_jira(&cfg, &out, &state, &["--format", "json"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let v: Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(v["jira_sync"]["synced"], 0);
    let alerts = read_alerts(&out.join("alerts.jsonl"));
    assert!(alerts.len() >= 3, "{}", alerts.len());
    let fp_of = |key: &str| {
        alerts
            .iter()
            .find(|a| a["ticket"] == key)
            .map(|a| a["fingerprint"].as_str().unwrap().to_string())
            .unwrap()
    };
    {
        let mut j = jira.lock().unwrap();
        j.resolutions.insert("GOV-1".into(), "Won't Do".into());
        j.resolutions.insert("GOV-2".into(), "Done".into());
    }

    // Next night: both verdicts taken back before the lifecycle; the false positive is
    // suppressed already tonight (no comment on its ticket).
    let second = scan_into_jira(&cfg, &out, &state, &NEXT_NIGHT);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert!(
        stdout(&second).contains("jira sync: 2 verdict(s) synced"),
        "{}",
        stdout(&second)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["jira_sync"]["synced"], 2);
    assert_eq!(summary["jira_sync"]["pages"], 2);
    assert_eq!(summary["alerts_suppressed"], 1);
    let now = read_alerts(&out.join("alerts.jsonl"));
    assert!(now
        .iter()
        .all(|a| a["fingerprint"] != fp_of("GOV-1").as_str()));
    assert!(now
        .iter()
        .any(|a| a["fingerprint"] == fp_of("GOV-2").as_str()));
    {
        let j = jira.lock().unwrap();
        assert!(j.comments.iter().all(|(k, _)| k != "GOV-1"));
        // Resolution searches: one empty page on the first night, two pages tonight.
        let sync_searches = j
            .requests
            .iter()
            .filter(|r| r.body.contains("resolution IS NOT EMPTY"))
            .count();
        assert_eq!(sync_searches, 1 + 2);
    }

    // The same night again: nothing recorded twice.
    let again = scan_into_jira(&cfg, &out, &state, &NEXT_NIGHT);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["jira_sync"]["synced"], 0);
    assert_eq!(summary["jira_sync"]["already_recorded"], 2);

    // Between scans: `goodhart feedback --sync`.
    jira.lock()
        .unwrap()
        .resolutions
        .insert("GOV-3".into(), "Not a Bug".into());
    let sync = |at: &str| {
        run(goodhart()
            .args(["feedback", "--sync", "--at", at, "--config"])
            .arg(&cfg)
            .arg("--state")
            .arg(&state)
            .env("T_JIRA_EMAIL", EMAIL)
            .env("T_JIRA_TOKEN", TOKEN))
    };
    let fb = sync("2026-10-16");
    assert_eq!(code(&fb), 0, "{}", stderr(&fb));
    let t = stdout(&fb);
    assert!(t.contains("jira sync: 1 verdict(s) synced"), "{t}");
    assert!(
        t.contains(&format!("recorded false_positive for {}", fp_of("GOV-3"))),
        "{t}"
    );
    let fb = sync("2026-10-16");
    assert!(stdout(&fb).contains("jira sync: 0 verdict(s) synced"));
    // Recorded as `goodhart feedback` records them: the reviewer labels for eval.
    let ev = run(goodhart()
        .args(["eval", "--format", "json", "--state"])
        .arg(&state)
        .arg("--scores")
        .arg(out.join("user_scores.parquet")));
    assert_eq!(code(&ev), 0, "{}", stderr(&ev));
    server.unblock();
}

#[test]
fn plain_http_jira_is_refused_unless_loopback_or_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http://jira.corp.example", false);
    let check = run(goodhart().args(["config", "--check"]).arg(&cfg));
    assert_eq!(code(&check), 2, "{}", stderr(&check));
    let e = stderr(&check);
    assert!(
        e.contains("[jira] base_url") && e.contains("allow_insecure_http"),
        "{e}"
    );
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let scan = scan_into_jira(&cfg, &out, &state, &[]);
    assert_eq!(code(&scan), 2, "{}", stderr(&scan));
    assert!(stderr(&scan).contains("allow_insecure_http"));
    assert!(!out.exists() && !state.exists(), "nothing ran");
    // Loopback is fine, and so is an explicit opt-in.
    let local = config(dir.path(), "http://127.0.0.1:9", false);
    assert_eq!(
        code(&run(goodhart().args(["config", "--check"]).arg(&local))),
        0
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("project_key", "allow_insecure_http = true\nproject_key")
        .replace("127.0.0.1:9", "jira.corp.example");
    std::fs::write(&cfg, text).unwrap();
    let ok = run(goodhart().args(["config", "--check"]).arg(&cfg));
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
}
