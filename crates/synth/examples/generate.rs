//! Generates a labeled synthetic organisation and prints its summary.
//!
//! ```text
//! cargo run --release -p goodhart-synth --example generate -- [users] [days] [seed] [out]
//! ```
//! Defaults: 200 users, 14 days, seed 42, out `./synth-out` (must not already
//! contain events).

use goodhart_synth::{generate, SynthConfig};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let users = args.first().map_or(Ok(200), |s| s.parse())?;
    let days = args.get(1).map_or(Ok(14), |s| s.parse())?;
    let seed = args.get(2).map_or(Ok(42), |s| s.parse())?;
    let out = PathBuf::from(args.get(3).map_or("synth-out", String::as_str));
    let cfg = SynthConfig::new(users, days, seed);
    let t = Instant::now();
    let summary = generate(&cfg, &out)?;
    print!("{summary}");
    println!("written to {} in {:.1?}", out.display(), t.elapsed());
    Ok(())
}
