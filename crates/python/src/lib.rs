//! `goodhart._goodhart`: the native half of goodhart's Python package.
//!
//! A thin layer over the `goodhart` facade (no pipeline code here): Python
//! arguments are resolved the way the CLI resolves its options, the work runs
//! with the GIL released, and tables cross the boundary through the Arrow C
//! stream interface ([`arrow_ffi`]). The public, documented API is the pure
//! Python package around it (`crates/python/python/goodhart`).
#![deny(missing_docs)]

mod arrow_ffi;

use std::path::PathBuf;
use std::sync::Mutex;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use chrono::Utc;
use goodhart::pipeline::{Analysis, Events, Pipeline};
use goodhart::scan::{Dataset, Window};
use goodhart::{Config, Error, LoadedConfig};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use arrow_ffi::{import_stream, ArrowStream};

/// Turns a facade error into the package's exceptions (`goodhart.errors`):
/// `InputError` (a `GoodhartError` and a `ValueError`) when the CLI would exit
/// 2, `GoodhartError` otherwise. The message is the CLI's (`error: …` less the
/// prefix): the error and its causes joined by `: `.
fn to_py_err(py: Python<'_>, e: Error, interrupted: &Mutex<Option<PyErr>>) -> PyErr {
    if matches!(e, Error::Interrupted) {
        if let Some(err) = interrupted.lock().ok().and_then(|mut g| g.take()) {
            return err;
        }
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    let class = if e.is_user_error() {
        "InputError"
    } else {
        "GoodhartError"
    };
    match py
        .import("goodhart.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)))
    {
        Ok(v) => PyErr::from_value(v),
        Err(_) => PyRuntimeError::new_err(msg),
    }
}

/// An input error raised before any work (bad argument value).
fn input_error(py: Python<'_>, msg: String) -> PyErr {
    to_py_err(
        py,
        Error::Config {
            file: "arguments".to_string(),
            message: msg,
        },
        &Mutex::new(None),
    )
}

/// Runs `f` with the GIL released. `f` gets a cancel check that re-attaches
/// to run Python's signal handlers: a pending Ctrl-C stops the run at the next
/// check and is re-raised as `KeyboardInterrupt`.
fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, Error> + Send,
) -> PyResult<T> {
    let interrupted: Mutex<Option<PyErr>> = Mutex::new(None);
    let cancel = || {
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                if let Ok(mut g) = interrupted.lock() {
                    *g = Some(e);
                }
                true
            }
        })
    };
    let out = py.detach(|| f(&cancel));
    out.map_err(|e| to_py_err(py, e, &interrupted))
}

/// A path argument (`str` or `os.PathLike`), or `None` when `obj` is a table.
fn as_path(obj: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        return Ok(Some(obj.extract::<PathBuf>()?));
    }
    Ok(None)
}

/// The configuration: `config`, else `goodhart.toml` in the dataset, else
/// `./goodhart.toml`, else the defaults (as `goodhart scan`).
fn load_config(
    py: Python<'_>,
    config: Option<PathBuf>,
    root: Option<&std::path::Path>,
) -> PyResult<LoadedConfig> {
    Config::discover(config.as_deref(), root).map_err(|e| to_py_err(py, e, &Mutex::new(None)))
}

/// The window from the arguments, then the configuration, then the defaults
/// (today, 28 days), as `goodhart scan` resolves `--as-of` / `--window`.
fn resolve_window(
    py: Python<'_>,
    as_of: Option<&str>,
    window: Option<&str>,
    cfg: &Config,
) -> PyResult<Window> {
    let as_of = match as_of {
        Some(s) => {
            goodhart::config::parse_date(s).map_err(|m| input_error(py, format!("as_of: {m}")))?
        }
        None => cfg.scan.as_of.unwrap_or_else(|| Utc::now().date_naive()),
    };
    let days = match window {
        Some(s) => goodhart::config::parse_window(s)
            .map_err(|m| input_error(py, format!("window: {m}")))?,
        None => cfg.window_days(),
    };
    Ok(Window { as_of, days })
}

/// Reads a roster given as a path or an Arrow table.
fn load_roster(
    py: Python<'_>,
    roster: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<goodhart::schema::Roster>> {
    let Some(r) = roster else { return Ok(None) };
    let none = Mutex::new(None);
    if let Some(p) = as_path(r)? {
        return goodhart::io::read_roster(&p)
            .map(Some)
            .map_err(|e| to_py_err(py, Error::from(e), &none));
    }
    let batches = import_stream(r, "roster")?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            to_py_err(
                py,
                Error::Stream {
                    source_name: "roster".into(),
                    message: e.to_string(),
                },
                &none,
            )
        })?;
    goodhart::schema::roster_from_batches(&batches, "roster")
        .map(Some)
        .map_err(|e| to_py_err(py, Error::from(goodhart::io::IoError::from(e)), &none))
}

/// Result of `scan` / `score`: tables and JSON documents for the Python wrapper.
#[pyclass(frozen, module = "goodhart._goodhart")]
#[derive(Debug)]
struct RawResult {
    users: RecordBatch,
    sessions: RecordBatch,
    quarantine: Option<ArrowStream>,
    explanations: Vec<goodhart::detect::UserExplanation>,
    alerts_json: String,
    summary_json: String,
    ingest_json: Option<String>,
}

impl RawResult {
    fn from_analysis(a: Analysis) -> RawResult {
        RawResult {
            alerts_json: serde_json::to_string(&a.alerts).expect("alerts serialise"),
            summary_json: serde_json::to_string(&a.summary).expect("summary serialises"),
            ingest_json: Some(serde_json::to_string(&a.run.ingest).expect("report serialises")),
            quarantine: Some(ArrowStream::new(
                goodhart::schema::quarantine_schema(),
                a.run.quarantine,
            )),
            users: a.waste.users_table,
            sessions: a.waste.sessions_table,
            explanations: a.scores.explanations,
        }
    }
}

#[pymethods]
impl RawResult {
    fn users(&self) -> ArrowStream {
        ArrowStream::one(&self.users)
    }
    fn sessions(&self) -> ArrowStream {
        ArrowStream::one(&self.sessions)
    }
    fn quarantine(&self) -> Option<ArrowStream> {
        self.quarantine.as_ref().map(ArrowStream::clone_stream)
    }
    fn alerts_json(&self) -> &str {
        &self.alerts_json
    }
    fn summary_json(&self) -> &str {
        &self.summary_json
    }
    fn ingest_json(&self) -> Option<&str> {
        self.ingest_json.as_deref()
    }
    fn explain_json(&self, user_id: &str) -> Option<String> {
        self.explanations
            .iter()
            .find(|u| u.user_id == user_id)
            .map(|u| serde_json::to_string(u).expect("explanation serialises"))
    }
}

/// Result of `features`.
#[pyclass(frozen, module = "goodhart._goodhart")]
#[derive(Debug)]
struct RawFeatures {
    users: RecordBatch,
    sessions: RecordBatch,
    quarantine: Vec<RecordBatch>,
    ingest_json: String,
    duplicate_events: u64,
}

impl RawFeatures {
    fn from_run(run: goodhart::scan::FeatureRun) -> RawFeatures {
        RawFeatures {
            ingest_json: serde_json::to_string(&run.ingest).expect("report serialises"),
            users: run.features.users,
            sessions: run.features.sessions,
            quarantine: run.quarantine,
            duplicate_events: run.duplicate_events,
        }
    }
}

#[pymethods]
impl RawFeatures {
    fn users(&self) -> ArrowStream {
        ArrowStream::one(&self.users)
    }
    fn sessions(&self) -> ArrowStream {
        ArrowStream::one(&self.sessions)
    }
    fn quarantine(&self) -> ArrowStream {
        ArrowStream::new(
            goodhart::schema::quarantine_schema(),
            self.quarantine.clone(),
        )
    }
    fn ingest_json(&self) -> &str {
        &self.ingest_json
    }
    fn duplicate_events(&self) -> u64 {
        self.duplicate_events
    }
}

/// What the events argument resolved to.
enum Input {
    Path(Dataset),
    Stream(arrow::ffi_stream::RecordBatchStreamReader),
}

fn resolve_input(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    roster: Option<&Bound<'_, PyAny>>,
    config: Option<PathBuf>,
) -> PyResult<(Input, Option<goodhart::schema::Roster>, LoadedConfig)> {
    let none = Mutex::new(None);
    if let Some(p) = as_path(events)? {
        let roster_path = match roster {
            None => None,
            Some(r) => Some(as_path(r)?.ok_or_else(|| {
                pyo3::exceptions::PyTypeError::new_err(
                    "roster: with events given as a path, give the roster as a path too \
                     (or pass both as tables)",
                )
            })?),
        };
        let dataset =
            Dataset::locate(&[p], roster_path.as_deref()).map_err(|e| to_py_err(py, e, &none))?;
        let loaded = load_config(py, config, dataset.root.as_deref())?;
        return Ok((Input::Path(dataset), None, loaded));
    }
    let reader = import_stream(events, "events")?;
    let loaded = load_config(py, config, None)?;
    Ok((Input::Stream(reader), load_roster(py, roster)?, loaded))
}

/// What `scan` and `features` share: the input, roster, configuration,
/// window and source name, resolved as `goodhart scan` resolves them.
struct Request {
    input: Input,
    roster: Option<goodhart::schema::Roster>,
    loaded: LoadedConfig,
    win: Window,
    source: String,
}

fn resolve_request(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    roster: Option<&Bound<'_, PyAny>>,
    (as_of, window): (Option<String>, Option<String>),
    config: Option<PathBuf>,
    source: Option<String>,
) -> PyResult<Request> {
    let (input, roster, loaded) = resolve_input(py, events, roster, config)?;
    let win = resolve_window(py, as_of.as_deref(), window.as_deref(), &loaded.config)?;
    Ok(Request {
        input,
        roster,
        loaded,
        win,
        source: source.unwrap_or_else(|| "events".to_string()),
    })
}

/// Features, scores and alert candidates (see `goodhart.scan`).
#[pyfunction]
#[pyo3(signature = (events, roster=None, as_of=None, window=None, config=None, source=None))]
fn scan(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    roster: Option<&Bound<'_, PyAny>>,
    as_of: Option<String>,
    window: Option<String>,
    config: Option<PathBuf>,
    source: Option<String>,
) -> PyResult<RawResult> {
    let Request {
        input,
        roster,
        loaded,
        win,
        source,
    } = resolve_request(py, events, roster, (as_of, window), config, source)?;
    let analysis = detached(py, move |cancel| {
        let pipeline = Pipeline::builder().config(loaded).window(win).build()?;
        match input {
            Input::Path(d) => pipeline.run_cancellable(Events::Dataset(&d), Some(cancel)),
            Input::Stream(reader) => pipeline.run_cancellable(
                Events::Batches {
                    batches: Box::new(reader),
                    source,
                    roster,
                },
                Some(cancel),
            ),
        }
    })?;
    Ok(RawResult::from_analysis(analysis))
}

/// Session and user features (see `goodhart.features`).
#[pyfunction]
#[pyo3(signature = (events, roster=None, as_of=None, window=None, config=None, source=None))]
fn features(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    roster: Option<&Bound<'_, PyAny>>,
    as_of: Option<String>,
    window: Option<String>,
    config: Option<PathBuf>,
    source: Option<String>,
) -> PyResult<RawFeatures> {
    let Request {
        input,
        roster,
        loaded,
        win,
        source,
    } = resolve_request(py, events, roster, (as_of, window), config, source)?;
    let fopts = loaded
        .config
        .feature_options(Some(win.as_of), win.days)
        .map_err(|m| to_py_err(py, loaded.error(m), &Mutex::new(None)))?;
    let run = detached(py, move |cancel| match input {
        Input::Path(d) => goodhart::scan::features(&d, &fopts, Some(win), None),
        Input::Stream(reader) => goodhart::batches::features_from_batches(
            reader,
            &source,
            &fopts,
            Some(win),
            roster,
            Some(cancel),
        ),
    })?;
    Ok(RawFeatures::from_run(run))
}

fn read_table(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<RecordBatch> {
    let none = Mutex::new(None);
    if let Some(p) = as_path(obj)? {
        let batches = goodhart::io::read_parquet(&p).map_err(|e| to_py_err(py, e.into(), &none))?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                return Err(input_error(
                    py,
                    format!("{}: the file has no rows", p.display()),
                ))
            }
        };
        return concat_batches(&schema, &batches)
            .map_err(|e| input_error(py, format!("{}: {e}", p.display())));
    }
    let reader = import_stream(obj, what)?;
    let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
        to_py_err(
            py,
            Error::Stream {
                source_name: what.to_string(),
                message: e.to_string(),
            },
            &none,
        )
    })?;
    concat_batches(&schema, &batches).map_err(|e| input_error(py, format!("{what}: {e}")))
}

/// Scores feature tables (see `goodhart.score`).
#[pyfunction]
#[pyo3(signature = (user_features, session_features, as_of=None, window=None, config=None))]
fn score(
    py: Python<'_>,
    user_features: &Bound<'_, PyAny>,
    session_features: &Bound<'_, PyAny>,
    as_of: Option<String>,
    window: Option<String>,
    config: Option<PathBuf>,
) -> PyResult<RawResult> {
    let users = read_table(py, user_features, "user_features")?;
    let sessions = read_table(py, session_features, "session_features")?;
    let loaded = load_config(py, config, None)?;
    let win = resolve_window(py, as_of.as_deref(), window.as_deref(), &loaded.config)?;
    let pipeline = Pipeline::builder()
        .config(loaded)
        .window(win)
        .build()
        .map_err(|e| to_py_err(py, e, &Mutex::new(None)))?;
    let (scores, pipeline) = detached(py, move |_| {
        let scores = goodhart::detect::score(&users, &sessions, pipeline.score_options())?;
        Ok((scores, pipeline))
    })?;
    // Alerts as `goodhart scan` raises them, small groups' figures withheld;
    // without the events there is no waste estimate to attach.
    let mut alerts = goodhart::scan::alert_candidates(&scores, win);
    pipeline.withhold_small_groups(&mut alerts, &scores);
    let mut by_sev = std::collections::BTreeMap::<String, u64>::new();
    for a in &alerts {
        *by_sev.entry(a.severity.as_str().to_string()).or_default() += 1;
    }
    let summary = serde_json::json!({
        "users": scores.users.num_rows(),
        "sessions": scores.sessions.num_rows(),
        "cohort_method": scores.cohort_method.as_str(),
        "alerts_by_severity": by_sev,
        "window": {"start": win.first_day(), "end": win.as_of, "days": win.days},
    });
    Ok(RawResult {
        alerts_json: serde_json::to_string(&alerts).expect("alerts serialise"),
        summary_json: summary.to_string(),
        ingest_json: None,
        quarantine: None,
        users: scores.users,
        sessions: scores.sessions,
        explanations: scores.explanations,
    })
}

/// Validates a dataset without computing anything (see `goodhart.validate`).
#[pyfunction]
#[pyo3(signature = (path, as_of=None, window=None, quarantine=None))]
fn validate(
    py: Python<'_>,
    path: PathBuf,
    as_of: Option<String>,
    window: Option<String>,
    quarantine: Option<PathBuf>,
) -> PyResult<String> {
    let dw = match (as_of.as_deref(), window.as_deref()) {
        (Some(d), Some(w)) => Some(goodhart::io::DateWindow::from(Window {
            as_of: goodhart::config::parse_date(d)
                .map_err(|m| input_error(py, format!("as_of: {m}")))?,
            days: goodhart::config::parse_window(w)
                .map_err(|m| input_error(py, format!("window: {m}")))?,
        })),
        (None, Some(_)) => return Err(input_error(py, "window needs as_of".to_string())),
        _ => None,
    };
    let path = if path.join("events").is_dir() {
        path.join("events")
    } else {
        path
    };
    let report = detached(py, move |_| {
        Ok(goodhart::io::validate(&path, dw, quarantine.as_deref())?)
    })?;
    Ok(serde_json::to_string(&report).expect("report serialises"))
}

/// Writes a labeled synthetic organisation (see `goodhart.synth`).
#[pyfunction]
#[pyo3(signature = (out, users=300, days=14, seed=1, gaming_share=0.06, intensity=1.0, start=None))]
#[allow(clippy::too_many_arguments)]
fn synth(
    py: Python<'_>,
    out: PathBuf,
    users: usize,
    days: u32,
    seed: u64,
    gaming_share: f64,
    intensity: f64,
    start: Option<String>,
) -> PyResult<String> {
    let mut cfg = goodhart::synth::SynthConfig::new(users, days, seed);
    cfg.gaming_share = gaming_share;
    cfg.intensity = intensity;
    if let Some(s) = start {
        cfg.start =
            goodhart::config::parse_date(&s).map_err(|m| input_error(py, format!("start: {m}")))?;
    }
    let s = detached(py, move |_| Ok(goodhart::synth::generate(&cfg, &out)?))?;
    let doc = serde_json::json!({
        "users": s.users,
        "gaming_users": s.gaming_users,
        "sessions": s.sessions,
        "gaming_sessions": s.gaming_sessions,
        "events": s.events,
        "files": s.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "archetypes": s.archetypes.iter().map(|(a, n)| (a.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        "dates": s.dates.map(|(a, b)| [a.to_string(), b.to_string()]),
    });
    Ok(doc.to_string())
}

/// Feature options and window of a Spark worker: the configuration's TOML
/// text (`None`: built-in defaults) and the driver's resolved window.
fn part_options(
    py: Python<'_>,
    config_toml: Option<&str>,
    config_name: &str,
    as_of: &str,
    window: &str,
) -> PyResult<(goodhart::features::FeatureOptions, Window)> {
    let none = Mutex::new(None);
    let cfg = match config_toml {
        Some(t) => Config::from_toml(t, config_name).map_err(|e| to_py_err(py, e, &none))?,
        None => Config::default(),
    };
    let win = resolve_window(py, Some(as_of), Some(window), &cfg)?;
    let fopts = cfg
        .feature_options(Some(win.as_of), win.days)
        .map_err(|m| {
            to_py_err(
                py,
                Error::Config {
                    file: config_name.to_string(),
                    message: m,
                },
                &none,
            )
        })?;
    Ok((fopts, win))
}

/// The window the driver resolves for the workers: `(as_of, days)` from the
/// arguments, then the configuration (TOML text), then the defaults.
#[pyfunction]
#[pyo3(signature = (as_of=None, window=None, config_toml=None, config_name="built-in configuration"))]
fn resolve_window_args(
    py: Python<'_>,
    as_of: Option<&str>,
    window: Option<&str>,
    config_toml: Option<&str>,
    config_name: &str,
) -> PyResult<(String, u32)> {
    let cfg = match config_toml {
        Some(t) => {
            Config::from_toml(t, config_name).map_err(|e| to_py_err(py, e, &Mutex::new(None)))?
        }
        None => Config::default(),
    };
    let win = resolve_window(py, as_of, window, &cfg)?;
    Ok((win.as_of.to_string(), win.days))
}

/// Spark phase 1 on one part of the events: a table of `user` (Int64, the
/// user hash's bits) and `task` (Int64 bits of a request task hash, null on
/// the one row of a user without any), the part's users in the window and
/// distinct `(task, user)` request pairs (see `goodhart_features::org`).
#[pyfunction]
#[pyo3(signature = (events, as_of, window, config_toml=None, config_name="built-in configuration", source=None))]
fn part_task_users(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    as_of: &str,
    window: &str,
    config_toml: Option<&str>,
    config_name: &str,
    source: Option<String>,
) -> PyResult<ArrowStream> {
    use arrow::array::{ArrayRef, Int64Array};
    let (fopts, win) = part_options(py, config_toml, config_name, as_of, window)?;
    let reader = import_stream(events, "events")?;
    let source = source.unwrap_or_else(|| "events".to_string());
    let t = detached(py, move |cancel| {
        goodhart::batches::task_users_from_batches(reader, &source, &fopts, Some(win), Some(cancel))
    })?;
    let mut users: Vec<i64> = Vec::with_capacity(t.pairs.len() + t.users.len());
    let mut tasks: Vec<Option<i64>> = Vec::with_capacity(users.capacity());
    let with_pairs: std::collections::HashSet<u64> = t.pairs.iter().map(|p| p.1).collect();
    for &(task, user) in &t.pairs {
        // Bit casts: Spark has no unsigned 64-bit type; distinct stays distinct.
        users.push(user as i64);
        tasks.push(Some(task as i64));
    }
    for &u in t.users.iter().filter(|u| !with_pairs.contains(u)) {
        users.push(u as i64);
        tasks.push(None);
    }
    let batch = RecordBatch::try_from_iter([
        (
            "user",
            std::sync::Arc::new(Int64Array::from(users)) as ArrayRef,
        ),
        (
            "task",
            std::sync::Arc::new(Int64Array::from(tasks)) as ArrayRef,
        ),
    ])
    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(ArrowStream::one(&batch))
}

/// The common-prompt threshold for `n_users` users in the window (Spark
/// phase 1, on the driver).
#[pyfunction]
#[pyo3(signature = (n_users, as_of, window, config_toml=None, config_name="built-in configuration"))]
fn common_prompt_threshold(
    py: Python<'_>,
    n_users: usize,
    as_of: &str,
    window: &str,
    config_toml: Option<&str>,
    config_name: &str,
) -> PyResult<usize> {
    let (fopts, _) = part_options(py, config_toml, config_name, as_of, window)?;
    Ok(fopts.common_prompt_threshold(n_users))
}

/// Spark phase 2 on one part of the events (e.g. one user's): its session
/// and user feature rows as a run over the whole organisation computes
/// them, given the organisation's common prompts (`common_tasks`: Int64 bits
/// of the task hashes, and their `threshold`).
#[pyfunction]
#[pyo3(signature = (events, common_tasks, threshold, as_of, window, roster=None, config_toml=None, config_name="built-in configuration", source=None))]
#[allow(clippy::too_many_arguments)]
fn part_features(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    common_tasks: Vec<i64>,
    threshold: usize,
    as_of: &str,
    window: &str,
    roster: Option<&Bound<'_, PyAny>>,
    config_toml: Option<&str>,
    config_name: &str,
    source: Option<String>,
) -> PyResult<RawFeatures> {
    let (fopts, win) = part_options(py, config_toml, config_name, as_of, window)?;
    let reader = import_stream(events, "events")?;
    let roster = load_roster(py, roster)?;
    let common = goodhart::features::CommonPrompts {
        tasks: common_tasks.into_iter().map(|t| t as u64).collect(),
        threshold,
    };
    let source = source.unwrap_or_else(|| "events".to_string());
    let run = detached(py, move |_| {
        goodhart::batches::part_features_from_batches(
            reader,
            &source,
            &fopts,
            Some(win),
            roster,
            &common,
        )
    })?;
    Ok(RawFeatures::from_run(run))
}

/// The native module.
#[pymodule]
fn _goodhart(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", goodhart::VERSION)?;
    m.add_class::<ArrowStream>()?;
    m.add_class::<RawResult>()?;
    m.add_class::<RawFeatures>()?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(synth, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_window_args, m)?)?;
    m.add_function(wrap_pyfunction!(part_task_users, m)?)?;
    m.add_function(wrap_pyfunction!(common_prompt_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(part_features, m)?)?;
    Ok(())
}
