//! The `cortex-migrate` binary: parses arguments, sets up logging, and
//! hands over to `cortex_migrate::cli`.

use clap::Parser;
use cortex_migrate::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() {
    let args = Cli::parse();
    let level = match args.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("CORTEX_MIGRATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(args.verbose > 0)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(cortex_migrate::error::exit::FAILED);
        }
    };
    let json_progress = args.progress == cli::ProgressMode::Json;
    if let Err(e) = runtime.block_on(cli::run(args)) {
        if json_progress {
            cortex_migrate::render::json_line(
                "error",
                serde_json::json!({ "code": e.exit_code(), "message": e.to_string() }),
            );
        }
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
