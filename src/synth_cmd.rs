//! `goodhart synth`: write a labeled synthetic organisation.

use anyhow::Result;
use goodhart::Error;

use crate::args::{self};
use crate::EXIT_OK;

pub(crate) fn synth(a: args::SynthArgs) -> Result<u8> {
    let mut cfg = goodhart::synth::SynthConfig::new(a.users, a.days, a.seed);
    cfg.gaming_share = a.gaming_share;
    cfg.intensity = a.intensity;
    crate::synth_options::apply(&a, &mut cfg)?;
    if let Some(d) = a.start {
        cfg.start = d;
    }
    let t = std::time::Instant::now();
    let summary = goodhart::synth::generate(&cfg, &a.out).map_err(Error::from)?;
    print!("{summary}");
    println!(
        "written to {} in {:.1} s",
        a.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(EXIT_OK)
}
