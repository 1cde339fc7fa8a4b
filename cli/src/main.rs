//! `statsig-console`: the Statsig Console API for release pipelines (see the library half,
//! `statsig_console_cli`, and `statsig-console --help`).

fn main() -> std::process::ExitCode {
    statsig_console_cli::main()
}
