//! The `cortex-migrate` command line: what each command does with the
//! library (the arguments are in `args`). Human output by default, `--json`
//! for programs, `--progress json` for a GUI; one clear line on stderr and a
//! documented exit code on error.

mod args;

pub use args::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use migration::Migrator;
use migration::toolkit::DataDir;
use migration::toolkit::FolderLock;
use migration::toolkit::backups;
use migration::toolkit::{Direction, MigrateError, StepList};
use migration::toolkit::{Options, Runner, Target};
use sea_orm::DatabaseConnection;

use crate::connect::{self, Place};
use crate::error::{Error, Result};
use crate::inspect;
use crate::location::{Search, Source, Variant};
use crate::render;

/// Where the data is, and how it was found.
struct Resolved {
    place: Place,
    from: Option<String>,
    /// The `.cortexrc` that belongs to the data folder.
    config: Option<PathBuf>,
}

fn resolve(cli: &Cli) -> Result<Resolved> {
    if let Some(url) = &cli.database_url {
        let data_dir = match &cli.data_dir {
            Some(d) => Some(d.clone()),
            None => std::env::var_os(crate::location::DATA_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        };
        return Ok(Resolved {
            place: Place::Url {
                url: url.clone(),
                data_dir,
            },
            from: None,
            config: None,
        });
    }
    let variant = match cli.variant {
        Some(v) => v,
        None => Variant::from_env()?.unwrap_or_default(),
    };
    let mut search = Search::from_env(cli.data_dir.clone(), variant);
    search.config_file = cli.config_file.clone();
    let located = search.locate()?;
    let from = match &located.source {
        Source::Flag => "--data-dir".to_owned(),
        Source::Env => crate::location::DATA_DIR_ENV.to_owned(),
        Source::Cortexrc { path } => path.display().to_string(),
        Source::Default => "the default location".to_owned(),
    };
    let config = located.config_file();
    Ok(Resolved {
        place: Place::Folder(located.data_dir),
        from: Some(from),
        config,
    })
}

/// Resolves a step given by full name or a unique part of it.
pub fn step_name(given: &str) -> Result<String> {
    let steps = Migrator::steps();
    if let Some(s) = steps.iter().find(|s| s.name() == given) {
        return Ok(s.name().to_owned());
    }
    let matches: Vec<&str> = steps
        .iter()
        .map(|s| s.name())
        .filter(|n| n.contains(given))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Error::Usage(format!(
            "there is no step like `{given}`; `cortex-migrate status` lists them"
        ))),
        many => Err(Error::Usage(format!(
            "`{given}` matches {} steps ({}); give more of the name",
            many.len(),
            many.join(", ")
        ))),
    }
}

fn options(cli: &Cli, place: &Place, config: Option<&Path>) -> Options {
    Options {
        config_file: config.map(Path::to_path_buf),
        data_dir: place.data_dir().map(PathBuf::from),
        progress: match cli.progress {
            ProgressMode::Json => render::json_lines_sink(),
            ProgressMode::Bars => render::progress_sink(cli.json),
            ProgressMode::None => migration::toolkit::ProgressSink::default(),
        },
        lock_timeout: cli.lock_timeout.map(Duration::from_secs),
        keep_backups: cli.keep_backups,
    }
}

fn emit<T: serde::Serialize>(cli: &Cli, value: &T, human: impl FnOnce() -> String) -> Result<()> {
    if cli.progress == ProgressMode::Json {
        let value = serde_json::to_value(value)
            .map_err(|e| Error::Usage(format!("cannot encode the output as JSON: {e}")))?;
        render::json_line("result", value);
    } else if cli.json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::Usage(format!("cannot encode the output as JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", human());
    }
    Ok(())
}

/// What `up` creates in a data folder before its first step: cortex.db and
/// the migrator's state folder, where they did not exist.
struct Created {
    db: Option<PathBuf>,
    state: Option<PathBuf>,
}

impl Created {
    fn before(place: &Place) -> Created {
        let missing = |p: PathBuf| (!p.exists()).then_some(p);
        Created {
            db: place.db_file().and_then(missing),
            state: place
                .data_dir()
                .map(|d| {
                    migration::toolkit::StateDir::in_folder(d)
                        .path()
                        .to_path_buf()
                })
                .and_then(missing),
        }
    }

    /// Removes them again (a run refused before its first step).
    fn undo(self) {
        if let Some(db) = self.db {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = db.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
        if let Some(state) = self.state {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

async fn runner<'c>(
    cli: &Cli,
    db: &'c DatabaseConnection,
    place: &Place,
    config: Option<&Path>,
) -> Result<Runner<'c>> {
    Ok(Runner::new(db, Migrator::steps(), options(cli, place, config)).await?)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Sample(args) => return sample(&cli, args).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "cortex-migrate", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            return clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Error::Usage(format!("cannot write the manual page: {e}")));
        }
        _ => {}
    }
    let Resolved {
        place,
        from,
        config,
    } = resolve(&cli)?;
    // A restore that died half-way replaced cortex.db; it is settled before
    // anything looks at the database.
    if let Some(dir) = place.data_dir().filter(|d| d.is_dir())
        && let Some((what, done)) =
            connect::recover_interrupted_restore(dir, cli.lock_timeout.map(Duration::from_secs))
                .await?
    {
        eprintln!(
            "recovered the interrupted {what}: {}",
            if done { "completed" } else { "undone" }
        );
    }
    match &cli.command {
        Command::Status => {
            let out = inspect::status(&place, config.as_deref()).await?;
            emit(&cli, &out, || {
                render::status(&out.status, from.as_deref(), out.found.as_deref())
            })
        }
        Command::Up(args) => {
            let target = match &args.to {
                Some(t) => Target::To(step_name(t)?),
                None => Target::All,
            };
            let created = Created::before(&place);
            let db = connect::open(&place, true).await?;
            let mut r = runner(&cli, &db, &place, config.as_deref()).await?;
            let outcome = r.up(target).await;
            drop(r);
            let report = match outcome {
                Ok(report) => report,
                Err(e) => {
                    if matches!(e, MigrateError::UnknownLayout { .. }) {
                        // Refused before any step ran: the folder is left
                        // exactly as it was found.
                        db.close().await.ok();
                        created.undo();
                    }
                    return Err(e.into());
                }
            };
            emit(&cli, &report, || render::report(&report))
        }
        Command::Down(args) => {
            let target = match (&args.to, args.steps) {
                (Some(t), _) if t == "0" || t == "none" => Target::Nothing,
                (Some(t), _) => Target::To(step_name(t)?),
                (None, Some(n)) => Target::Count(n),
                (None, None) => {
                    return Err(Error::Usage("down needs --to STEP or --steps N".into()));
                }
            };
            let db = connect::open(&place, false).await?;
            let mut r = runner(&cli, &db, &place, config.as_deref()).await?;
            let archiving = r.down_would_archive(&target).await?;
            if !archiving.is_empty() && !args.yes && !confirm(&archiving)? {
                return Err(Error::Usage("cancelled; nothing was changed".into()));
            }
            let report = r.down(target).await?;
            emit(&cli, &report, || render::report(&report))
        }
        Command::Plan(args) => {
            let direction = if args.direction == "down" {
                Direction::Down
            } else {
                Direction::Up
            };
            let target = match (&args.to, args.steps, direction) {
                (Some(t), _, Direction::Down) if t == "0" || t == "none" => Target::Nothing,
                (Some(t), _, _) => Target::To(step_name(t)?),
                (None, Some(n), _) => Target::Count(n),
                (None, None, Direction::Up) => Target::All,
                (None, None, Direction::Down) => Target::Count(1),
            };
            let (db, place) = if place.db_exists() {
                (connect::open(&place, false).await?, place)
            } else {
                // No cortex.db yet: plan against an empty database, with
                // the data folder if there is one (files of a build from
                // before cortex.db are adopted).
                (
                    inspect::empty_database().await?,
                    inspect::without_database(&place),
                )
            };
            let mut r = runner(&cli, &db, &place, config.as_deref()).await?;
            let planned = r.plan(direction, &target).await?;
            let mysql = r.backend() == sea_orm::DbBackend::MySql;
            emit(&cli, &planned, || render::plan(&planned, mysql))
        }
        Command::Recover(args) => {
            let db = connect::open(&place, false).await?;
            let mut r = runner(&cli, &db, &place, config.as_deref()).await?;
            let mut report = r.prepare().await?;
            report.steps = r.recover_half_done(args.complete).await?;
            emit(&cli, &report, || render::report(&report))
        }
        Command::Verify => {
            let v = inspect::verify(&place, cli.engine_path.as_deref()).await?;
            emit(&cli, &v, || render::verification(&v))?;
            match v.drift() {
                Some(drift) => Err(drift),
                None => Ok(()),
            }
        }
        Command::Backups(BackupsCommand::List) => {
            let dir = folder_of(&place)?;
            let list = backups::list(&dir)?;
            emit(&cli, &list, || render::backups(&list))
        }
        Command::Restore(args) => {
            let dir = folder_of(&place)?;
            let manifest = backups::find(&dir, &args.backup)?;
            let on_wait = |msg: &str| eprintln!("{msg}");
            let _lock =
                FolderLock::acquire(&dir, cli.lock_timeout.map(Duration::from_secs), &on_wait)
                    .await?;
            // Checked under the lock, so no migrator writes in between;
            // the restore checks every file of the backup before it
            // changes anything.
            if !args.discard_newer {
                backups::refuse_newer_writes(&dir, &manifest).await?;
            }
            let restored = backups::restore(&dir, &manifest)?;
            emit(&cli, &restored, || render::restored(&restored))
        }
        Command::Sample(_) | Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// The data folder of a place; backups exist only for data folders.
fn folder_of(place: &Place) -> Result<DataDir> {
    match place.data_dir() {
        Some(d) if d.is_dir() => Ok(DataDir::new(d)?),
        Some(d) => Err(Error::NoDataFolder { path: d.to_path_buf() }),
        None => Err(Error::Usage(
            "backups are kept in a data folder; pass --data-dir (server databases are backed up by their own tools)".into(),
        )),
    }
}

async fn sample(cli: &Cli, args: &SampleArgs) -> Result<()> {
    let mut spec = if args.fresh_install {
        crate::sample::SampleSpec::fresh_install(args.cortex_version)
    } else {
        crate::sample::SampleSpec::new(args.cortex_version)
    };
    spec.models = args.models;
    let home = crate::sample::write(&spec, &args.home).await?;
    emit(
        cli,
        &serde_json::json!({ "home": home.home, "data_dir": home.data, "cortex_version": spec.version }),
        || {
            // The paths as the user wrote them, not made absolute.
            let data = args.home.join("cortexcpp");
            format!(
                "wrote a cortex.cpp v{} home in {}\ndata folder   {}\ntry           cortex-migrate --data-dir {} status\n",
                spec.version,
                args.home.display(),
                data.display(),
                data.display()
            )
        },
    )
}

/// Asks before a down that archives data; refuses without a terminal.
fn confirm(steps: &[String]) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "rolling back {} moves data into archive tables; pass --yes to confirm",
            steps.join(", ")
        )));
    }
    eprint!(
        "Rolling back {} keeps the dropped columns and tables in archive tables \
         (the next `up` restores them). Continue? [y/N] ",
        steps.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
