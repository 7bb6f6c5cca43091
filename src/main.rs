//! The `piivault` binary: telemetry, then the command line. Everything else lives in
//! the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = piivault::cli::Cli::parse();
    piivault::telemetry::init(cli.global.log_format);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
