//! `goodhart eval --suite`: see `goodhart::suite`.

use crate::args::{EvalArgs, Format};
use goodhart::suite::{run_suite, SuiteOptions};

/// Runs the suite and prints its table (or JSON).
pub(crate) fn run(a: &EvalArgs) -> crate::Result<u8> {
    let o = SuiteOptions::new(a.users, a.days, a.seed, a.only.clone());
    let t = std::time::Instant::now();
    let report = run_suite(&o)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            print!("{report}");
            eprintln!("suite ran in {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    Ok(crate::EXIT_OK)
}
