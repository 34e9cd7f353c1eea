//! Configuration: the `[alerts]`, `[jira]`, `[webhook]` and `[privacy]` sections of goodhart.toml.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{AlertError, Result};
use crate::model::Severity;
use crate::store::Verdict;

/// Lifecycle timing rules used by [`crate::StateStore::reconcile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// An open alert not raised for this many days (since `last_seen`) is resolved. Default 7.
    pub resolve_after_days: u32,
    /// A resolved alert raised again at least this many days after its `last_seen` is
    /// `Reopened` (new ticket); sooner, it is `Ongoing` on the same ticket. Default 14.
    pub reopen_quiet_days: u32,
    /// A false-positive verdict suppresses the fingerprint for this many days. Default 90.
    pub suppress_days: u32,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        LifecyclePolicy {
            resolve_after_days: 7,
            reopen_quiet_days: 14,
            suppress_days: 90,
        }
    }
}

/// The `[alerts]` section: state location, lifecycle and delivery knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsSection {
    /// Directory holding `state.sqlite3`. Default `.goodhart`.
    pub state_dir: PathBuf,
    /// See [`LifecyclePolicy::resolve_after_days`].
    pub resolve_after_days: u32,
    /// See [`LifecyclePolicy::reopen_quiet_days`].
    pub reopen_quiet_days: u32,
    /// See [`LifecyclePolicy::suppress_days`].
    pub suppress_days: u32,
    /// Alerts below this severity are written to alerts.jsonl but not delivered to sinks.
    /// Default `low`.
    pub min_severity: Severity,
    /// HTTP attempts per delivery per run before it is left pending for the next run. Default 5.
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter. Default 500.
    pub base_backoff_ms: u64,
    /// Cap on any single retry delay, including a server's `Retry-After`, in seconds. Default 60.
    pub max_backoff_secs: u64,
    /// HTTP connect / read / write timeout in seconds. Default 30.
    pub timeout_secs: u64,
    /// Rolling backups of the state database kept in `<state_dir>/backups/` (one per successful
    /// scan, SQLite online backup). Default 7; 0 = no backups.
    pub keep_backups: u32,
}

impl Default for AlertsSection {
    fn default() -> Self {
        let p = LifecyclePolicy::default();
        AlertsSection {
            state_dir: PathBuf::from(".goodhart"),
            resolve_after_days: p.resolve_after_days,
            reopen_quiet_days: p.reopen_quiet_days,
            suppress_days: p.suppress_days,
            min_severity: Severity::Low,
            max_attempts: 5,
            base_backoff_ms: 500,
            max_backoff_secs: 60,
            timeout_secs: 30,
            keep_backups: 7,
        }
    }
}

impl AlertsSection {
    /// The lifecycle policy these settings describe.
    pub fn policy(&self) -> LifecyclePolicy {
        LifecyclePolicy {
            resolve_after_days: self.resolve_after_days,
            reopen_quiet_days: self.reopen_quiet_days,
            suppress_days: self.suppress_days,
        }
    }
}

/// Jira priority name per severity (`[jira.priority]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriorityMap {
    /// Default `Highest`.
    pub critical: String,
    /// Default `High`.
    pub high: String,
    /// Default `Medium`.
    pub medium: String,
    /// Default `Low`.
    pub low: String,
    /// Default `Lowest`.
    pub none: String,
}

impl Default for PriorityMap {
    fn default() -> Self {
        PriorityMap {
            critical: "Highest".into(),
            high: "High".into(),
            medium: "Medium".into(),
            low: "Low".into(),
            none: "Lowest".into(),
        }
    }
}

impl PriorityMap {
    /// Priority name for a severity.
    pub fn for_severity(&self, s: Severity) -> &str {
        match s {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
            Severity::None => &self.none,
        }
    }
}

/// The `[jira]` section (Jira Cloud REST v3). Present = Jira delivery enabled.
///
/// Credentials are never stored in the configuration: `email_env` and `token_env` are the
/// NAMES of environment variables holding them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JiraConfig {
    /// Site URL, e.g. `https://example.atlassian.net` (no trailing path, no credentials).
    pub base_url: String,
    /// Project key, e.g. `GOV`.
    pub project_key: String,
    /// Issue type name. Default `Task`.
    pub issue_type: String,
    /// Name of the env variable holding the Atlassian account email. Default `JIRA_EMAIL`.
    pub email_env: String,
    /// Name of the env variable holding the API token. Default `JIRA_API_TOKEN`.
    pub token_env: String,
    /// Extra labels added to every issue (besides `goodhart` and `goodhart-<fingerprint>`).
    pub labels: Vec<String>,
    /// Priority per severity.
    pub priority: PriorityMap,
    /// Allow a plain `http://` `base_url` whose host is not loopback. Default false: Basic
    /// credentials would cross the network in clear.
    pub allow_insecure_http: bool,
    /// Verdict recorded when goodhart's ticket is resolved in Jira with this resolution name
    /// (compared case-insensitively). Resolutions not listed are left alone. Default:
    /// `Won't Do`, `Not a Bug`, `Duplicate` → false_positive; `Done`, `Fixed` → confirmed.
    /// Setting the table replaces the whole default.
    pub resolution_verdicts: BTreeMap<String, Verdict>,
}

/// The default `[jira] resolution_verdicts`.
pub fn default_resolution_verdicts() -> BTreeMap<String, Verdict> {
    [
        ("Won't Do", Verdict::FalsePositive),
        ("Not a Bug", Verdict::FalsePositive),
        ("Duplicate", Verdict::FalsePositive),
        ("Done", Verdict::Confirmed),
        ("Fixed", Verdict::Confirmed),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether `host` is a loopback address or `localhost`.
fn is_loopback(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl Default for JiraConfig {
    fn default() -> Self {
        JiraConfig {
            base_url: String::new(),
            project_key: String::new(),
            issue_type: "Task".into(),
            email_env: "JIRA_EMAIL".into(),
            token_env: "JIRA_API_TOKEN".into(),
            labels: Vec::new(),
            priority: PriorityMap::default(),
            allow_insecure_http: false,
            resolution_verdicts: default_resolution_verdicts(),
        }
    }
}

impl JiraConfig {
    /// The verdict configured for a Jira resolution name (case-insensitive), if any.
    pub fn verdict_for_resolution(&self, resolution: &str) -> Option<Verdict> {
        let name = resolution.trim();
        self.resolution_verdicts
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// Check the settings (not the credentials).
    ///
    /// A plain `http://` URL is refused unless its host is loopback (`localhost`, `127.0.0.0/8`,
    /// `::1`) or `allow_insecure_http = true`: Basic credentials would travel in clear.
    pub fn validate(&self) -> Result<()> {
        let url = self.base_url.trim();
        let not_http = || AlertError::Config {
            setting: "[jira] base_url",
            reason: format!(
                "{url:?} is not an http(s) URL; use e.g. \"https://yourcompany.atlassian.net\""
            ),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(not_http());
        }
        let parsed = url::Url::parse(url).map_err(|_| not_http())?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(AlertError::Config {
                setting: "[jira] base_url",
                reason: "must not contain credentials (user@host); use email_env / token_env"
                    .into(),
            });
        }
        let Some(host) = parsed.host() else {
            return Err(not_http());
        };
        if parsed.scheme() == "http" && !self.allow_insecure_http && !is_loopback(host) {
            return Err(AlertError::Config {
                setting: "[jira] base_url",
                reason: format!(
                    "{url:?} is plain http: the Jira email and API token would cross the network \
                     in clear. Use https://, or set allow_insecure_http = true in [jira] if a \
                     trusted proxy on this network adds TLS"
                ),
            });
        }
        if self.project_key.trim().is_empty() {
            return Err(AlertError::Config {
                setting: "[jira] project_key",
                reason: "is empty; set it to the key of the Jira project, e.g. \"GOV\"".into(),
            });
        }
        if self.issue_type.trim().is_empty() {
            return Err(AlertError::Config {
                setting: "[jira] issue_type",
                reason: "is empty; use e.g. \"Task\"".into(),
            });
        }
        if let Some(bad) = self
            .labels
            .iter()
            .find(|l| l.is_empty() || l.chars().any(char::is_whitespace))
        {
            return Err(AlertError::Config {
                setting: "[jira] labels",
                reason: format!("Jira labels cannot be empty or contain spaces: {bad:?}"),
            });
        }
        Ok(())
    }
}

/// The `[webhook]` section (Standard Webhooks signed POST). Present = webhook delivery enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receiver URL.
    pub url: String,
    /// Name of the env variable holding the signing secret (`whsec_<base64>` or raw text).
    /// Default `GOODHART_WEBHOOK_SECRET`.
    pub secret_env: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: String::new(),
            secret_env: "GOODHART_WEBHOOK_SECRET".into(),
        }
    }
}

impl WebhookConfig {
    /// Check the settings (not the secret).
    pub fn validate(&self) -> Result<()> {
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(AlertError::Config {
                setting: "[webhook] url",
                reason: format!("{url:?} is not an http(s) URL"),
            });
        }
        Ok(())
    }
}

/// The `[privacy]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Replace user ids by keyed pseudonyms in outbound payloads (Jira, webhook). Default false.
    pub pseudonymize: bool,
    /// Name of the env variable holding the pseudonym HMAC key. Default `GOODHART_PSEUDONYM_KEY`.
    pub key_env: String,
    /// Also replace cohort (team) names by keyed pseudonyms `c-<16 hex>` in outbound payloads
    /// (with `pseudonymize = true`). Default false: team names help route a ticket; turn it on
    /// when teams are small enough, or named such, that the name points at a person.
    pub pseudonymize_cohorts: bool,
    /// Four-eyes re-identification: `goodhart whois` needs a request and a second person's
    /// approval. Default false.
    pub four_eyes: bool,
    /// Name recorded as the actor in the audit log when `--actor` is not given. Default: the
    /// OS user.
    pub actor: Option<String>,
    /// Team and cohort figures describing fewer than this many people are shown as "< k".
    /// Default 5.
    pub min_group_size: usize,
}

/// Default of [`PrivacyConfig::min_group_size`].
pub const DEFAULT_MIN_GROUP_SIZE: usize = 5;

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            pseudonymize: false,
            key_env: "GOODHART_PSEUDONYM_KEY".into(),
            pseudonymize_cohorts: false,
            four_eyes: false,
            actor: None,
            min_group_size: DEFAULT_MIN_GROUP_SIZE,
        }
    }
}

/// Everything this crate reads from goodhart.toml.
///
/// Field names equal the TOML section names, and unknown top-level keys are ignored, so the
/// whole goodhart.toml can be deserialised straight into this type, or the type can be
/// `#[serde(flatten)]`-ed into a larger config struct.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// `[alerts]`.
    pub alerts: AlertsSection,
    /// `[jira]`; `None` = no Jira delivery.
    pub jira: Option<JiraConfig>,
    /// `[webhook]`; `None` = no webhook delivery.
    pub webhook: Option<WebhookConfig>,
    /// `[privacy]`.
    pub privacy: PrivacyConfig,
    /// `[retention]`.
    pub retention: crate::retention::RetentionConfig,
}

impl AlertsConfig {
    /// Validate every enabled section.
    pub fn validate(&self) -> Result<()> {
        if let Some(j) = &self.jira {
            j.validate()?;
        }
        if let Some(w) = &self.webhook {
            w.validate()?;
        }
        if self.alerts.max_attempts == 0 {
            return Err(AlertError::Config {
                setting: "[alerts] max_attempts",
                reason: "must be at least 1".into(),
            });
        }
        self.retention.validate()?;
        if self.privacy.min_group_size < 2 {
            return Err(AlertError::Config {
                setting: "[privacy] min_group_size",
                reason: format!(
                    "is {}; it must be at least 2 (a figure about one person is that person's)",
                    self.privacy.min_group_size
                ),
            });
        }
        if self.privacy.pseudonymize && self.privacy.key_env.trim().is_empty() {
            return Err(AlertError::Config {
                setting: "[privacy] key_env",
                reason: "is empty while pseudonymize = true; name an env variable holding the key"
                    .into(),
            });
        }
        Ok(())
    }

    /// Lifecycle policy of the `[alerts]` section.
    pub fn policy(&self) -> LifecyclePolicy {
        self.alerts.policy()
    }

    /// HTTP timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.alerts.timeout_secs.max(1))
    }
}

/// A commented default configuration for the sections this crate owns; parses to
/// [`AlertsConfig::default()`] (the sink sections are commented out, i.e. disabled).
pub fn default_toml() -> &'static str {
    DEFAULT_TOML
}

const DEFAULT_TOML: &str = r#"# ---------------------------------------------------------------------------
# Alerts: lifecycle state, delivery and privacy (goodhart-alerts)
# ---------------------------------------------------------------------------
[alerts]
# Directory of the alert state database (state.sqlite3). Keep it between runs.
state_dir = ".goodhart"
# An open alert that is not raised again for this many days is resolved.
resolve_after_days = 7
# A resolved alert raised again after at least this many quiet days is "reopened"
# (new ticket); sooner, it is "ongoing" on its old ticket.
reopen_quiet_days = 14
# A false-positive verdict (goodhart feedback) suppresses that user + pattern this long.
suppress_days = 90
# Alerts below this severity go to alerts.jsonl only, not to Jira / webhook.
# One of: none, low, medium, high, critical.
min_severity = "low"
# Delivery retries (network errors, HTTP 429 and 5xx only) per run; afterwards the
# delivery stays pending and is sent first on the next run.
max_attempts = 5
base_backoff_ms = 500
# Cap on any retry delay, including a server's Retry-After.
max_backoff_secs = 60
timeout_secs = 30
# Rolling backups of state.sqlite3 in <state_dir>/backups/, one per successful
# scan (SQLite online backup); the newest keep_backups are kept (0: none).
keep_backups = 7

# Jira Cloud (REST v3). Uncomment to enable. Credentials come from environment
# variables whose NAMES are given here (Basic auth: account email + API token).
# [jira]
# base_url = "https://yourcompany.atlassian.net"
# project_key = "GOV"
# issue_type = "Task"
# email_env = "JIRA_EMAIL"
# token_env = "JIRA_API_TOKEN"
# labels = ["ai-usage"]          # extra labels; "goodhart" and "goodhart-<fingerprint>" are always set
# Plain http:// is refused (credentials in clear) unless the host is loopback
# or this is true.
# allow_insecure_http = false
# Verdicts taken back from Jira: at each scan (and `goodhart feedback --sync`)
# goodhart's resolved tickets are read and their resolution mapped to a verdict.
# Setting this table replaces the whole default below.
# [jira.resolution_verdicts]
# "Won't Do" = "false_positive"
# "Not a Bug" = "false_positive"
# "Duplicate" = "false_positive"
# "Done" = "confirmed"
# "Fixed" = "confirmed"
# [jira.priority]
# critical = "Highest"
# high = "High"
# medium = "Medium"
# low = "Low"
# none = "Lowest"

# Signed webhook (Standard Webhooks: webhook-id / webhook-timestamp / webhook-signature
# headers, HMAC-SHA256). Uncomment to enable. A secret of the form whsec_<base64> is
# base64-decoded to get the key; any other value is used as raw bytes.
# [webhook]
# url = "https://hooks.example.com/goodhart"
# secret_env = "GOODHART_WEBHOOK_SECRET"

[privacy]
# Replace user ids by pseudonyms "p-<16 hex>" and session ids by "s-<16 hex>"
# (keyed HMAC-SHA256 with the key below) in everything sent to Jira / webhooks:
# fields, labels, summaries, descriptions, evidence text. alerts.jsonl keeps real
# ids; `goodhart whois` maps a pseudonym back using the local state.
pseudonymize = false
key_env = "GOODHART_PSEUDONYM_KEY"
# Also replace cohort (team) names by "c-<16 hex>".
pseudonymize_cohorts = false
# Four-eyes re-identification: `goodhart whois --request` + another person's
# `goodhart whois --approve ID` before the requester's `goodhart whois --reveal ID`.
# Every whois (granted or refused) is recorded in the hash-chained audit log.
four_eyes = false
# Name recorded in the audit log when --actor is not given (default: the OS user).
# actor = "dpo-office"
# Team / cohort figures describing fewer people than this are shown as "< k".
min_group_size = 5

[retention]
# Resolved alerts, feedback, delivered outbox entries and the pseudonyms of purged
# alerts are deleted this many days after they were resolved / given / sent (at each
# scan and by `goodhart purge`). Open alerts and pending deliveries are kept.
state_days = 180
# Audit log entries and four-eyes requests (at least state_days).
audit_days = 1095
# Managed scan outputs: subdirectories of this root whose summary.json window ended
# more than outputs_days ago lose the files goodhart wrote. Unset: outputs are yours.
# outputs_root = "goodhart-out"
outputs_days = 180
"#;

/// A secret value (token, key). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Only call this where the value is actually needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where environment variables are read from: the process environment, or (tests, embedding)
/// an explicit map.
#[derive(Clone, Default)]
pub enum EnvSource {
    /// `std::env::var`.
    #[default]
    Process,
    /// Only this map is consulted.
    Map(BTreeMap<String, String>),
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Process => f.write_str("Process"),
            // Show the names only: the values are credentials.
            EnvSource::Map(m) => f.debug_set().entries(m.keys()).finish(),
        }
    }
}

impl EnvSource {
    /// Look up a variable, returning `None` when unset or empty.
    pub fn get(&self, var: &str) -> Option<Secret> {
        let v = match self {
            EnvSource::Process => std::env::var(var).ok(),
            EnvSource::Map(m) => m.get(var).cloned(),
        };
        v.filter(|s| !s.is_empty()).map(Secret)
    }

    /// Look up a variable that must be set.
    pub fn require(&self, var: &str, setting: &'static str) -> Result<Secret> {
        self.get(var).ok_or_else(|| AlertError::MissingEnv {
            var: var.to_string(),
            setting,
        })
    }
}
