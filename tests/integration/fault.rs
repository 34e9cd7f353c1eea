//! Fault injection: `goodhart scan` killed with SIGKILL at every named point
//! of a run (`GOODHART_FAULT_INJECT=N`: each ingest batch, each stage, each
//! staged output, the state commit, the deliveries, the switch of the output
//! set), on `data/sample`, with a webhook receiver counting what is sent.
//!
//! After each kill: the output directory is entirely the previous night's
//! set or entirely the new one; the state passes `PRAGMA integrity_check`
//! and holds no duplicate alert or outbox row; a following normal run
//! succeeds, publishes exactly the reference set and sends nothing twice.

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "fault-test-webhook-secret";
/// The killed run: the sample's last night.
const NIGHT: [&str; 4] = ["--as-of", "2026-10-15", "--window", "15d"];
/// The night before, whose outputs and state each killed run starts from.
const BEFORE: [&str; 4] = ["--as-of", "2026-10-14", "--window", "14d"];

/// A webhook receiver: every `webhook-id` received, in order.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (s, g) = (server.clone(), got.clone());
    std::thread::spawn(move || {
        while let Ok(mut req) = s.recv() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let id = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("webhook-id"))
                .map(|h| h.value.as_str().to_string())
                .unwrap_or_default();
            g.lock().unwrap().push(id);
            let _ = req.respond(tiny_http::Response::empty(204));
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), got, server)
}

/// File name → bytes (for `summary.json`, the JSON without `timings_ms`).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot_with(dir, &[])
}

/// [`snapshot`], also without these keys of `summary.json`.
fn snapshot_with(dir: &Path, drop: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return m;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(e.path()).unwrap();
        if name == "summary.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v.as_object_mut().unwrap().remove("timings_ms");
            for k in drop {
                v.as_object_mut().unwrap().remove(*k);
            }
            bytes = v.to_string().into_bytes();
        }
        m.insert(name, bytes);
    }
    m
}

/// Integrity, no duplicate rows; returns (alerts, outbox rows).
fn check_state(state: &Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(state.join("state.sqlite3")).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let alerts = count("SELECT COUNT(*) FROM alerts");
    assert_eq!(
        alerts,
        count("SELECT COUNT(DISTINCT fingerprint) FROM alerts")
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM (SELECT user_id, pattern FROM alerts GROUP BY user_id, pattern HAVING COUNT(*) > 1)"),
        0
    );
    let outbox = count("SELECT COUNT(*) FROM outbox");
    assert_eq!(
        outbox,
        count("SELECT COUNT(DISTINCT delivery_id) FROM outbox")
    );
    (alerts, outbox)
}

#[test]
fn sigkill_at_every_point_leaves_one_output_set_and_a_sound_state() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (url, got, server) = receiver();
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(
        &cfg,
        format!(
            "[scan]\nmin_last_day_share = 0.0\n\n[webhook]\nurl = \"{url}\"\nsecret_env = \"T_FAULT_SECRET\"\n"
        ),
    )
    .unwrap();
    let scan = |out: &Path, state: &Path, night: &[&str], fault: Option<u64>| {
        let mut c = goodhart();
        c.arg("scan")
            .arg(sample())
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(out)
            .arg("--state")
            .arg(state)
            .arg("--quiet")
            .args(night)
            .env("T_FAULT_SECRET", SECRET)
            .env_remove("GOODHART_FAULT_INJECT");
        if let Some(n) = fault {
            c.env("GOODHART_FAULT_INJECT", n.to_string());
        }
        c.output().unwrap()
    };

    // The night before: its outputs and state are where each killed run starts.
    let (out0, state0) = (dir.path().join("out0"), dir.path().join("state0"));
    let o = scan(&out0, &state0, &BEFORE, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let old_set = snapshot(&out0);

    // The reference: the night run without a fault.
    let (out_ref, state_ref) = (dir.path().join("ref/out"), dir.path().join("state_ref"));
    copy_dir(&state0, &state_ref);
    std::fs::create_dir_all(dir.path().join("ref")).unwrap();
    copy_dir(&out0, &out_ref);
    got.lock().unwrap().clear();
    let o = scan(&out_ref, &state_ref, &NIGHT, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let new_set = snapshot(&out_ref);
    assert_ne!(old_set, new_set, "the night changes the outputs");
    let ref_sent: BTreeSet<String> = got.lock().unwrap().drain(..).collect();
    assert!(!ref_sent.is_empty(), "the night sends webhooks");
    let ref_rows = check_state(&state_ref);

    let (out, state) = (dir.path().join("run/out"), dir.path().join("state"));
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let mut killed = 0u64;
    let mut points = BTreeSet::new();
    for k in 1.. {
        assert!(k < 200, "the run never finished without a kill");
        copy_dir(&state0, &state);
        copy_dir(&out0, &out);
        got.lock().unwrap().clear();
        let o = scan(&out, &state, &NIGHT, Some(k));
        if o.status.success() {
            // Fewer than k points: every point was covered.
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {k}: {}", stderr(&o));
        killed += 1;
        points.insert(
            stderr(&o)
                .lines()
                .find_map(|l| l.split_once("): ").map(|_| l.to_string()))
                .unwrap_or_default(),
        );

        let now = snapshot(&out);
        assert!(
            now == old_set || now == new_set,
            "point {k}: the output directory is a mix: {:?}",
            now.keys().collect::<Vec<_>>()
        );
        check_state(&state);

        // A normal run afterwards: succeeds, publishes the reference set, sends each delivery once.
        let o = scan(&out, &state, &NIGHT, None);
        assert_eq!(code(&o), 0, "point {k}: {}", stderr(&o));
        // A kill after the state commit leaves those deliveries sent and those
        // alerts resolved by the killed run: the re-run reports none of them.
        // The feature cache reused what the killed run stored, if it got that far.
        let loose = ["delivery", "alerts_resolved", "feature_cache"];
        assert!(
            snapshot_with(&out, &loose) == snapshot_with(&out_ref, &loose),
            "point {k}: recovered set differs"
        );
        assert_eq!(check_state(&state), ref_rows, "point {k}");
        let sent = got.lock().unwrap().clone();
        let unique: BTreeSet<String> = sent.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            sent.len(),
            "point {k}: a delivery was sent twice"
        );
        assert_eq!(unique, ref_sent, "point {k}: deliveries lost or extra");
        let leftovers: Vec<String> = std::fs::read_dir(dir.path().join("run"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, vec!["out"], "point {k}: staging left behind");
    }
    assert!(killed >= 20, "only {killed} fault points: {points:?}");
    assert!(
        started.elapsed() < Duration::from_secs(900),
        "took {:?}",
        started.elapsed()
    );
    server.unblock();
}
