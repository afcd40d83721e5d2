//! `anomaly-kit`: the command line over the library. `main` sets up logging and threads and
//! dispatches; [`args`] turns flags into library objects; [`commands`] and [`walkthrough`] call
//! the library and print its reports; [`kinesis`] drives the deploy binaries for the
//! walkthrough's Kinesis path.

mod args;
mod commands;
mod kinesis;
mod walkthrough;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::args::{Cli, Command, LogFormat};

/// Polars truncates wide tables by default; the CLI's tables are small, so show them whole.
fn configure_table_display() {
    let settings = [
        ("POLARS_FMT_MAX_COLS", "30"),
        ("POLARS_FMT_MAX_ROWS", "40"),
        ("POLARS_FMT_STR_LEN", "40"),
        ("POLARS_TABLE_WIDTH", "200"),
        ("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1"),
        ("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1"),
    ];
    for (key, value) in settings {
        if std::env::var_os(key).is_none() {
            // SAFETY: called first thing in `main`, before any other thread exists.
            unsafe { std::env::set_var(key, value) };
        }
    }
}

fn main() {
    configure_table_display();
    let cli = Cli::parse();
    let quiet = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = match cli.verbose {
        0 => quiet,
        1 => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    if let Err(e) = run(cli) {
        // the whole chain, outermost first: each error either quotes its cause or returns it as
        // its source, never both, so every cause shows once
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.command {
        Command::Generate(a) => commands::generate(a),
        Command::Plot(a) => commands::plot(a),
        Command::Train(a) => commands::train(a),
        Command::Evaluate(a) => commands::evaluate(a),
        Command::Benchmark(a) => commands::benchmark(a),
        Command::Nab(a) => commands::nab(a),
        Command::Serve(a) => commands::serve(a),
        Command::Walkthrough(a) => walkthrough::run(a),
    }
}
