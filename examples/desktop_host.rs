//! How a desktop host (Jan, or any Rust or Tauri app that starts Cortex)
//! opens Cortex's data at launch with the boot API: find the data folder of
//! a build variant the way Cortex does, migrate with progress shown, and
//! answer each boot error the way a GUI would.
//!
//! ```text
//! cargo run --example desktop_host -- [--data-dir DIR] [--variant stable|beta|nightly] [--yes]
//! ```
//!
//! `--yes` stands for the user clicking "yes" in the dialogs below.

use std::path::PathBuf;
use std::time::Duration;

use cortex_migrate::location::Variant;
use cortex_migrate::toolkit::{DataDir, Event, FolderLock, MigrateError, ProgressSink, backups};
use cortex_migrate::{Boot, Booted, Error, NewerData};
use sea_orm::EntityTrait;

/// What the host was asked to do.
struct Args {
    data_dir: Option<PathBuf>,
    variant: Variant,
    yes: bool,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        data_dir: None,
        variant: Variant::Stable,
        yes: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => out.data_dir = it.next().map(PathBuf::from),
            "--variant" => {
                out.variant = match it.next().as_deref() {
                    Some("stable") => Variant::Stable,
                    Some("beta") => Variant::Beta,
                    Some("nightly") => Variant::Nightly,
                    other => return Err(format!("unknown variant {other:?}")),
                }
            }
            "--yes" => out.yes = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(out)
}

/// Progress as plain lines, as a splash screen would show it.
fn progress() -> ProgressSink {
    ProgressSink::new(|e| match e {
        Event::StepStarted {
            step, index, total, ..
        } => eprintln!("[{index}/{total}] {step}"),
        Event::Rows { done, total, .. } | Event::Bytes { done, total, .. } if done == total => {
            eprintln!("      {done}/{total} done")
        }
        Event::Note { message, .. } => eprintln!("      {message}"),
        Event::Recovering { step, .. } => eprintln!("finishing {step}, which was interrupted"),
        _ => {}
    })
}

fn boot(args: &Args) -> Result<Boot, Error> {
    let boot = match &args.data_dir {
        Some(d) => Boot::data_folder(d),
        None => Boot::locate(args.variant)?,
    };
    Ok(boot.progress(progress()))
}

/// A yes/no dialog; `--yes` answers it.
fn ask(args: &Args, question: &str) -> bool {
    eprintln!("? {question} {}", if args.yes { "[yes]" } else { "[no]" });
    args.yes
}

async fn start(args: &Args) -> Result<Booted, Error> {
    let first = boot(args)?.open().await;
    let Err(Error::Migrate(e)) = &first else {
        return first;
    };
    match e.root() {
        // Data a newer Cortex migrated: offer to step it down.
        MigrateError::UnknownAppliedSteps { .. }
            if ask(
                args,
                "This data was updated by a newer Cortex. Step it down to this version?",
            ) =>
        {
            boot(args)?.newer_data(NewerData::StepDown).open().await
        }
        // Another process is migrating: wait a little longer, once.
        MigrateError::LockTimeout { holder, .. } => {
            eprintln!("another Cortex ({holder}) is updating the data; waiting");
            let mut b = boot(args)?;
            b.lock_timeout = Some(Duration::from_secs(600));
            b.open().await
        }
        // A damaged cortex.db: offer the newest backup.
        MigrateError::NotADatabase { path, .. }
            if ask(
                args,
                "Cortex's database is damaged. Put back the latest backup?",
            ) =>
        {
            let dir = DataDir::new(path.parent().unwrap_or(path))?;
            let manifest = backups::find(&dir, "latest")?;
            backups::check(&dir, &manifest)?;
            let _lock =
                FolderLock::acquire(&dir, Some(Duration::from_secs(60)), &|m| eprintln!("{m}"))
                    .await?;
            let restored = backups::restore(&dir, &manifest)?;
            eprintln!("restored backup {}", restored.backup);
            drop(_lock);
            boot(args)?.open().await
        }
        _ => first,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match start(&args).await {
        Ok(booted) => {
            let models = entity::models::Entity::find()
                .all(&booted.db)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            match booted.report {
                Some(r) => println!(
                    "migrated: {} step(s); ready with {models} model(s)",
                    r.steps.len()
                ),
                None => println!("up to date; ready with {models} model(s)"),
            }
        }
        Err(e) => {
            // What the GUI would show, and the code a launcher script sees.
            eprintln!("Cortex cannot start: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
