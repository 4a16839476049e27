//! Whole-process figures, measured in one run and printed as a table: each
//! row is the median of N runs with their min and max, its target, and
//! whether the median meets it. A full run writes the table into the
//! README (between its `ratios:begin`/`ratios:end` markers); `--quick`
//! runs fewer rounds and smaller folders and writes nothing, which is what
//! CI does to keep the bench from rotting. The bench fails only when
//! something it measures fails, never on a missed target: these machines
//! are noisy, and the targets are ratios, not absolute times.
//!
//! `cargo bench --bench ratios` (`-- --quick`, `-- --no-readme`).

mod child;
/// The tests' builders of data folders from before cortex.db.
#[allow(dead_code)]
#[path = "../../tests/common"]
mod fixtures {
    pub mod generations;
}
mod sections;
mod table;

use std::path::PathBuf;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// How much a run measures.
pub struct Plan {
    pub quick: bool,
    /// Rounds of the paired boot runs.
    pub boot_rounds: usize,
    /// Runs of every other row.
    pub runs: usize,
    /// Model counts adopted from a v0 folder.
    pub adopt: Vec<usize>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        rt().block_on(child::run(&args[i + 1], &args[i + 2..]));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let plan = if quick {
        Plan {
            quick,
            boot_rounds: 5,
            runs: 2,
            adopt: vec![1_000, 10_000],
        }
    } else {
        Plan {
            quick,
            boot_rounds: 41,
            runs: 5,
            adopt: vec![1_000, 10_000, 100_000],
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    sections::boot(&plan, tmp.path(), &mut rows);
    sections::adopt(&plan, tmp.path(), &mut rows);
    sections::weights(&plan, tmp.path(), &mut rows);
    sections::backup(&plan, tmp.path(), &mut rows);

    let header = format!(
        "`cargo bench --bench ratios`{}, {}; {} cores.",
        if quick { " -- --quick" } else { "" },
        time::OffsetDateTime::now_utc().date(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let text = table::render(&rows, &header);
    println!("\n{text}");
    if !quick && !args.iter().any(|a| a == "--no-readme") {
        let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
        match table::write_readme(&readme, &text) {
            Ok(()) => println!("(written into {})", readme.display()),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}
