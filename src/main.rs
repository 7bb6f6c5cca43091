//! The `piivault` binary: telemetry, then the command line. Everything else lives in
//! the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    piivault::telemetry::init();
    match piivault::cli::Cli::parse().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
