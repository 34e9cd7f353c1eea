//! Delivery of alerts to Jira and webhooks through the transactional outbox.
//!
//! Guarantees:
//!
//! * every delivery is recorded in the outbox (pending) before anything is sent, and marked
//!   done in the same transaction that stores its result (the Jira key);
//! * delivery ids are deterministic (`<sink>-<public fingerprint>-<YYYYMMDD of last_seen>`), so
//!   re-running the same day's scan does not deliver twice;
//! * pending deliveries from earlier runs go first (outbox order);
//! * only network errors, HTTP 429 and 5xx are retried (exponential backoff with seeded jitter,
//!   honouring `Retry-After` seconds capped by `max_backoff`); any other 4xx fails the delivery
//!   permanently with a summary of the response body; after `max_attempts` the delivery stays
//!   pending for the next run, and the sink is skipped for the rest of the run;
//! * a crash after Jira created an issue but before the outbox recorded it cannot produce a
//!   duplicate: every ticket creation is preceded by a label search
//!   (`labels = "goodhart-<fp>" AND statusCategory != Done`) and an open issue found there is
//!   commented on instead.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{AlertsConfig, EnvSource, Secret};
use crate::error::{AlertError, Result};
use crate::jira;
use crate::model::{fingerprint, sort_alerts, Alert, AlertStatus};
use crate::privacy::{IdKind, Pseudonymizer, Substitution};
use crate::store::{Action, OutboxEntry, Sink, StateStore};
use crate::webhook::sign_webhook;

/// Knobs of one delivery run.
#[derive(Clone)]
pub struct DeliverOptions {
    /// Compute and return what would be sent; send nothing and change no state.
    pub dry_run: bool,
    /// Time of the run (outbox timestamps, webhook body `timestamp`).
    pub now: DateTime<Utc>,
    /// HTTP attempts per request per run (>= 1).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt; jittered to 50-100 %.
    pub base_backoff: Duration,
    /// Cap on any delay, including `Retry-After`.
    pub max_backoff: Duration,
    /// HTTP connect/read/write timeout.
    pub timeout: Duration,
    /// Seed of the jitter RNG.
    pub seed: u64,
    /// Where credential environment variables are read.
    pub env: EnvSource,
    /// How long to wait for another process delivering from the same state
    /// directory before giving up with [`AlertError::DeliveryLocked`](crate::AlertError).
    pub lock_timeout: Duration,
}

/// Default of [`DeliverOptions::lock_timeout`]: longer than any sane
/// delivery run (every request is bounded by the HTTP timeout and retries).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl fmt::Debug for DeliverOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliverOptions")
            .field("dry_run", &self.dry_run)
            .field("now", &self.now)
            .field("max_attempts", &self.max_attempts)
            .field("base_backoff", &self.base_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("timeout", &self.timeout)
            .field("seed", &self.seed)
            .field("env", &self.env)
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

impl DeliverOptions {
    /// Options from the `[alerts]` section, reading credentials from the process environment.
    pub fn from_config(cfg: &AlertsConfig, now: DateTime<Utc>) -> Self {
        DeliverOptions {
            dry_run: false,
            now,
            max_attempts: cfg.alerts.max_attempts.max(1),
            base_backoff: Duration::from_millis(cfg.alerts.base_backoff_ms),
            max_backoff: Duration::from_secs(cfg.alerts.max_backoff_secs),
            timeout: cfg.timeout(),
            seed: 0x600d_4a27,
            env: EnvSource::Process,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// A delivery that would be (dry run) sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedDelivery {
    /// Outbox id (also the `webhook-id`).
    pub delivery_id: String,
    /// Target.
    pub sink: Sink,
    /// Intended action.
    pub action: Action,
    /// Internal fingerprint.
    pub fingerprint: String,
    /// Endpoint it goes to first.
    pub url: String,
    /// The payload (already pseudonymised when configured).
    pub payload: Value,
    /// Whether it is a pending delivery left by an earlier run.
    pub from_previous_run: bool,
}

/// A delivery that failed permanently in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedDelivery {
    /// Outbox id.
    pub delivery_id: String,
    /// Target.
    pub sink: Sink,
    /// Internal fingerprint.
    pub fingerprint: String,
    /// Summary of the error (status, response body excerpt); never contains credentials.
    pub error: String,
}

/// What a delivery run did.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DeliveryReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Dry run: everything that would be sent, in order.
    pub planned: Vec<PlannedDelivery>,
    /// Alerts not delivered because they are below `[alerts] min_severity`.
    pub below_threshold: usize,
    /// New outbox entries recorded by this run.
    pub enqueued: usize,
    /// Deliveries acknowledged by their sink in this run.
    pub sent: usize,
    /// Jira issues created: (fingerprint, issue key).
    pub tickets_created: Vec<(String, String)>,
    /// Jira comments added (ongoing alerts, or an open issue found by the label search).
    pub comments_added: usize,
    /// Webhook messages accepted.
    pub webhooks_posted: usize,
    /// Deliveries rejected permanently.
    pub failed: Vec<FailedDelivery>,
    /// Deliveries left pending for the next run (retries exhausted, sink down or not configured).
    pub still_pending: usize,
    /// HTTP requests made.
    pub http_requests: u32,
    /// Last retryable error per sink that was given up on in this run.
    pub retry_errors: Vec<String>,
    /// Every wait between two attempts of one request, in order, in
    /// milliseconds: a server's `Retry-After` (capped by `max_backoff`) or the
    /// jittered exponential backoff.
    pub retry_waits_ms: Vec<u64>,
}

/// Credentials resolved for a run. `Debug` shows no values.
pub(crate) struct Creds {
    pub(crate) jira_auth: Option<Secret>,
    webhook_secret: Option<Secret>,
    /// Raw values to scrub from any error text.
    scrub: Vec<Secret>,
}

impl Creds {
    pub(crate) fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.scrub {
            let v = secret.expose();
            if v.len() >= 4 {
                out = out.replace(v, "<redacted>");
            }
        }
        out
    }
}

pub(crate) fn resolve_creds(cfg: &AlertsConfig, env: &EnvSource, required: bool) -> Result<Creds> {
    let mut creds = Creds {
        jira_auth: None,
        webhook_secret: None,
        scrub: Vec::new(),
    };
    if let Some(j) = &cfg.jira {
        let (email, token) = if required {
            (
                Some(env.require(&j.email_env, "[jira] email_env")?),
                Some(env.require(&j.token_env, "[jira] token_env")?),
            )
        } else {
            (env.get(&j.email_env), env.get(&j.token_env))
        };
        if let (Some(email), Some(token)) = (email, token) {
            let basic = STANDARD.encode(format!("{}:{}", email.expose(), token.expose()));
            creds.scrub.push(token);
            creds.scrub.push(Secret::new(basic.clone()));
            creds.jira_auth = Some(Secret::new(format!("Basic {basic}")));
        }
    }
    if let Some(w) = &cfg.webhook {
        let secret = if required {
            Some(env.require(&w.secret_env, "[webhook] secret_env")?)
        } else {
            env.get(&w.secret_env)
        };
        if let Some(s) = secret {
            creds.scrub.push(s.clone());
            creds.webhook_secret = Some(s);
        }
    }
    Ok(creds)
}

struct NewDelivery {
    id: String,
    fingerprint: String,
    sink: Sink,
    action: Action,
    payload: String,
}

fn date_tag(a: &Alert) -> String {
    a.last_seen.format("%Y%m%d").to_string()
}

/// The alert as it leaves the organisation, and the substitution that made it.
///
/// Without pseudonymisation the alert is unchanged. With it: the user id, every session id of
/// the evidence and (with `pseudonymize_cohorts`) the cohort are replaced by their keyed
/// pseudonyms, in their fields and wherever they occur in free text (a session id that embeds
/// the user's name is replaced whole); the fingerprint becomes the public fingerprint
/// `fingerprint(pseudonym, pattern)`. None of it can be linked to a person without the key or
/// the local state.
fn outbound(alert: &Alert, pseudo: Option<&Pseudonymizer>) -> (Alert, Option<Substitution>) {
    let Some(p) = pseudo else {
        return (alert.clone(), None);
    };
    let c = &alert.candidate;
    let public = p.pseudonym(&c.user_id);
    let public_fp = fingerprint(&public, &c.pattern);
    let mut pairs = vec![(c.user_id.clone(), public.clone(), IdKind::User)];
    for e in &c.evidence {
        for sid in &e.sessions {
            pairs.push((sid.clone(), p.session(sid), IdKind::Session));
        }
    }
    if p.cohorts() {
        pairs.push((c.cohort.clone(), p.cohort(&c.cohort), IdKind::Cohort));
    }
    let sub = Substitution::new(&pairs, std::slice::from_ref(&public_fp));
    let mut out = alert.clone();
    out.fingerprint = public_fp;
    out.candidate.user_id = public;
    if p.cohorts() {
        out.candidate.cohort = p.cohort(&c.cohort);
    }
    for e in &mut out.candidate.evidence {
        e.sessions = e.sessions.iter().map(|s| p.session(s)).collect();
        e.text = sub.apply(&e.text);
    }
    (out, Some(sub))
}

/// Pseudonymised payloads: rewrite any string still holding a real identifier (template text
/// built from a field, a future field), then refuse to send if one is left anyway.
fn scrub(payload: &mut Value, sub: Option<&Substitution>, public_fp: &str) -> Result<()> {
    let Some(sub) = sub else { return Ok(()) };
    sub.apply_json(payload);
    match sub.leak(payload) {
        None => Ok(()),
        Some((field, kind)) => Err(AlertError::PrivacyLeak {
            public_fingerprint: public_fp.to_string(),
            field,
            kind: kind.as_str(),
        }),
    }
}

/// Deliveries and side tables computed from a scan's alerts.
struct Built {
    deliveries: Vec<NewDelivery>,
    /// (pseudonym, real id): users, sessions and cohorts.
    /// (pseudonym, real value, fingerprint of the alert that uses it)
    pseudonyms: Vec<(String, String, String)>,
    /// (public fingerprint, fingerprint)
    aliases: Vec<(String, String)>,
    below_threshold: usize,
}

fn build_deliveries(
    cfg: &AlertsConfig,
    alerts: &[Alert],
    pseudo: Option<&Pseudonymizer>,
    now: DateTime<Utc>,
) -> Result<Built> {
    let mut sorted = alerts.to_vec();
    sort_alerts(&mut sorted);
    let mut out = Vec::new();
    let mut pseudonyms = BTreeSet::new();
    let mut aliases = BTreeSet::new();
    let mut below = 0;
    for alert in &sorted {
        if alert.candidate.severity < cfg.alerts.min_severity {
            below += 1;
            continue;
        }
        let (public, sub) = outbound(alert, pseudo);
        if pseudo.is_some() {
            let fp = &alert.fingerprint;
            pseudonyms.insert((
                public.candidate.user_id.clone(),
                alert.candidate.user_id.clone(),
                fp.clone(),
            ));
            for (e, pe) in alert
                .candidate
                .evidence
                .iter()
                .zip(&public.candidate.evidence)
            {
                for (sid, ps) in e.sessions.iter().zip(&pe.sessions) {
                    pseudonyms.insert((ps.clone(), sid.clone(), fp.clone()));
                }
            }
            if public.candidate.cohort != alert.candidate.cohort {
                pseudonyms.insert((
                    public.candidate.cohort.clone(),
                    alert.candidate.cohort.clone(),
                    fp.clone(),
                ));
            }
            aliases.insert((public.fingerprint.clone(), alert.fingerprint.clone()));
        }
        if let Some(j) = &cfg.jira {
            let action = match alert.status {
                AlertStatus::New | AlertStatus::Reopened => Action::Create,
                AlertStatus::Ongoing => Action::Comment,
            };
            let mut payload = json!({
                "label": jira::fingerprint_label(&public.fingerprint),
                "fields": jira::issue_fields(j, &public, &public.fingerprint),
                "comment": {"body": jira::comment_body(&public)},
            });
            scrub(&mut payload, sub.as_ref(), &public.fingerprint)?;
            out.push(NewDelivery {
                id: format!("jira-{}-{}", public.fingerprint, date_tag(alert)),
                fingerprint: alert.fingerprint.clone(),
                sink: Sink::Jira,
                action,
                payload: payload.to_string(),
            });
        }
        if cfg.webhook.is_some() {
            let mut body = json!({
                "type": format!("goodhart.alert.{}", alert.status),
                "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "data": public,
            });
            scrub(&mut body, sub.as_ref(), &public.fingerprint)?;
            let body = serde_json::to_string(&body).map_err(|e| AlertError::Json {
                what: format!("webhook payload of {}", alert.fingerprint),
                source: e,
            })?;
            out.push(NewDelivery {
                id: format!("webhook-{}-{}", public.fingerprint, date_tag(alert)),
                fingerprint: alert.fingerprint.clone(),
                sink: Sink::Webhook,
                action: Action::Post,
                payload: body,
            });
        }
    }
    Ok(Built {
        deliveries: out,
        pseudonyms: pseudonyms.into_iter().collect(),
        aliases: aliases.into_iter().collect(),
        below_threshold: below,
    })
}

fn first_url(cfg: &AlertsConfig, sink: Sink, action: Action, ticket: Option<&str>) -> String {
    match sink {
        Sink::Jira => {
            let base = cfg
                .jira
                .as_ref()
                .map(|j| j.base_url.trim_end_matches('/').to_string())
                .unwrap_or_default();
            match (action, ticket) {
                (Action::Comment, Some(key)) => format!("{base}/rest/api/3/issue/{key}/comment"),
                _ => format!("{base}/rest/api/3/search/jql"),
            }
        }
        Sink::Webhook => cfg
            .webhook
            .as_ref()
            .map(|w| w.url.clone())
            .unwrap_or_default(),
    }
}

/// What a real run would send: the deliveries still pending from earlier
/// runs, then tonight's new ones (nothing is sent or recorded).
fn dry_run_plan(
    store: &StateStore,
    cfg: &AlertsConfig,
    new: &[NewDelivery],
) -> Result<Vec<PlannedDelivery>> {
    let mut planned = Vec::new();
    let existing = store.outbox()?;
    let known: BTreeSet<&str> = existing.iter().map(|e| e.delivery_id.as_str()).collect();
    // One planned delivery, whether still pending from an earlier run or new tonight.
    let plan =
        |id: &str, sink: Sink, action: Action, fingerprint: &str, payload: &str, old: bool| {
            Ok::<_, AlertError>(PlannedDelivery {
                delivery_id: id.to_string(),
                sink,
                action,
                fingerprint: fingerprint.to_string(),
                url: first_url(cfg, sink, action, store.ticket(fingerprint)?.as_deref()),
                payload: serde_json::from_str(payload)
                    .unwrap_or_else(|_| Value::String(payload.to_string())),
                from_previous_run: old,
            })
        };
    for e in existing
        .iter()
        .filter(|e| e.state == crate::store::OutboxState::Pending)
    {
        planned.push(plan(
            &e.delivery_id,
            e.sink,
            e.action,
            &e.fingerprint,
            &e.payload,
            true,
        )?);
    }
    for d in new.iter().filter(|d| !known.contains(d.id.as_str())) {
        planned.push(plan(
            &d.id,
            d.sink,
            d.action,
            &d.fingerprint,
            &d.payload,
            false,
        )?);
    }
    Ok(planned)
}

/// Deliver alerts (from [`StateStore::reconcile`]) to the configured sinks; see the module docs
/// for the guarantees. Alerts below `[alerts] min_severity` are skipped.
///
/// Returns `Err` only for problems that stop the whole run before anything is sent (invalid
/// configuration, a missing credential or key variable, state database errors); per-delivery
/// failures are in the [`DeliveryReport`].
pub fn deliver(
    store: &mut StateStore,
    cfg: &AlertsConfig,
    alerts: &[Alert],
    opts: &DeliverOptions,
) -> Result<DeliveryReport> {
    cfg.validate()?;
    let pseudo = Pseudonymizer::from_config(&cfg.privacy, &opts.env)?;
    let creds = resolve_creds(cfg, &opts.env, !opts.dry_run)?;
    let Built {
        deliveries: new,
        pseudonyms,
        aliases,
        below_threshold: below,
    } = build_deliveries(cfg, alerts, pseudo.as_ref(), opts.now)?;
    let mut report = DeliveryReport {
        dry_run: opts.dry_run,
        below_threshold: below,
        ..DeliveryReport::default()
    };

    if opts.dry_run {
        report.planned = dry_run_plan(store, cfg, &new)?;
        return Ok(report);
    }

    let rows: Vec<(String, String, Sink, Action, String)> = new
        .into_iter()
        .map(|d| (d.id, d.fingerprint, d.sink, d.action, d.payload))
        .collect();
    report.enqueued = store.enqueue(&rows, &pseudonyms, &aliases, opts.now)?;

    // One delivering process per state directory: a second scan started
    // while the first is still sending would otherwise read the same pending
    // rows and send them twice. Held until the end of this function.
    let _lock = store.delivery_lock(opts.lock_timeout)?;
    let mut http = Http::new(opts);
    let mut down: BTreeSet<Sink> = BTreeSet::new();
    for entry in store.pending()? {
        let configured = match entry.sink {
            Sink::Jira => cfg.jira.is_some() && creds.jira_auth.is_some(),
            Sink::Webhook => cfg.webhook.is_some() && creds.webhook_secret.is_some(),
        };
        if !configured || down.contains(&entry.sink) {
            report.still_pending += 1;
            continue;
        }
        let mut attempts = 0u32;
        let outcome = match entry.sink {
            Sink::Jira => send_jira(&mut http, store, cfg, &creds, &entry, &mut attempts),
            Sink::Webhook => send_webhook(&mut http, cfg, &creds, &entry, &mut attempts),
        };
        match outcome {
            Ok(Sent::Created(key)) => {
                store.mark_done(&entry, attempts, Some(&key), opts.now)?;
                report
                    .tickets_created
                    .push((entry.fingerprint.clone(), key));
                report.sent += 1;
            }
            Ok(Sent::Commented(key)) => {
                store.mark_done(&entry, attempts, Some(&key), opts.now)?;
                report.comments_added += 1;
                report.sent += 1;
            }
            Ok(Sent::Posted) => {
                store.mark_done(&entry, attempts, None, opts.now)?;
                report.webhooks_posted += 1;
                report.sent += 1;
            }
            Err(Failure::Permanent(msg)) => {
                let msg = creds.redact(&msg);
                store.mark_attempt_failed(&entry.delivery_id, attempts, &msg, true)?;
                report.failed.push(FailedDelivery {
                    delivery_id: entry.delivery_id.clone(),
                    sink: entry.sink,
                    fingerprint: entry.fingerprint.clone(),
                    error: msg,
                });
            }
            Err(Failure::Retryable(msg)) => {
                let msg = creds.redact(&msg);
                store.mark_attempt_failed(&entry.delivery_id, attempts, &msg, false)?;
                report.still_pending += 1;
                report
                    .retry_errors
                    .push(format!("{}: {msg}", entry.sink.as_str()));
                down.insert(entry.sink);
            }
        }
    }
    report.http_requests = http.requests;
    report.retry_waits_ms = http.waits_ms;
    Ok(report)
}

enum Sent {
    Created(String),
    Commented(String),
    Posted,
}

pub(crate) enum Failure {
    /// Retries exhausted (network, 429, 5xx) or an unusable success response: stay pending.
    Retryable(String),
    /// Rejected (other 4xx): do not retry.
    Permanent(String),
}

pub(crate) struct Http {
    agent: ureq::Agent,
    rng: ChaCha8Rng,
    max_attempts: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    pub(crate) requests: u32,
    waits_ms: Vec<u64>,
}

fn summarize_body(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    jira::truncate_chars(&one_line, 300)
}

impl Http {
    pub(crate) fn new(opts: &DeliverOptions) -> Self {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(opts.timeout)
                .timeout_read(opts.timeout)
                .timeout_write(opts.timeout)
                .redirects(0)
                .user_agent(concat!("goodhart-alerts/", env!("CARGO_PKG_VERSION")))
                .build(),
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            max_attempts: opts.max_attempts.max(1),
            base_backoff: opts.base_backoff,
            max_backoff: opts.max_backoff,
            requests: 0,
            waits_ms: Vec::new(),
        }
    }

    fn backoff(&mut self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(self.rng.gen_range(0.5..=1.0))
    }

    /// POST `body` to `url`, retrying network errors, 429 and 5xx. `headers` is called per
    /// attempt (webhook timestamps and signatures are per attempt).
    pub(crate) fn post(
        &mut self,
        url: &str,
        headers: &dyn Fn() -> Vec<(&'static str, String)>,
        body: &str,
        attempts: &mut u32,
    ) -> std::result::Result<String, Failure> {
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            *attempts += 1;
            self.requests += 1;
            let mut req = self
                .agent
                .post(url)
                .set("Content-Type", "application/json")
                .set("Accept", "application/json");
            for (k, v) in headers() {
                req = req.set(k, &v);
            }
            let wait = match req.send_string(body) {
                Ok(resp) if (200..300).contains(&resp.status()) => {
                    return Ok(resp.into_string().unwrap_or_default());
                }
                Ok(resp) => {
                    return Err(Failure::Permanent(format!(
                        "HTTP {} from {url} (redirects are not followed): {}",
                        resp.status(),
                        summarize_body(&resp.into_string().unwrap_or_default())
                    )));
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let retry_after = resp
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let msg = format!(
                        "HTTP {code} from {url}: {}",
                        summarize_body(&resp.into_string().unwrap_or_default())
                    );
                    if code != 429 && code < 500 {
                        return Err(Failure::Permanent(msg));
                    }
                    last = msg;
                    match retry_after {
                        Some(d) => d.min(self.max_backoff),
                        None => self.backoff(attempt),
                    }
                }
                Err(ureq::Error::Transport(t)) => {
                    last = format!("network error: {t}");
                    self.backoff(attempt)
                }
            };
            if attempt < self.max_attempts {
                self.waits_ms
                    .push(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                std::thread::sleep(wait);
            }
        }
        Err(Failure::Retryable(format!(
            "gave up after {} attempts: {last}",
            self.max_attempts
        )))
    }
}

fn send_jira(
    http: &mut Http,
    store: &StateStore,
    cfg: &AlertsConfig,
    creds: &Creds,
    entry: &OutboxEntry,
    attempts: &mut u32,
) -> std::result::Result<Sent, Failure> {
    let (Some(j), Some(auth)) = (&cfg.jira, &creds.jira_auth) else {
        return Err(Failure::Retryable("Jira is not configured".into()));
    };
    let base = j.base_url.trim().trim_end_matches('/');
    let payload: Value = serde_json::from_str(&entry.payload)
        .map_err(|e| Failure::Permanent(format!("corrupt outbox payload: {e}")))?;
    let label = payload["label"].as_str().unwrap_or_default().to_string();
    let comment = json!({"body": payload["comment"]["body"]}).to_string();
    let headers = || vec![("Authorization", auth.expose().to_string())];

    let known = if entry.action == Action::Comment {
        store
            .ticket(&entry.fingerprint)
            .map_err(|e| Failure::Retryable(e.to_string()))?
    } else {
        None
    };
    if let Some(key) = known {
        let url = format!("{base}/rest/api/3/issue/{key}/comment");
        match http.post(&url, &headers, &comment, attempts) {
            Ok(_) => return Ok(Sent::Commented(key)),
            // The recorded ticket was deleted or moved: fall back to search / create.
            Err(Failure::Permanent(m)) if m.starts_with("HTTP 404") => {}
            Err(e) => return Err(e),
        }
    }
    let existing = {
        let query = json!({
            "jql": jira::search_jql(&label),
            "fields": ["key", "status"],
            "maxResults": 1,
        })
        .to_string();
        let resp = http.post(
            &format!("{base}/rest/api/3/search/jql"),
            &headers,
            &query,
            attempts,
        )?;
        let v: Value = serde_json::from_str(&resp)
            .map_err(|e| Failure::Retryable(format!("unreadable Jira search response: {e}")))?;
        v["issues"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|i| i["key"].as_str())
            .map(str::to_string)
    };
    if let Some(key) = existing {
        http.post(
            &format!("{base}/rest/api/3/issue/{key}/comment"),
            &headers,
            &comment,
            attempts,
        )?;
        return Ok(Sent::Commented(key));
    }
    let create = json!({"fields": payload["fields"]}).to_string();
    let resp = http.post(
        &format!("{base}/rest/api/3/issue"),
        &headers,
        &create,
        attempts,
    )?;
    let v: Value = serde_json::from_str(&resp).map_err(|e| {
        // The issue probably exists; staying pending lets the next run's label search find it.
        Failure::Retryable(format!("unreadable Jira create response: {e}"))
    })?;
    match v["key"].as_str() {
        Some(k) => Ok(Sent::Created(k.to_string())),
        None => Err(Failure::Retryable(format!(
            "Jira create response has no issue key: {}",
            summarize_body(&resp)
        ))),
    }
}

fn send_webhook(
    http: &mut Http,
    cfg: &AlertsConfig,
    creds: &Creds,
    entry: &OutboxEntry,
    attempts: &mut u32,
) -> std::result::Result<Sent, Failure> {
    let (Some(w), Some(secret)) = (&cfg.webhook, &creds.webhook_secret) else {
        return Err(Failure::Retryable("webhook is not configured".into()));
    };
    let body = entry.payload.as_str();
    let id = entry.delivery_id.clone();
    let headers = || {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        vec![
            ("webhook-id", id.clone()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_webhook(secret.expose(), &id, ts, body),
            ),
        ]
    };
    http.post(w.url.trim(), &headers, body, attempts)?;
    Ok(Sent::Posted)
}
