//! `goodhart scan`: the nightly job (wiring of [`goodhart::scan`] and its presentation).

use std::io::Write;

use anyhow::Result;
use chrono::Utc;
use goodhart::scan::{Dataset, Hooks, ScanOptions};
use goodhart::{Config, Error};

use crate::args::{self, Format};
use crate::term::{progress_bar, stage_spinner, term};
use crate::{resolve_window, EXIT_ALERTS, EXIT_INCOMPLETE, EXIT_OK};

pub(crate) fn scan(a: args::ScanArgs) -> Result<u8> {
    let dataset = Dataset::locate(&a.inputs, a.roster.as_deref())?;
    let loaded = Config::discover(a.config.as_deref(), dataset.root.as_deref())?;
    let window = resolve_window(a.as_of, a.window, &loaded.config);
    let state_dir = a
        .state
        .clone()
        .unwrap_or_else(|| loaded.config.alerts.state_dir.clone());
    let pb = progress_bar(a.quiet, || {
        let (files, _) = dataset.files(Some(goodhart::io::DateWindow::from(window)))?;
        Ok(goodhart::io::count_rows(&files).map_err(Error::from)?)
    })?;
    let verbose = a.verbose;
    let started = std::time::Instant::now();
    let fault = FaultPoints::from_env();
    let rows = |n: u64| {
        pb.inc(n);
        fault.pass("ingest batch");
    };
    let checkpoint = |name: &str| fault.pass(name);
    let stage = |s: &str| {
        if s != "features" {
            stage_spinner(&pb);
        }
        pb.set_message(s.to_string());
        if verbose > 0 {
            pb.suspend(|| eprintln!("[{:>7.2}s] {s}", started.elapsed().as_secs_f64()));
        }
    };
    let memory = goodhart::scan::MemoryBudget::limit(
        a.memory_limit
            .or_else(|| loaded.config.memory_limit())
            .unwrap_or_else(goodhart::bucketed::default_memory_limit),
    );
    let feature_cache = match (loaded.config.scan.feature_cache, a.full) {
        (false, _) => goodhart::cache::CacheMode::Off,
        (true, true) => goodhart::cache::CacheMode::Full,
        (true, false) => goodhart::cache::CacheMode::Incremental,
    };
    let opts = ScanOptions {
        memory,
        config: loaded,
        window,
        out_dir: a.out.clone(),
        state_dir,
        dry_run: a.dry_run,
        now: Utc::now(),
        init_state: a.init_state,
        feature_cache,
    };
    let outcome = goodhart::scan::scan(
        &dataset,
        &opts,
        &Hooks {
            rows: Some(&rows),
            stage: Some(&stage),
            warn: Some(&|w: &str| pb.suspend(|| eprintln!("warning: {}", term(w)))),
            checkpoint: Some(&checkpoint),
        },
    )?;
    pb.finish_and_clear();

    let s = &outcome.summary;
    if !a.quiet {
        match a.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(s)?),
            Format::Text => {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "goodhart {} — window {} .. {} ({} days)",
                    s.tool_version, s.window.start, s.window.end, s.window.days
                )?;
                writeln!(
                    out,
                    "rows: {} read, {} accepted, {} quarantined{}",
                    s.rows.read,
                    s.rows.accepted,
                    s.rows.quarantined,
                    if s.rows.quarantined_by_reason.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            s.rows
                                .quarantined_by_reason
                                .iter()
                                .map(|(k, v)| format!("{k}: {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )?;
                writeln!(
                    out,
                    "scored: {} users, {} sessions (cohorts: {})",
                    s.users, s.sessions, s.cohort_method
                )?;
                for f in &s.cohort_findings {
                    writeln!(
                        out,
                        "team finding ({}, {}): {}",
                        f.pattern, f.severity, f.text
                    )?;
                }
                let sev = |k: &str| s.alerts_by_severity.get(k).copied().unwrap_or(0);
                let st = |k: &str| s.alerts_by_status.get(k).copied().unwrap_or(0);
                writeln!(
                    out,
                    "alerts: {} ({} critical, {} high; {} new, {} ongoing, {} reopened; {} suppressed, {} resolved)",
                    outcome.alerts.len(),
                    sev("critical"),
                    sev("high"),
                    st("new"),
                    st("ongoing"),
                    st("reopened"),
                    s.alerts_suppressed,
                    s.alerts_resolved
                )?;
                for al in outcome.alerts.iter().take(10) {
                    let text = al
                        .candidate
                        .evidence
                        .first()
                        .map(|e| e.text.as_str())
                        .unwrap_or("multivariate outlier");
                    writeln!(
                        out,
                        "  {:8} {:5.1} {} [{}] {}: {}",
                        al.candidate.severity.as_str(),
                        al.candidate.score,
                        term(&al.candidate.user_id),
                        al.status.as_str(),
                        term(&al.candidate.pattern),
                        term(text)
                    )?;
                }
                if outcome.alerts.len() > 10 {
                    writeln!(
                        out,
                        "  … {} more in alerts.jsonl",
                        outcome.alerts.len() - 10
                    )?;
                }
                let d = &s.delivery;
                if d.dry_run {
                    writeln!(
                        out,
                        "dry run: {} deliveries would be sent:",
                        outcome.delivery.planned.len()
                    )?;
                    for p in &outcome.delivery.planned {
                        writeln!(out, "  {}", serde_json::to_string(p)?)?;
                    }
                } else {
                    writeln!(
                        out,
                        "delivery: {} sent ({} tickets created, {} comments, {} webhooks), {} failed, {} pending",
                        d.sent, d.tickets_created, d.comments_added, d.webhooks_posted, d.failed, d.pending
                    )?;
                }
                if let Some(j) = &outcome.jira_sync {
                    writeln!(out, "{}", crate::feedback_sync::summary_line(j))?;
                }
                writeln!(out, "outputs: {}", a.out.display())?;
            }
        }
    }
    if !s.completeness.complete {
        return Ok(EXIT_INCOMPLETE);
    }
    if a.fail_on_alerts && !outcome.alerts.is_empty() {
        return Ok(EXIT_ALERTS);
    }
    Ok(EXIT_OK)
}

/// Fault injection for tests (`GOODHART_FAULT_INJECT=N`): the scan kills
/// itself with SIGKILL when it passes its N-th named point (an ingest batch,
/// a stage, each staged output, the state commit, the deliveries, the
/// switch of the output set). Unset, it costs one atomic increment per point.
struct FaultPoints {
    at: Option<u64>,
    passed: std::sync::atomic::AtomicU64,
}

impl FaultPoints {
    fn from_env() -> FaultPoints {
        FaultPoints {
            at: std::env::var("GOODHART_FAULT_INJECT")
                .ok()
                .and_then(|v| v.parse().ok()),
            passed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn pass(&self, name: &str) {
        let Some(at) = self.at else { return };
        let n = self
            .passed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n == at {
            eprintln!("goodhart: fault point {n} ({name}): SIGKILL");
            // Without libc (unsafe code is forbidden): kill(1) sends the signal.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            loop {
                std::thread::park();
            }
        }
    }
}
