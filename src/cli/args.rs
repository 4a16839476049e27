//! The command line's arguments: the clap definitions of every option and
//! command (also the source of the completions and the manual page).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::location::Variant;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Progress bars on stderr, when it is a terminal.
    Bars,
    /// One JSON object per event on stdout, as it happens.
    Json,
    /// Nothing.
    None,
}

/// Crash-safe migrations of Cortex's database and data folder.
#[derive(Debug, Parser)]
#[command(name = "cortex-migrate", version, about, long_about = None)]
pub struct Cli {
    /// The Cortex data folder (the one that holds cortex.db). Default: from
    /// CORTEX_DATA_DIR, then .cortexrc, then ~/cortexcpp. With
    /// --database-url: the folder the folder steps work on.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A database URL (postgres://, mysql://, sqlite://) instead of a data
    /// folder; folder steps then use CORTEX_DATA_DIR.
    #[arg(long, global = true, value_name = "URL", env = "CORTEX_DATABASE_URL")]
    pub database_url: Option<String>,

    /// The config file Cortex was started with (its `--config_file_path`;
    /// Jan passes `<Jan data folder>/.janrc`) instead of the variant's
    /// `.cortexrc`: its `dataFolderPath` names the data folder, and it is
    /// the config file the steps may change.
    #[arg(long, global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Where Cortex loads engines from when it runs with `ENGINE_PATH` (Jan
    /// sets it to the engines it ships): `verify` looks for them in
    /// `<DIR>/engines` instead of the data folder's.
    #[arg(long, global = true, value_name = "DIR", env = "ENGINE_PATH")]
    pub engine_path: Option<PathBuf>,

    /// Which Cortex build's data (each has its own .cortexrc and folder).
    #[arg(long, global = true, value_enum)]
    pub variant: Option<Variant>,

    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// How progress is shown: `bars` on a terminal (stderr), `json` as one
    /// JSON object per event on stdout as it happens, then the result (for
    /// a GUI that runs this binary; see the README), or `none`.
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Bars)]
    pub progress: ProgressMode,

    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Give up waiting for another migrator after this many seconds.
    #[arg(long, global = true, value_name = "SECS")]
    pub lock_timeout: Option<u64>,

    /// Backups to keep (one is taken before every run that changes
    /// something); 0 takes none.
    #[arg(long, global = true, value_name = "N", default_value_t = migration::toolkit::DEFAULT_KEEP_BACKUPS)]
    pub keep_backups: usize,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Data version, app version, applied and pending steps, lock holder.
    #[command(after_help = "Example: cortex-migrate --variant nightly status")]
    Status,
    /// Apply pending steps (all, or up to --to).
    #[command(
        after_help = "Examples: cortex-migrate up; cortex-migrate up --to cortex_v3; cortex-migrate --progress json up"
    )]
    Up(UpArgs),
    /// Roll applied steps back (--to STEP or --steps N).
    #[command(
        after_help = "Examples: cortex-migrate down --steps 1; cortex-migrate down --to cortex_v3 --yes"
    )]
    Down(DownArgs),
    /// Show what `up` or `down` would do, without doing it.
    #[command(
        after_help = "Examples: cortex-migrate plan; cortex-migrate plan down --to cortex_v3"
    )]
    Plan(PlanArgs),
    /// Compare the schema with the golden snapshot of the last step, the
    /// stored checksums with this binary's steps, and every path in the
    /// database with the data folder; exit 4 on drift.
    #[command(after_help = "Example: cortex-migrate verify && echo clean")]
    Verify,
    /// List the backups taken before runs.
    #[command(subcommand, after_help = "Example: cortex-migrate backups list")]
    Backups(BackupsCommand),
    /// Put a backup back: the database and the files the run changed
    /// (stop Cortex first).
    #[command(after_help = "Example: cortex-migrate restore latest")]
    Restore(RestoreArgs),
    /// Finish or undo a step that a dead process left half done (and, on
    /// MySQL, revert a step that failed half-way, or finish it).
    #[command(after_help = "Example: cortex-migrate recover")]
    Recover(RecoverArgs),
    /// Write a sample home (a `.cortexrc` and a `cortexcpp` data folder) as
    /// a cortex.cpp install at schema v0..v3 leaves it, to try commands on.
    #[command(after_help = "Example: cortex-migrate sample demo --cortex-version 0")]
    Sample(SampleArgs),
    /// Print a shell completion script (e.g. `cortex-migrate completions
    /// bash > /etc/bash_completion.d/cortex-migrate`).
    #[command(after_help = "Example: cortex-migrate completions zsh > ~/.zfunc/_cortex-migrate")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `cortex-migrate man | man -l -`.
    #[command(after_help = "Example: cortex-migrate man > cortex-migrate.1")]
    Man,
}

/// Arguments of `recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// MySQL: finish a step that failed half-way instead of reverting it.
    #[arg(long)]
    pub complete: bool,
}

/// `backups` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// Every backup, newest first.
    List,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup (its name, a unique start of it, or `latest`).
    pub backup: String,
    /// Restore even if rows were written after the backup's run (Cortex
    /// ran since): they are lost. Without it such a restore is refused,
    /// naming them.
    #[arg(long)]
    pub discard_newer: bool,
}

/// Arguments of `sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The (new or empty) folder to write the sample home into.
    pub home: PathBuf,
    /// The cortex.cpp schema version of the sample (0..3).
    #[arg(long, default_value_t = 1)]
    pub cortex_version: u8,
    /// A fresh install of that version instead of one upgraded from v0.
    #[arg(long)]
    pub fresh_install: bool,
    /// Extra generated models beyond the standard five.
    #[arg(long, default_value_t = 0)]
    pub models: usize,
}

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Stop after this step (full name or a unique part of it).
    #[arg(long, value_name = "STEP")]
    pub to: Option<String>,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Roll back until this step is the last one applied (`0` for all).
    #[arg(
        long,
        value_name = "STEP",
        required_unless_present = "steps",
        conflicts_with = "steps"
    )]
    pub to: Option<String>,
    /// Roll back this many steps.
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// Do not ask before a down that moves data into archive tables.
    #[arg(long, short)]
    pub yes: bool,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// `up` (default) or `down`.
    #[arg(value_parser = ["up", "down"], default_value = "up")]
    pub direction: String,
    /// As for `up --to` / `down --to`.
    #[arg(long, value_name = "STEP")]
    pub to: Option<String>,
    /// As for `down --steps`.
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
}
