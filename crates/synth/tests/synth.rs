//! End-to-end tests of the synthetic organisation: determinism, layout,
//! schema, labels and realism, all read back from the written Parquet files.

#![allow(clippy::needless_range_loop)] // parallel columns are indexed by row

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit};
use goodhart_synth::{generate, Archetype, SynthConfig, TeamSpec};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, Clone)]
struct Row {
    date: String,
    ts: i64,
    user: String,
    session: String,
    event: String,
    agent: Option<String>,
    parent: Option<String>,
    model: Option<String>,
    input: Option<i64>,
    output: Option<i64>,
    cache_read: Option<i64>,
    cache_write: Option<i64>,
    task: Option<String>,
    context: Option<String>,
    change: Option<String>,
    lines: Option<i64>,
    cost: Option<f64>,
}

impl Row {
    fn tokens(&self) -> i64 {
        self.input.unwrap_or(0)
            + self.output.unwrap_or(0)
            + self.cache_read.unwrap_or(0)
            + self.cache_write.unwrap_or(0)
    }
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
    let s = a.as_string::<i32>();
    (0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(name).unwrap().as_primitive::<Int64Type>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn event_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir.join("events"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let date = name
                .strip_prefix("date=")
                .expect("partition dir")
                .to_string();
            let files: Vec<_> = std::fs::read_dir(e.path()).unwrap().collect();
            assert_eq!(files.len(), 1, "one file per partition");
            (date, e.path().join("part-0.parquet"))
        })
        .collect();
    v.sort();
    v
}

fn read_events(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for (date, path) in event_files(dir) {
        for b in read_batches(&path) {
            let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let cols: Vec<Vec<Option<String>>> = [
                "user_id",
                "session_id",
                "event",
                "agent_id",
                "parent_agent_id",
                "model",
                "task_hash",
                "context_hash",
                "change_id",
            ]
            .iter()
            .map(|n| strs(&b, n))
            .collect();
            let nums: Vec<Vec<Option<i64>>> = [
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "lines",
            ]
            .iter()
            .map(|n| ints(&b, n))
            .collect();
            let cost = b
                .column_by_name("cost_usd")
                .unwrap()
                .as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                rows.push(Row {
                    date: date.clone(),
                    ts: ts.value(i),
                    user: cols[0][i].clone().unwrap(),
                    session: cols[1][i].clone().unwrap(),
                    event: cols[2][i].clone().unwrap(),
                    agent: cols[3][i].clone(),
                    parent: cols[4][i].clone(),
                    model: cols[5][i].clone(),
                    task: cols[6][i].clone(),
                    context: cols[7][i].clone(),
                    change: cols[8][i].clone(),
                    input: nums[0][i],
                    output: nums[1][i],
                    cache_read: nums[2][i],
                    cache_write: nums[3][i],
                    lines: nums[4][i],
                    cost: cost.is_valid(i).then(|| cost.value(i)),
                });
            }
        }
    }
    rows
}

/// user -> (archetype, is_gaming)
fn read_labels(dir: &Path) -> BTreeMap<String, (String, bool)> {
    let mut m = BTreeMap::new();
    for b in read_batches(&dir.join("labels.parquet")) {
        let u = strs(&b, "user_id");
        let a = strs(&b, "archetype");
        let g = b.column_by_name("is_gaming").unwrap().as_boolean().clone();
        for i in 0..b.num_rows() {
            m.insert(u[i].clone().unwrap(), (a[i].clone().unwrap(), g.value(i)));
        }
    }
    m
}

/// session -> (user, is_gaming)
fn read_session_labels(dir: &Path) -> BTreeMap<String, (String, bool)> {
    let mut m = BTreeMap::new();
    for b in read_batches(&dir.join("session_labels.parquet")) {
        let s = strs(&b, "session_id");
        let u = strs(&b, "user_id");
        let g = b.column_by_name("is_gaming").unwrap().as_boolean().clone();
        for i in 0..b.num_rows() {
            let prev = m.insert(s[i].clone().unwrap(), (u[i].clone().unwrap(), g.value(i)));
            assert!(prev.is_none(), "session labelled twice");
        }
    }
    m
}

fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn gen_in_pool(cfg: &SynthConfig, threads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| generate(cfg, dir.path()))
        .unwrap();
    dir
}

#[test]
fn same_config_gives_identical_bytes_for_any_thread_count() {
    let mut cfg = SynthConfig::new(70, 7, 123);
    cfg.gaming_share = 0.1;
    cfg.max_row_group_rows = 2000;
    let a = gen_in_pool(&cfg, 1);
    let b = gen_in_pool(&cfg, 2);
    let c = gen_in_pool(&cfg, 3);
    let fa = all_files(a.path());
    assert!(fa.len() >= 10, "7+ partitions and 3 label files");
    assert_eq!(fa, all_files(b.path()));
    assert_eq!(fa, all_files(c.path()));

    cfg.seed = 124;
    let d = gen_in_pool(&cfg, 2);
    let fd = all_files(d.path());
    let first = |f: &[(PathBuf, Vec<u8>)]| {
        f.iter()
            .find(|(p, _)| p.to_string_lossy().contains("2026-10-01"))
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(first(&fa), first(&fd), "another seed gives other events");
}

#[test]
fn refuses_a_directory_that_already_has_events_and_bad_settings() {
    let cfg = SynthConfig::new(5, 2, 1);
    let dir = tempfile::tempdir().unwrap();
    generate(&cfg, dir.path()).unwrap();
    let e = generate(&cfg, dir.path()).unwrap_err().to_string();
    assert!(e.contains("already contains events"), "{e}");
    let mut bad = cfg.clone();
    bad.intensity = f64::NAN;
    let d2 = tempfile::tempdir().unwrap();
    let e = generate(&bad, d2.path()).unwrap_err().to_string();
    assert!(e.contains("intensity"), "{e}");
    assert!(
        !d2.path().join("events").exists(),
        "nothing written on a bad config"
    );
}

#[test]
fn schema_of_written_files() {
    let cfg = SynthConfig::new(20, 2, 5);
    let dir = tempfile::tempdir().unwrap();
    generate(&cfg, dir.path()).unwrap();
    let (_, path) = &event_files(dir.path())[0];
    let b = &read_batches(path)[0];
    let s = b.schema();
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let expect: Vec<(&str, DataType)> = vec![
        (
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        ("user_id", dict.clone()),
        ("session_id", dict.clone()),
        ("event", dict),
        ("agent_id", DataType::Utf8),
        ("parent_agent_id", DataType::Utf8),
        ("model", DataType::Utf8),
        ("input_tokens", DataType::Int64),
        ("output_tokens", DataType::Int64),
        ("cache_read_tokens", DataType::Int64),
        ("cache_write_tokens", DataType::Int64),
        ("task_hash", DataType::Utf8),
        ("context_hash", DataType::Utf8),
        ("change_id", DataType::Utf8),
        ("lines", DataType::Int64),
        ("cost_usd", DataType::Float64),
    ];
    let got: Vec<(&str, DataType)> = s
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone()))
        .collect();
    assert_eq!(got, expect);
    assert_eq!(s.as_ref(), &goodhart_synth::events_schema());

    let users = &read_batches(&dir.path().join("users.parquet"))[0];
    let us = users.schema();
    assert_eq!(
        us.fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type().clone()))
            .collect::<Vec<_>>(),
        vec![
            ("user_id", DataType::Utf8),
            ("team", DataType::Utf8),
            ("role", DataType::Utf8),
            ("start_date", DataType::Date32),
        ]
    );
    assert_eq!(users.num_rows(), 20);
    let labels = &read_batches(&dir.path().join("labels.parquet"))[0];
    assert_eq!(labels.schema().field(2).data_type(), &DataType::Boolean);
    let sl = &read_batches(&dir.path().join("session_labels.parquet"))[0];
    assert_eq!(
        sl.schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        vec!["session_id", "user_id", "is_gaming"]
    );
}

#[test]
fn partitions_row_groups_and_sort_order() {
    let mut cfg = SynthConfig::new(60, 7, 77);
    cfg.max_row_group_rows = 500;
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&cfg, dir.path()).unwrap();
    let files = event_files(dir.path());
    // Seven days from 2026-10-01, possibly plus the day after (midnight crossers).
    assert!(files.len() == 7 || files.len() == 8, "{}", files.len());
    assert_eq!(files[0].0, "2026-10-01");
    assert_eq!(files[6].0, "2026-10-07");
    if files.len() == 8 {
        assert_eq!(files[7].0, "2026-10-08");
    }
    let mut total = 0;
    let mut multi_group = 0;
    for (date, path) in &files {
        let f = std::fs::File::open(path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let md = builder.metadata().clone();
        let rows: i64 = md.row_groups().iter().map(|g| g.num_rows()).sum();
        assert!(md.row_groups().iter().all(|g| g.num_rows() <= 500));
        if md.num_row_groups() > 1 {
            multi_group += 1;
        }
        total += rows as u64;
        // Every event in its own date's partition, sorted by (ts, session).
        let mut prev: Option<(i64, String)> = None;
        for b in builder.build().unwrap() {
            let b = b.unwrap();
            let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let sess = strs(&b, "session_id");
            for i in 0..b.num_rows() {
                let t = ts.value(i);
                let d = chrono::DateTime::from_timestamp_micros(t)
                    .unwrap()
                    .date_naive();
                assert_eq!(d.format("%Y-%m-%d").to_string(), *date);
                let key = (t, sess[i].clone().unwrap());
                if let Some(p) = &prev {
                    assert!(*p <= key, "rows sorted by (ts, session)");
                }
                prev = Some(key);
            }
        }
    }
    assert!(multi_group >= 3, "weekday files exceed 500 rows");
    assert_eq!(total, summary.events);

    // Sessions crossing midnight exist and keep one id across partitions.
    let rows = read_events(dir.path());
    let mut dates: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for r in &rows {
        dates.entry(&r.session).or_default().insert(&r.date);
    }
    assert!(
        dates.values().any(|d| d.len() == 2),
        "some session spans midnight"
    );
    assert!(dates.values().all(|d| d.len() <= 2));
}

#[test]
fn labels_are_consistent_with_events_and_config() {
    let mut cfg = SynthConfig::new(150, 7, 3);
    cfg.gaming_share = 0.1;
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&cfg, dir.path()).unwrap();
    let labels = read_labels(dir.path());
    let rows = read_events(dir.path());
    let sessions = read_session_labels(dir.path());

    // 15 gaming people: 3,2,2,2,2,2,2 over the seven gaming archetypes.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (a, g) in labels.values() {
        assert_eq!(*g, Archetype::parse(a).unwrap().is_gaming());
        *counts.entry(a.clone()).or_default() += 1;
    }
    assert_eq!(counts["agent_spammer"], 3);
    assert_eq!(counts["subtle"], 2);
    assert_eq!(labels.values().filter(|l| l.1).count(), 15);
    for (a, n) in cfg.archetype_counts().unwrap() {
        assert_eq!(counts.get(a.as_str()).copied().unwrap_or(0), n, "{a}");
    }
    assert_eq!(summary.archetypes, cfg.archetype_counts().unwrap());
    assert_eq!(summary.gaming_users, 15);

    // Every labelled person appears, and nobody else.
    let users: BTreeSet<&str> = rows.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users, labels.keys().map(|s| s.as_str()).collect());
    assert_eq!(labels.keys().next().unwrap(), "u-00000");

    // Session labels cover exactly the sessions in the events, same owner.
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for r in &rows {
        let o = owner.entry(&r.session).or_insert(&r.user);
        assert_eq!(*o, r.user, "a session has one user");
    }
    assert_eq!(owner.len(), sessions.len());
    assert_eq!(summary.sessions, sessions.len());
    for (s, (u, g)) in &sessions {
        assert_eq!(owner[s.as_str()], u);
        if *g {
            assert!(labels[u].1, "gaming session of a non-gaming person");
        }
    }
    assert_eq!(
        summary.gaming_sessions,
        sessions.values().filter(|v| v.1).count()
    );
    assert!(summary.gaming_sessions > 20);

    // The roster: new hires start inside the window and have no earlier events.
    let users_b = &read_batches(&dir.path().join("users.parquet"))[0];
    let ids = strs(users_b, "user_id");
    let sd = users_b
        .column_by_name("start_date")
        .unwrap()
        .as_primitive::<Date32Type>();
    let mut first_date: HashMap<&str, &str> = HashMap::new();
    for r in &rows {
        let e = first_date.entry(&r.user).or_insert(&r.date);
        if r.date.as_str() < *e {
            *e = &r.date;
        }
    }
    let mut hires = 0;
    for i in 0..users_b.num_rows() {
        let id = ids[i].clone().unwrap();
        if labels[&id].0 == "new_hire" {
            hires += 1;
            let d = sd.value_as_date(i).unwrap();
            assert!(d > cfg.start && d < cfg.start + chrono::Days::new(7));
            assert!(first_date[id.as_str()] >= d.format("%Y-%m-%d").to_string().as_str());
        }
    }
    assert!(hires >= 5);
}

#[test]
fn zero_gaming_share_means_no_gaming_at_all() {
    let mut cfg = SynthConfig::new(120, 7, 9);
    cfg.gaming_share = 0.0;
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&cfg, dir.path()).unwrap();
    assert_eq!(s.gaming_users, 0);
    assert_eq!(s.gaming_sessions, 0);
    assert!(read_labels(dir.path()).values().all(|l| !l.1));
    assert!(read_session_labels(dir.path()).values().all(|l| !l.1));
    // Without gaming, nobody spawns one task 8+ times in a session and no
    // context_load is paid as uncached input.
    let rows = read_events(dir.path());
    let mut spawns: HashMap<(&str, &str), u32> = HashMap::new();
    for r in &rows {
        if r.event == "agent_spawn" {
            *spawns
                .entry((&r.session, r.task.as_deref().unwrap()))
                .or_default() += 1;
        }
        if r.event == "context_load" {
            assert_eq!(r.input, Some(0));
        }
    }
    assert!(
        spawns.values().all(|n| *n < 8),
        "{:?}",
        spawns.values().max()
    );
}

#[test]
fn team_override_changes_the_mix() {
    let mut cfg = SynthConfig::new(40, 3, 2);
    let mut a = TeamSpec::new("alpha", 3.0);
    a.volume = 2.0;
    cfg.teams = vec![a, TeamSpec::new("beta", 1.0)];
    let dir = tempfile::tempdir().unwrap();
    generate(&cfg, dir.path()).unwrap();
    let b = &read_batches(&dir.path().join("users.parquet"))[0];
    let teams = strs(b, "team");
    let alpha = teams
        .iter()
        .filter(|t| t.as_deref() == Some("alpha"))
        .count();
    assert_eq!(alpha, 30);
    assert_eq!(teams.len() - alpha, 10);
}

// ---------------------------------------------------------------- realism

struct Org {
    cfg: SynthConfig,
    rows: Vec<Row>,
    labels: BTreeMap<String, (String, bool)>,
    sessions: BTreeMap<String, (String, bool)>,
    teams: HashMap<String, String>,
}

fn org() -> &'static Org {
    static ORG: OnceLock<Org> = OnceLock::new();
    ORG.get_or_init(|| {
        let mut cfg = SynthConfig::new(300, 14, 2024);
        cfg.gaming_share = 0.1;
        let dir = tempfile::tempdir().unwrap();
        generate(&cfg, dir.path()).unwrap();
        let b = &read_batches(&dir.path().join("users.parquet"))[0];
        let teams = strs(b, "user_id")
            .into_iter()
            .zip(strs(b, "team"))
            .map(|(u, t)| (u.unwrap(), t.unwrap()))
            .collect();
        Org {
            rows: read_events(dir.path()),
            labels: read_labels(dir.path()),
            sessions: read_session_labels(dir.path()),
            teams,
            cfg,
        }
    })
}

impl Org {
    fn arch(&self, user: &str) -> &str {
        &self.labels[user].0
    }
    /// The users of archetype `a`, never empty: the realism tests below fold
    /// over these lists (`all`, minimum from infinity), which would pass on an
    /// archetype the organisation lacks. Caught when the generator's plan was
    /// made to leave out the context reloaders (the old reloader test's loops
    /// then had nothing to check).
    fn users_of(&self, a: &str) -> Vec<&str> {
        let users: Vec<&str> = self
            .labels
            .iter()
            .filter(|(_, l)| l.0 == a)
            .map(|(u, _)| u.as_str())
            .collect();
        assert!(!users.is_empty(), "the test organisation has no {a} user");
        users
    }
    /// Per user: sum of f over rows.
    fn per_user(&self, f: impl Fn(&Row) -> f64) -> HashMap<&str, f64> {
        let mut m: HashMap<&str, f64> = HashMap::new();
        for r in &self.rows {
            *m.entry(&r.user).or_default() += f(r);
        }
        m
    }
}

fn sum_over(m: &HashMap<&str, f64>, users: &[&str]) -> f64 {
    users.iter().map(|u| m.get(u).copied().unwrap_or(0.0)).sum()
}

#[test]
fn volume_is_about_sixty_events_per_user_day() {
    let o = org();
    let per_day = o.rows.len() as f64 / (o.cfg.users as f64 * o.cfg.days as f64);
    assert!((40.0..90.0).contains(&per_day), "{per_day}");
}

#[test]
fn power_users_ship_proportionally_more() {
    let o = org();
    let tokens = o.per_user(|r| r.tokens() as f64);
    let accepted = o.per_user(|r| f64::from(u8::from(r.event == "change_accepted")));
    let power = o.users_of("power");
    let regular = o.users_of("regular");
    let eff = |us: &[&str]| sum_over(&accepted, us) / sum_over(&tokens, us);
    let ratio = eff(&power) / eff(&regular);
    assert!(
        (1.0 / 1.5..1.5).contains(&ratio),
        "accepted/token power vs regular {ratio}"
    );
    // ... while using 3-5x the tokens per person.
    let vol = (sum_over(&tokens, &power) / power.len() as f64)
        / (sum_over(&tokens, &regular) / regular.len() as f64);
    assert!((2.5..6.0).contains(&vol), "{vol}");
}

/// Per session: spawns minus distinct spawn tasks (repeated spawns).
fn repeated_spawns(o: &Org) -> HashMap<&str, (&str, u32)> {
    let mut per: HashMap<&str, (&str, Vec<&str>)> = HashMap::new();
    for r in o.rows.iter().filter(|r| r.event == "agent_spawn") {
        per.entry(&r.session)
            .or_insert((&r.user, Vec::new()))
            .1
            .push(r.task.as_deref().unwrap());
    }
    per.into_iter()
        .map(|(s, (u, mut v))| {
            let n = v.len();
            v.sort_unstable();
            v.dedup();
            (s, (u, (n - v.len()) as u32))
        })
        .collect()
}

#[test]
fn agent_spammers_repeat_spawn_tasks_more_than_anyone() {
    let o = org();
    let rep = repeated_spawns(o);
    let mut per_user: HashMap<&str, u32> = HashMap::new();
    for (u, n) in rep.values() {
        *per_user.entry(u).or_default() += n;
    }
    let sessions_per_user = {
        let mut m: HashMap<&str, u32> = HashMap::new();
        for (u, _) in o.sessions.values() {
            *m.entry(u.as_str()).or_default() += 1;
        }
        m
    };
    let rate = |u: &str| {
        f64::from(per_user.get(u).copied().unwrap_or(0)) / f64::from(sessions_per_user[u])
    };
    let spam_min = o
        .users_of("agent_spammer")
        .iter()
        .map(|u| rate(u))
        .fold(f64::INFINITY, f64::min);
    let others_max = o
        .labels
        .keys()
        .filter(|u| o.arch(u) != "agent_spammer" && o.arch(u) != "leaderboard_sprinter")
        .filter(|u| o.arch(u) != "subtle")
        .map(|u| rate(u))
        .fold(0.0, f64::max);
    assert!(spam_min > 2.0, "{spam_min}");
    assert!(
        spam_min > 3.0 * others_max,
        "spammer {spam_min} vs others {others_max}"
    );
    // Spammed agents (the spammer's one favourite task) never produce a change.
    for u in o.users_of("agent_spammer") {
        let mut tasks: HashMap<&str, u32> = HashMap::new();
        for r in o
            .rows
            .iter()
            .filter(|r| r.user == u && r.event == "agent_spawn")
        {
            *tasks.entry(r.task.as_deref().unwrap()).or_default() += 1;
        }
        let fav = tasks.iter().max_by_key(|(t, n)| (**n, **t)).unwrap().0;
        let agents: HashSet<&str> = o
            .rows
            .iter()
            .filter(|r| r.user == u && r.event == "agent_spawn" && r.task.as_deref() == Some(fav))
            .map(|r| r.agent.as_deref().unwrap())
            .collect();
        assert!(agents.len() >= 10);
        assert!(!o.rows.iter().any(|r| r.event.starts_with("change_")
            && r.agent.as_deref().is_some_and(|a| agents.contains(a))));
    }
}

#[test]
fn team_standard_agents_and_common_prompts_repeat_across_users() {
    let o = org();
    let mut spawn_users: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut prompt_users: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in &o.rows {
        if o.labels[&r.user].1 {
            continue;
        }
        match r.event.as_str() {
            "agent_spawn" => spawn_users.entry(r.task.as_deref().unwrap()).or_default(),
            "request" => prompt_users.entry(r.task.as_deref().unwrap()).or_default(),
            _ => continue,
        }
        .insert(&r.user);
    }
    // 16 team-standard agents (4+3+3+2+4), each spawned by several people.
    let shared_spawns = spawn_users.values().filter(|s| s.len() >= 5).count();
    assert!((10..=16).contains(&shared_spawns), "{shared_spawns}");
    // The 10 common prompts are used by most people.
    let common = prompt_users
        .values()
        .filter(|s| s.len() * 2 >= o.labels.len())
        .count();
    assert_eq!(common, 10);
    // Every hash is 16 lowercase hex characters.
    for r in o.rows.iter().take(5000) {
        for h in [&r.task, &r.context].into_iter().flatten() {
            assert_eq!(h.len(), 16);
            assert!(h
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }
}

#[test]
fn weekends_are_much_lighter() {
    let o = org();
    let mut per_date: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &o.rows {
        *per_date.entry(&r.date).or_default() += 1;
    }
    // 2026-10-03/04 and 10/11 are weekends; Saturday mornings still get some
    // midnight crossers from Friday.
    let weekend = ["2026-10-04", "2026-10-11"];
    let weekday = ["2026-10-06", "2026-10-07", "2026-10-13"];
    let we: usize = weekend.iter().map(|d| per_date[d]).sum();
    let wd: usize = weekday.iter().map(|d| per_date[d]).sum();
    let ratio = (we as f64 / 2.0) / (wd as f64 / 3.0);
    assert!(ratio < 0.25, "weekend/weekday {ratio}");
    assert!(ratio > 0.02, "weekends are not empty: {ratio}");
}

#[test]
fn teams_differ_in_volume() {
    let o = org();
    let events = o.per_user(|_| 1.0);
    let per_team = |t: &str| {
        let us: Vec<&str> = o
            .users_of("regular")
            .into_iter()
            .filter(|u| o.teams[*u] == t)
            .collect();
        sum_over(&events, &us) / us.len() as f64
    };
    let ratio = per_team("ml") / per_team("mobile");
    assert!((1.8..4.5).contains(&ratio), "ml/mobile {ratio}");
}

#[test]
fn most_input_is_served_from_cache_and_pauses_expire_it() {
    let o = org();
    let (mut read, mut fresh, mut expired, mut warm) = (0i64, 0i64, 0, 0);
    for r in o
        .rows
        .iter()
        .filter(|r| r.event == "request" && o.arch(&r.user) == "regular")
    {
        read += r.cache_read.unwrap();
        fresh += r.input.unwrap() + r.cache_write.unwrap();
        if r.cache_read == Some(0) {
            expired += 1;
        } else {
            warm += 1;
        }
        assert!((200..=3000).contains(&r.input.unwrap()) || r.agent.is_some());
        if r.model.is_some() {
            assert!(r.cost.unwrap() > 0.0);
        } else {
            assert!(r.cost.is_none());
        }
    }
    assert!(read > 5 * fresh, "cache read {read} vs fresh {fresh}");
    // Cold starts and cache expiries happen, but most requests are warm.
    assert!(
        expired * 5 < warm && expired * 50 > warm,
        "{expired} / {warm}"
    );
}

#[test]
fn context_reloaders_pay_uncached_reloads_of_one_context() {
    let o = org();
    let uncached = o.per_user(|r| {
        if r.event == "context_load" {
            r.input.unwrap() as f64
        } else {
            0.0
        }
    });
    for u in o.users_of("context_reloader") {
        assert!(uncached[u] > 1e6, "{u} {}", uncached[u]);
    }
    for u in o.labels.keys().filter(|u| !o.labels[*u].1) {
        assert_eq!(uncached.get(u.as_str()).copied().unwrap_or(0.0), 0.0);
    }
    // In their gaming sessions one context_hash is loaded >= 2 times.
    let mut per: HashMap<(&str, &str), u32> = HashMap::new();
    for r in o.rows.iter().filter(|r| r.event == "context_load") {
        if o.arch(&r.user) == "context_reloader" {
            *per.entry((&r.session, r.context.as_deref().unwrap()))
                .or_default() += 1;
        }
    }
    let mut gaming_sessions = 0;
    for (s, (u, g)) in &o.sessions {
        if *g && o.arch(u) == "context_reloader" {
            gaming_sessions += 1;
            let max = per
                .iter()
                .filter(|((ss, _), _)| ss == s)
                .map(|(_, n)| *n)
                .max()
                .unwrap();
            assert!(max >= 2);
        }
    }
    assert!(
        gaming_sessions >= 5,
        "{gaming_sessions} reloader gaming sessions"
    );
}

/// Per session: the longest run of one *non-common* task hash among the
/// main agent's requests (common prompts = used by at least 30% of people).
fn longest_task_run(o: &Org) -> HashMap<&str, usize> {
    let mut users_of_task: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in o.rows.iter().filter(|r| r.event == "request") {
        users_of_task
            .entry(r.task.as_deref().unwrap())
            .or_default()
            .insert(&r.user);
    }
    let common: HashSet<&str> = users_of_task
        .iter()
        .filter(|(_, us)| us.len() * 10 >= o.labels.len() * 3)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(common.len(), 10);
    let mut per: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for r in o
        .rows
        .iter()
        .filter(|r| r.event == "request" && r.agent.is_none())
    {
        per.entry(&r.session)
            .or_default()
            .push((r.ts, r.task.as_deref().unwrap()));
    }
    per.into_iter()
        .map(|(s, mut v)| {
            v.sort();
            let (mut best, mut run) = (0, 0);
            for (i, (_, t)) in v.iter().enumerate() {
                if common.contains(t) {
                    run = 0;
                    continue;
                }
                run = if i > 0 && v[i - 1].1 == *t {
                    run + 1
                } else {
                    1
                };
                best = best.max(run);
            }
            (s, best)
        })
        .collect()
}

#[test]
fn prompt_loopers_have_long_runs_of_one_prompt() {
    let o = org();
    let runs = longest_task_run(o);
    let mut looper_sessions = 0;
    for (s, (u, g)) in &o.sessions {
        let run = runs.get(s.as_str()).copied().unwrap_or(0);
        if o.arch(u) == "prompt_looper" && *g {
            looper_sessions += 1;
            // The loop itself, plus possibly the main request before it.
            assert!(run >= 4, "{s} {run}");
        }
        if !o.labels[u].1 {
            // Honest people repeat a (non-common) prompt only to retry once.
            assert!(run <= 2, "{s} {run}");
        }
    }
    assert!(looper_sessions >= 10);
}

#[test]
fn verbose_burners_output_far_more_per_request_without_more_changes() {
    let o = org();
    let out = o.per_user(|r| {
        if r.event == "request" && r.agent.is_none() {
            r.output.unwrap() as f64
        } else {
            0.0
        }
    });
    let reqs = o.per_user(|r| f64::from(u8::from(r.event == "request" && r.agent.is_none())));
    let acc = o.per_user(|r| f64::from(u8::from(r.event == "change_accepted")));
    let sessions = {
        let mut m: HashMap<&str, f64> = HashMap::new();
        for (u, _) in o.sessions.values() {
            *m.entry(u.as_str()).or_default() += 1.0;
        }
        m
    };
    let vb = o.users_of("verbose_burner");
    let reg = o.users_of("regular");
    let per_req = |us: &[&str]| sum_over(&out, us) / sum_over(&reqs, us);
    assert!(
        per_req(&vb) > 4.0 * per_req(&reg),
        "{} vs {}",
        per_req(&vb),
        per_req(&reg)
    );
    let per_sess = |us: &[&str]| sum_over(&acc, us) / sum_over(&sessions, us);
    assert!(per_sess(&vb) < 1.5 * per_sess(&reg));
}

#[test]
fn change_padders_make_many_tiny_changes_and_revert_many() {
    let o = org();
    let tiny = o.per_user(|r| {
        f64::from(u8::from(
            r.event == "change_accepted" && r.lines.unwrap() <= 3,
        ))
    });
    let acc = o.per_user(|r| f64::from(u8::from(r.event == "change_accepted")));
    let rev = o.per_user(|r| f64::from(u8::from(r.event == "change_reverted")));
    let pad = o.users_of("change_padder");
    let reg = o.users_of("regular");
    assert_eq!(sum_over(&tiny, &reg), 0.0, "honest changes are >= 5 lines");
    assert!(sum_over(&tiny, &pad) > 0.5 * sum_over(&acc, &pad));
    let rev_rate = |us: &[&str]| sum_over(&rev, us) / sum_over(&acc, us);
    assert!(
        rev_rate(&pad) > 4.0 * rev_rate(&reg),
        "{} {}",
        rev_rate(&pad),
        rev_rate(&reg)
    );
    // Tokens per accepted change stay in the normal range (within 3x).
    let tok = o.per_user(|r| r.tokens() as f64);
    let tpc = |us: &[&str]| sum_over(&tok, us) / sum_over(&acc, us);
    let ratio = tpc(&pad) / tpc(&reg);
    assert!((1.0 / 3.0..3.0).contains(&ratio), "{ratio}");
    // Every revert refers to an accepted change of the same session.
    let accepted: HashSet<(&str, &str)> = o
        .rows
        .iter()
        .filter(|r| r.event == "change_accepted")
        .map(|r| (r.session.as_str(), r.change.as_deref().unwrap()))
        .collect();
    for r in o.rows.iter().filter(|r| r.event == "change_reverted") {
        assert!(accepted.contains(&(r.session.as_str(), r.change.as_deref().unwrap())));
    }
}

fn in_window(ts: i64) -> bool {
    let dt = chrono::DateTime::from_timestamp_micros(ts).unwrap();
    use chrono::{Datelike, Timelike};
    let m = dt.weekday().num_days_from_monday() as i64 * 1440
        + dt.hour() as i64 * 60
        + dt.minute() as i64;
    (2 * 1440 + 17 * 60..4 * 1440 + 17 * 60).contains(&m)
}

#[test]
fn sprinters_waste_only_before_the_snapshot() {
    let o = org();
    let mut start: HashMap<&str, i64> = HashMap::new();
    for r in &o.rows {
        let e = start.entry(&r.session).or_insert(r.ts);
        *e = (*e).min(r.ts);
    }
    let (mut inside, mut outside) = (0, 0);
    for (s, (u, g)) in &o.sessions {
        if o.arch(u) == "leaderboard_sprinter" {
            let w = in_window(start[s.as_str()]);
            if *g {
                assert!(w, "gaming sprinter session outside the window");
                inside += 1;
            } else if !w {
                outside += 1;
            }
        }
    }
    assert!(inside >= 5 && outside >= 5, "{inside} {outside}");
}

#[test]
fn incident_and_migration_days_look_busy_but_honest() {
    let o = org();
    // Incident people: one day with many distinct contexts.
    let mut ctx_per_day: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
    for r in o.rows.iter().filter(|r| r.event == "context_load") {
        ctx_per_day
            .entry((&r.user, &r.date))
            .or_default()
            .insert(r.context.as_deref().unwrap());
    }
    let max_day = |u: &str| {
        ctx_per_day
            .iter()
            .filter(|((uu, _), _)| *uu == u)
            .map(|(_, s)| s.len())
            .max()
            .unwrap_or(0)
    };
    let inc: Vec<usize> = o.users_of("incident").iter().map(|u| max_day(u)).collect();
    let reg_max: Vec<usize> = o.users_of("regular").iter().map(|u| max_day(u)).collect();
    let reg_median = {
        let mut v = reg_max.clone();
        v.sort();
        v[v.len() / 2]
    };
    assert!(
        inc.iter().all(|n| *n > 3 * reg_median),
        "{inc:?} vs {reg_median}"
    );
    // Migration people spawn many distinct agents and get many changes accepted.
    let spawns = o.per_user(|r| f64::from(u8::from(r.event == "agent_spawn")));
    let acc = o.per_user(|r| f64::from(u8::from(r.event == "change_accepted")));
    let mig = o.users_of("migration");
    let reg = o.users_of("regular");
    let per = |m: &HashMap<&str, f64>, us: &[&str]| sum_over(m, us) / us.len() as f64;
    assert!(per(&spawns, &mig) > 4.0 * per(&spawns, &reg));
    assert!(per(&acc, &mig) > 2.0 * per(&acc, &reg));
    // ... with few repeated spawn tasks.
    let rep = repeated_spawns(o);
    let mig_rep: u32 = rep
        .values()
        .filter(|(u, _)| o.arch(u) == "migration")
        .map(|p| p.1)
        .sum();
    assert!(f64::from(mig_rep) < 0.05 * sum_over(&spawns, &mig));
}

#[test]
fn new_hires_read_more_and_change_less_in_their_first_week() {
    let o = org();
    let loads = o.per_user(|r| f64::from(u8::from(r.event == "context_load")));
    let reqs = o.per_user(|r| f64::from(u8::from(r.event == "request")));
    let acc = o.per_user(|r| f64::from(u8::from(r.event == "change_accepted")));
    let nh = o.users_of("new_hire");
    let reg = o.users_of("regular");
    let r = |m: &HashMap<&str, f64>, us: &[&str]| sum_over(m, us) / sum_over(&reqs, us);
    assert!(r(&loads, &nh) > 1.8 * r(&loads, &reg));
    assert!(r(&acc, &nh) < 0.8 * r(&acc, &reg));
}

#[test]
fn sub_agent_structure_is_well_formed() {
    let o = org();
    // Every agent that makes a request or a change was spawned earlier in its
    // session, and every parent is an agent of the same session.
    let mut spawned: HashMap<&str, (i64, &str)> = HashMap::new();
    for r in o.rows.iter().filter(|r| r.event == "agent_spawn") {
        let a = r.agent.as_deref().unwrap();
        assert!(
            spawned.insert(a, (r.ts, &r.session)).is_none(),
            "agent spawned twice"
        );
    }
    for r in &o.rows {
        if let Some(a) = &r.agent {
            let (t, s) = spawned[a.as_str()];
            assert!(t <= r.ts && s == r.session);
        }
        if let Some(p) = &r.parent {
            assert_eq!(r.event, "agent_spawn");
            assert_eq!(spawned[p.as_str()].1, r.session);
        }
        match r.event.as_str() {
            "request" | "context_load" => assert!(r.input.is_some() && r.cache_read.is_some()),
            _ => assert!(r.input.is_none() && r.cost.is_none() && r.model.is_none()),
        }
        if r.event.starts_with("change_") {
            assert!(r.change.is_some() && r.lines.is_some());
        }
    }
    let nested = o.rows.iter().filter(|r| r.parent.is_some()).count();
    assert!(nested > 10);
}
