//! Privacy controls end to end: audited whois, four-eyes mode, audit verify/log.

use std::path::Path;

use crate::util::*;

/// A state directory whose pseudonym map knows `p-aaaaaaaaaaaaaaaa` = alice.
fn state_with_pseudonym(dir: &Path) -> std::path::PathBuf {
    let state = dir.join("state");
    let store = goodhart::alerts::StateStore::open(&state).unwrap();
    store
        .record_pseudonym("p-aaaaaaaaaaaaaaaa", "alice")
        .unwrap();
    state
}

fn whois(state: &Path, user: &str, args: &[&str]) -> std::process::Output {
    run(goodhart()
        .env("USER", user)
        .env_remove("USERNAME")
        .arg("whois")
        .args(args)
        .arg("--state")
        .arg(state)
        .arg("--config")
        .arg(state.parent().unwrap().join("goodhart.toml")))
}

fn write_config(dir: &Path, four_eyes: bool) {
    std::fs::write(
        dir.join("goodhart.toml"),
        format!("[privacy]\nfour_eyes = {four_eyes}\n"),
    )
    .unwrap();
}

fn audit_log(state: &Path) -> Vec<serde_json::Value> {
    let out = run(goodhart()
        .args(["audit", "log", "--format", "json", "--state"])
        .arg(state));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn whois_needs_a_reason_and_every_whois_is_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_pseudonym(dir.path());
    write_config(dir.path(), false);

    let refused = whois(&state, "anna", &["p-aaaaaaaaaaaaaaaa"]);
    assert_eq!(code(&refused), 2, "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("--reason"),
        "{}",
        stderr(&refused)
    );
    assert!(!stdout(&refused).contains("alice"));
    let empty = whois(&state, "anna", &["p-aaaaaaaaaaaaaaaa", "--reason", " "]);
    assert_eq!(code(&empty), 2);
    assert!(!stdout(&empty).contains("alice"));

    let ok = whois(
        &state,
        "anna",
        &["p-aaaaaaaaaaaaaaaa", "--reason", "GOV-12 review"],
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), "alice");
    let unknown = whois(&state, "bob", &["p-0000000000000000", "--reason", "check"]);
    assert_eq!(code(&unknown), 2);

    let log = audit_log(&state);
    let rows: Vec<String> = log
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {}",
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["pseudonym"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "anna whois p-aaaaaaaaaaaaaaaa   refused: no reason",
            "anna whois p-aaaaaaaaaaaaaaaa GOV-12 review revealed",
            "bob whois p-0000000000000000 check not_found",
        ]
    );
    let verify = run(goodhart().args(["audit", "verify", "--state"]).arg(&state));
    assert_eq!(code(&verify), 0, "{}", stderr(&verify));
    assert!(stdout(&verify).contains("3 entries"), "{}", stdout(&verify));
}

#[test]
fn whois_does_not_create_a_missing_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("nowhere");
    let out = run(goodhart()
        .args([
            "whois",
            "p-aaaaaaaaaaaaaaaa",
            "--reason",
            "x",
            "--actor",
            "a",
            "--state",
        ])
        .arg(&state));
    assert_eq!(code(&out), 2);
    assert!(!state.exists());
}

/// Edits the database the way someone with the sqlite3 shell would: drops the
/// append-only triggers first.
fn tamper(state: &Path, sql: &str) {
    let c = rusqlite::Connection::open(state.join(goodhart::alerts::STATE_FILE)).unwrap();
    c.execute_batch(&format!(
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql};"
    ))
    .unwrap();
}

#[test]
fn audit_verify_names_the_first_altered_or_deleted_entry() {
    for (sql, bad) in [
        (
            "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
            2,
        ),
        ("DELETE FROM audit_log WHERE seq = 2", 3),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let state = state_with_pseudonym(dir.path());
        write_config(dir.path(), false);
        for reason in ["one", "two", "three", "four"] {
            let o = whois(&state, "anna", &["p-aaaaaaaaaaaaaaaa", "--reason", reason]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
        }
        tamper(&state, sql);
        let out = run(goodhart().args(["audit", "verify", "--state"]).arg(&state));
        assert_eq!(code(&out), 2, "{sql}: {}", stdout(&out));
        assert!(
            stderr(&out).contains(&format!("FAILED at entry {bad}:")),
            "{sql}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn four_eyes_mode_refuses_self_approval_and_reveals_to_the_requester_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_pseudonym(dir.path());
    write_config(dir.path(), true);

    let direct = whois(&state, "anna", &["p-aaaaaaaaaaaaaaaa", "--reason", "x"]);
    assert_eq!(code(&direct), 2);
    assert!(stderr(&direct).contains("four-eyes"), "{}", stderr(&direct));
    assert!(!stdout(&direct).contains("alice"));

    let req = whois(
        &state,
        "anna",
        &["p-aaaaaaaaaaaaaaaa", "--request", "--reason", "GOV-3"],
    );
    assert_eq!(code(&req), 0, "{}", stderr(&req));
    let id = stdout(&req).trim().to_string();
    assert!(id.starts_with("r-"), "{id}");

    let selfie = whois(&state, "anna", &["--approve", &id]);
    assert_eq!(code(&selfie), 2);
    assert!(stderr(&selfie).contains("cannot approve their own"));
    let early = whois(&state, "anna", &["--reveal", &id]);
    assert_eq!(code(&early), 2);
    assert!(!stdout(&early).contains("alice"));

    let approve = whois(
        &state,
        "bob",
        &["--approve", &id, "--reason", "ok per policy"],
    );
    assert_eq!(code(&approve), 0, "{}", stderr(&approve));
    assert!(
        !stdout(&approve).contains("alice"),
        "the approver is not shown the id"
    );
    let other = whois(&state, "carol", &["--reveal", &id]);
    assert_eq!(code(&other), 2);
    let reveal = whois(&state, "anna", &["--reveal", &id]);
    assert_eq!(code(&reveal), 0, "{}", stderr(&reveal));
    assert_eq!(stdout(&reveal).trim(), "alice");

    let outcomes: Vec<String> = audit_log(&state)
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "whois refused: four-eyes mode",
            "request requested",
            "approve refused: self-approval",
            "reveal refused",
            "approve approved",
            "reveal refused",
            "reveal revealed",
        ]
    );
}

#[test]
fn a_scan_purges_managed_outputs_past_retention_and_counts_them_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("outputs");
    let old = root.join("night-2026-01-01");
    let recent = root.join("night-2026-10-01");
    for (d, end) in [(&old, "2026-01-01"), (&recent, "2026-10-01")] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(
            d.join("summary.json"),
            format!(r#"{{"window": {{"start": "{end}", "end": "{end}", "days": 1}}}}"#),
        )
        .unwrap();
        std::fs::write(d.join("report.html"), "<html></html>").unwrap();
    }
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(
        &cfg,
        format!(
            "[scan]\nas_of = \"2026-10-15\"\nwindow = \"15d\"\nmin_last_day_share = 0.0\n[retention]\noutputs_root = {:?}\noutputs_days = 180\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let out = root.join("night-2026-10-15");
    let state = dir.path().join("state");
    let scan = scan_sample(
        &out,
        &state,
        &["--config", cfg.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(code(&scan), 0, "{}", stderr(&scan));
    // 180 days before 2026-10-15 is 2026-04-18: the January night goes, October stays.
    assert!(!old.exists(), "the old output directory is purged");
    assert!(recent.join("report.html").exists());
    assert!(
        out.join("report.html").exists(),
        "this night's outputs are kept"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let purged = &summary["privacy"]["purged"];
    assert_eq!(purged["output_dirs"], 1, "{summary}");
    assert_eq!(purged["output_files"], 2);
    assert_eq!(
        purged["alerts"], 0,
        "a first scan has nothing in the state to purge"
    );
    assert_eq!(summary["privacy"]["min_group_size"], 5);
}

/// Two people with alerts (with evidence), feedback, pseudonyms and audit entries.
fn two_people(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use goodhart::alerts::*;
    let state = dir.join("state");
    let outputs = dir.join("night");
    let mut store = StateStore::open(&state).unwrap();
    let d = chrono::NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
    let cand = |user: &str, cohort: &str| AlertCandidate {
        user_id: user.into(),
        cohort: cohort.into(),
        pattern: "prompt-loops".into(),
        severity: Severity::High,
        score: 91.0,
        window: Window { start: d, end: d },
        evidence: vec![Evidence {
            pattern: "prompt-loops".into(),
            feature: "loop_ratio".into(),
            value: 9.0,
            typical: 1.0,
            p95: 2.0,
            percentile: 99.0,
            sessions: vec![format!("sess-of-{user}")],
            text: format!("{user} re-sent one prompt 9 times"),
        }],
    };
    let policy = LifecyclePolicy::default();
    let r = store
        .reconcile(
            &[cand("alice", "team-a"), cand("bob", "team-b")],
            d,
            &policy,
        )
        .unwrap();
    write_jsonl(outputs.join("alerts.jsonl"), &r.alerts).unwrap();
    for (user, note) in [
        ("alice", "alice note: confirmed"),
        ("bob", "bob note: fine"),
    ] {
        store
            .record_feedback(
                &fingerprint(user, "prompt-loops"),
                Verdict::Confirmed,
                note,
                d,
                &policy,
            )
            .unwrap();
        store
            .record_pseudonym(&pseudonym(b"k", user), user)
            .unwrap();
    }
    let actor = Actor {
        name: "dpo".into(),
        os_user: "dpo".into(),
    };
    for user in ["alice", "bob"] {
        store
            .reidentify(
                &pseudonym(b"k", user),
                &format!("case about {user}"),
                &actor,
                false,
                chrono::Utc::now(),
            )
            .unwrap();
    }
    (state, outputs)
}

#[test]
fn subject_report_holds_everything_about_one_person_and_nothing_about_another() {
    let dir = tempfile::tempdir().unwrap();
    let (state, outputs) = two_people(dir.path());
    let file = dir.path().join("alice.json");
    let out = run(goodhart()
        .args(["subject-report", "alice", "--state"])
        .arg(&state)
        .arg("--outputs")
        .arg(&outputs)
        .arg("--out")
        .arg(&file));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let alice_p = goodhart::alerts::pseudonym(b"k", "alice");
    let s = &v["held_in_state"];
    assert_eq!(v["user_id"], "alice");
    assert_eq!(s["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(s["alerts"][0]["user_id"], "alice");
    assert_eq!(s["feedback"][0]["note"], "alice note: confirmed");
    assert_eq!(s["pseudonyms"], serde_json::json!([alice_p]));
    assert_eq!(s["audit_entries"].as_array().unwrap().len(), 1);
    assert_eq!(s["audit_entries"][0]["reason"], "case about alice");
    let night = &v["scan_outputs"][0];
    assert_eq!(night["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(
        night["alerts"][0]["evidence"][0]["sessions"],
        serde_json::json!(["sess-of-alice"]),
        "alerts come with their evidence"
    );
    // Nothing about bob: not his id, pseudonym, fingerprint, note, sessions or audit entry.
    let bob_p = goodhart::alerts::pseudonym(b"k", "bob");
    let bob_fp = goodhart::alerts::fingerprint("bob", "prompt-loops");
    for needle in ["bob", bob_p.as_str(), bob_fp.as_str(), "team-b"] {
        assert!(
            !text.contains(needle),
            "the report on alice mentions {needle}: {text}"
        );
    }
    // Without --out it goes to stdout; an unknown state is refused, not created.
    let o = run(goodhart()
        .args(["subject-report", "bob", "--state"])
        .arg(&state));
    assert!(stdout(&o).contains("bob note: fine") && !stdout(&o).contains("alice"));
    let missing = dir.path().join("none");
    let o = run(goodhart()
        .args(["subject-report", "bob", "--state"])
        .arg(&missing));
    assert_eq!(code(&o), 2);
    assert!(!missing.exists());
}
