//! The `switchboard` binary: parse the command line and hand over to the CLI layer.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = switchboard::cli::Cli::parse();
    switchboard::cli::run(args)
}
