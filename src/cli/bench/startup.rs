//! Start-up: `switchboard catalog check` as a whole process, against starting the same
//! binary to print its version.

use std::time::Instant;

use super::{BenchError, Figure, Result, self_exe};

const RUNS_PER_SAMPLE: usize = 20;

fn median_process_ms(args: &[&str]) -> Result<f64> {
    let exe = self_exe()?;
    let mut times = Vec::with_capacity(RUNS_PER_SAMPLE);
    for _ in 0..RUNS_PER_SAMPLE {
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(BenchError::from("running switchboard"))?;
        if !status.success() {
            return Err(BenchError(format!(
                "switchboard {} failed: {status}",
                args.join(" ")
            )));
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub async fn run(runs: usize) -> Result<Vec<Figure>> {
    let catalog = crate::cli::console_cmd::demo_catalog();
    let catalog = catalog.display().to_string();
    let (mut check, mut version) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        check.push(median_process_ms(&["catalog", "check", &catalog])?);
        version.push(median_process_ms(&["--version"])?);
    }
    Ok(vec![
        Figure::new(
            "`switchboard catalog check assets/support.toml`, whole process",
            "ms",
            &check,
        )
        .against("`switchboard --version`, whole process", &version)
        .target("< 20 ms"),
    ])
}
