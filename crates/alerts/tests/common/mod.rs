//! Test doubles: an in-memory Jira Cloud and a webhook receiver on 127.0.0.1 (tiny_http).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDate;
use goodhart_alerts::*;
use serde_json::{json, Value};

pub const EMAIL: &str = "gov-bot@example.com";
pub const TOKEN: &str = "s3cr3t-jira-token-XYZ";

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(u64::from(d) - 1)
}

pub fn candidate(user: &str, pattern: &str, severity: Severity, score: f64) -> AlertCandidate {
    AlertCandidate {
        user_id: user.into(),
        cohort: "platform".into(),
        pattern: pattern.into(),
        severity,
        score,
        window: Window {
            start: day(1),
            end: day(7),
        },
        evidence: vec![Evidence {
            pattern: pattern.into(),
            feature: "duplicate_spawn_ratio".into(),
            value: 0.62,
            typical: 0.05,
            p95: 0.2,
            percentile: 99.0,
            sessions: vec!["s-1".into(), "s-2".into()],
            text: format!("{user} spawned the same agent task 12 times per session"),
        }],
    }
}

pub fn env_map(pairs: &[(&str, &str)]) -> EnvSource {
    EnvSource::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
}

pub fn jira_env() -> EnvSource {
    env_map(&[("T_JIRA_EMAIL", EMAIL), ("T_JIRA_TOKEN", TOKEN)])
}

pub fn jira_config(base_url: &str) -> AlertsConfig {
    AlertsConfig {
        jira: Some(JiraConfig {
            base_url: base_url.to_string(),
            project_key: "GOV".into(),
            email_env: "T_JIRA_EMAIL".into(),
            token_env: "T_JIRA_TOKEN".into(),
            labels: vec!["ai-usage".into()],
            ..JiraConfig::default()
        }),
        ..AlertsConfig::default()
    }
}

/// Fast options: tiny backoff, 3 attempts, short timeouts.
pub fn fast_opts(env: EnvSource) -> DeliverOptions {
    DeliverOptions {
        dry_run: false,
        now: chrono::DateTime::parse_from_rfc3339("2025-01-08T03:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
        max_attempts: 3,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        seed: 7,
        env,
        lock_timeout: Duration::from_secs(30),
    }
}

pub fn expected_auth() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
    )
}

/// A scripted response returned instead of normal handling.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: String,
    /// Put the request's Authorization header into the body (a careless server).
    pub echo_auth: bool,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted {
            status,
            retry_after: None,
            body: format!("{{\"errorMessages\":[\"scripted {status}\"]}}"),
            echo_auth: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub key: String,
    pub labels: Vec<String>,
    pub fields: Value,
    pub comments: Vec<Value>,
    pub done: bool,
    /// Resolution name once resolved (e.g. "Won't Do"); `None` while unresolved.
    pub resolution: Option<String>,
}

#[derive(Debug, Default)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct ServerState {
    pub issues: Vec<Issue>,
    pub requests: Vec<Recorded>,
    pub script: VecDeque<Scripted>,
    /// Protocol violations seen (must stay empty).
    pub violations: Vec<String>,
    /// Issues per page of the resolution search (0: the request's maxResults).
    pub page_size: usize,
}

impl ServerState {
    /// Resolve an issue as a reviewer would: status category Done, with a resolution.
    pub fn resolve(&mut self, key: &str, resolution: &str) {
        let i = self
            .issues
            .iter_mut()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("no issue {key}"));
        i.done = true;
        i.resolution = Some(resolution.to_string());
    }
}

/// The JQL of goodhart's verdict sync (kept literal here: the test pins the protocol).
pub const SYNC_JQL: &str = "labels = \"goodhart\" AND resolution IS NOT EMPTY ORDER BY key ASC";

/// Jira Cloud's enhanced search, paged with `nextPageToken` (an opaque offset here).
fn resolution_search(s: &mut ServerState, body: &Value) -> (u16, String) {
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for f in ["resolution", "status"] {
        if !fields.contains(&f) {
            s.violations
                .push(format!("resolution search without field {f}: {body}"));
        }
    }
    let max = body["maxResults"].as_u64().unwrap_or(50) as usize;
    let size = if s.page_size == 0 {
        max
    } else {
        s.page_size.min(max)
    };
    let start = match body["nextPageToken"].as_str() {
        None => 0,
        Some(t) => match t.strip_prefix("tok-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                s.violations.push(format!("bad nextPageToken {t:?}"));
                return (400, "{\"errorMessages\":[\"bad token\"]}".into());
            }
        },
    };
    let mut hits: Vec<&Issue> = s
        .issues
        .iter()
        .filter(|i| i.resolution.is_some() && i.labels.iter().any(|l| l == "goodhart"))
        .collect();
    hits.sort_by_key(|i| i.key[4..].parse::<u64>().unwrap_or(0));
    let page: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(size)
        .map(|i| {
            json!({"id": "1", "key": i.key, "fields": {
                "labels": i.labels,
                "resolution": {"name": i.resolution, "id": "10001"},
                "status": {"name": "Done", "statusCategory": {"key": "done"}},
            }})
        })
        .collect();
    let end = start + page.len();
    let mut resp = json!({"issues": page, "isLast": end >= hits.len()});
    if end < hits.len() {
        resp["nextPageToken"] = json!(format!("tok-{end}"));
    }
    (200, resp.to_string())
}

pub struct MockServer {
    pub url: String,
    pub port: u16,
    pub state: Arc<Mutex<ServerState>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl MockServer {
    pub fn state(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap()
    }
    pub fn push_script(&self, s: Scripted) {
        self.state().script.push_back(s);
    }
    pub fn count(&self, path_suffix: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .count()
    }
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }
}

/// A port that refuses connections: bind, read the port, drop the listener.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

type Handler = dyn Fn(&mut ServerState, &Recorded) -> (u16, String) + Send + Sync;

fn serve(port: u16, handler: Box<Handler>) -> MockServer {
    let server = tiny_http::Server::http(("127.0.0.1", port)).expect("bind mock server");
    let port = server.server_addr().to_ip().unwrap().port();
    let state = Arc::new(Mutex::new(ServerState::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (st, sp) = (state.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        while !sp.load(Ordering::SeqCst) {
            let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(20)) else {
                continue;
            };
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let mut rec = Recorded {
                method: req.method().to_string(),
                path: req.url().to_string(),
                status: 0,
                headers: req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect(),
                body,
            };
            let mut s = st.lock().unwrap();
            let (status, resp_body, retry_after) = if let Some(sc) = s.script.pop_front() {
                let body = if sc.echo_auth {
                    format!(
                        "{} (you sent Authorization: {})",
                        sc.body,
                        rec.headers
                            .get("authorization")
                            .cloned()
                            .unwrap_or_default()
                    )
                } else {
                    sc.body.clone()
                };
                (sc.status, body, sc.retry_after)
            } else {
                let (st, b) = handler(&mut s, &rec);
                (st, b, None)
            };
            rec.status = status;
            s.requests.push(rec);
            drop(s);
            let mut resp = tiny_http::Response::from_string(resp_body)
                .with_status_code(status)
                .with_header(
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                        .unwrap(),
                );
            if let Some(ra) = retry_after {
                resp.add_header(
                    tiny_http::Header::from_bytes(&b"Retry-After"[..], ra.to_string().as_bytes())
                        .unwrap(),
                );
            }
            let _ = req.respond(resp);
        }
    });
    MockServer {
        url: format!("http://127.0.0.1:{port}"),
        port,
        state,
        stop,
        handle: Some(handle),
    }
}

fn check_adf(doc: &Value, what: &str, violations: &mut Vec<String>) {
    if doc["type"] != "doc" {
        violations.push(format!("{what}: type is not doc"));
    }
    if doc["version"] != 1 {
        violations.push(format!("{what}: version is not 1"));
    }
    match doc["content"].as_array() {
        Some(c) if !c.is_empty() => {
            for node in c {
                check_node(node, what, violations);
            }
        }
        _ => violations.push(format!("{what}: content is not a non-empty array")),
    }
}

fn check_node(node: &Value, what: &str, violations: &mut Vec<String>) {
    let ty = node["type"].as_str().unwrap_or("");
    match ty {
        "text" => {
            if node["text"].as_str().is_none_or(str::is_empty) {
                violations.push(format!("{what}: empty text node"));
            }
        }
        "paragraph" | "bulletList" | "listItem" => {
            let Some(c) = node["content"].as_array() else {
                violations.push(format!("{what}: {ty} without content array"));
                return;
            };
            for child in c {
                let ct = child["type"].as_str().unwrap_or("");
                let ok = match ty {
                    "paragraph" => ct == "text",
                    "bulletList" => ct == "listItem",
                    _ => ct == "paragraph" || ct == "bulletList",
                };
                if !ok {
                    violations.push(format!("{what}: {ct} inside {ty}"));
                }
                check_node(child, what, violations);
            }
        }
        other => violations.push(format!("{what}: unexpected node type {other:?}")),
    }
}

fn jira_handler(s: &mut ServerState, r: &Recorded) -> (u16, String) {
    if r.headers.get("authorization") != Some(&expected_auth()) {
        s.violations
            .push(format!("bad Authorization on {}", r.path));
        return (401, "{\"errorMessages\":[\"unauthorized\"]}".into());
    }
    if r.method != "POST" {
        return (405, "{}".into());
    }
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
        s.violations.push(format!("non-JSON body on {}", r.path));
        return (400, "{}".into());
    };
    if r.path == "/rest/api/3/search/jql" && body["jql"] == SYNC_JQL {
        return resolution_search(s, &body);
    }
    if r.path == "/rest/api/3/search/jql" {
        let jql = body["jql"].as_str().unwrap_or("");
        let label = jql
            .strip_prefix("labels = \"")
            .and_then(|rest| rest.split_once('"'))
            .map(|(l, tail)| (l.to_string(), tail.to_string()));
        let Some((label, tail)) = label else {
            s.violations.push(format!("unexpected JQL {jql:?}"));
            return (400, "{}".into());
        };
        if tail != " AND statusCategory != Done" || body["maxResults"] != 1 {
            s.violations.push(format!("unexpected search {body}"));
        }
        let found: Vec<Value> = s
            .issues
            .iter()
            .filter(|i| !i.done && i.labels.contains(&label))
            .take(1)
            .map(|i| json!({"id": "1", "key": i.key, "fields": {"status": {"name": "To Do"}}}))
            .collect();
        return (200, json!({"issues": found}).to_string());
    }
    if r.path == "/rest/api/3/issue" {
        let f = &body["fields"];
        let mut v = Vec::new();
        if f["project"]["key"] != "GOV" {
            v.push("project key".to_string());
        }
        if f["issuetype"]["name"].as_str().is_none() {
            v.push("issuetype".into());
        }
        let summary = f["summary"].as_str().unwrap_or("");
        if summary.is_empty() || summary.chars().count() > 255 {
            v.push(format!("summary length {}", summary.chars().count()));
        }
        let labels: Vec<String> = f["labels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !labels.iter().any(|l| l == "goodhart") {
            v.push("label goodhart missing".into());
        }
        let fp_labels: Vec<&String> = labels
            .iter()
            .filter(|l| {
                l.strip_prefix("goodhart-")
                    .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
            })
            .collect();
        if fp_labels.len() != 1 {
            v.push(format!("fingerprint label missing in {labels:?}"));
        }
        if f["priority"]["name"].as_str().is_none() {
            v.push("priority".into());
        }
        check_adf(&f["description"], "description", &mut v);
        if !v.is_empty() {
            s.violations.extend(v.iter().cloned());
            return (400, json!({"errors": v}).to_string());
        }
        let key = format!("GOV-{}", s.issues.len() + 1);
        s.issues.push(Issue {
            key: key.clone(),
            labels,
            fields: f.clone(),
            comments: vec![],
            done: false,
            resolution: None,
        });
        return (
            201,
            json!({"id": "10000", "key": key, "self": "http://x/rest/api/3/issue/10000"})
                .to_string(),
        );
    }
    if let Some(key) = r
        .path
        .strip_prefix("/rest/api/3/issue/")
        .and_then(|p| p.strip_suffix("/comment"))
    {
        let mut v = Vec::new();
        check_adf(&body["body"], "comment", &mut v);
        if !v.is_empty() {
            s.violations.extend(v);
            return (400, "{}".into());
        }
        return match s.issues.iter_mut().find(|i| i.key == key) {
            Some(i) => {
                i.comments.push(body["body"].clone());
                (201, json!({"id": "1"}).to_string())
            }
            None => (404, "{\"errorMessages\":[\"Issue does not exist\"]}".into()),
        };
    }
    (404, "{}".into())
}

pub fn start_jira() -> MockServer {
    serve(0, Box::new(jira_handler))
}

pub fn start_jira_on(port: u16) -> MockServer {
    serve(port, Box::new(jira_handler))
}

/// A webhook receiver answering 200 (after any scripted responses).
pub fn start_receiver() -> MockServer {
    serve(0, Box::new(|_s, _r| (200, "{}".into())))
}

/// A webhook receiver answering 200 after `delay` per request (a slow sink).
pub fn start_slow_receiver(delay: Duration) -> MockServer {
    serve(
        0,
        Box::new(move |_s, _r| {
            std::thread::sleep(delay);
            (200, "{}".into())
        }),
    )
}
