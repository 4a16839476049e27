//! The bench's table: a row is one measurement repeated N times (median,
//! min and max), with its target and whether the median meets it; the
//! whole table is printed and, on a full run, written into the README
//! between its markers, so no figure there is copied by hand.

use std::path::Path;
use std::time::Duration;

/// What a row's values are.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Seconds, printed as ms.
    Time,
    /// A ratio to another measurement of the same run.
    Ratio,
    /// KiB of peak resident memory, printed as MiB.
    Memory,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Time if v >= 1.0 => format!("{v:.2} s"),
            Unit::Time => format!("{:.2} ms", v * 1000.0),
            Unit::Ratio => format!("{v:.2}x"),
            Unit::Memory => format!("{:.1} MiB", v / 1024.0),
        }
    }
}

/// A target the median must meet (never a failure of the bench: machines
/// here are noisy; the row says whether it was met).
#[derive(Clone, Copy)]
pub enum Target {
    AtMost(f64),
    Below(f64),
}

/// One measurement, repeated.
pub struct Row {
    pub label: String,
    pub unit: Unit,
    pub values: Vec<f64>,
    pub target: Option<Target>,
    /// Something else the row shows (what was compared, an inode check).
    pub note: String,
}

impl Row {
    pub fn new(label: impl Into<String>, unit: Unit, values: Vec<f64>) -> Row {
        assert!(!values.is_empty(), "a row needs at least one run");
        Row {
            label: label.into(),
            unit,
            values,
            target: None,
            note: String::new(),
        }
    }

    pub fn times(label: impl Into<String>, values: &[Duration]) -> Row {
        Row::new(
            label,
            Unit::Time,
            values.iter().map(Duration::as_secs_f64).collect(),
        )
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    pub fn median(&self) -> f64 {
        median(&self.values)
    }

    fn met(&self) -> Option<bool> {
        let m = self.median();
        self.target.map(|t| match t {
            Target::AtMost(x) => m <= x,
            Target::Below(x) => m < x,
        })
    }

    fn target_text(&self) -> String {
        match self.target {
            None => "-".to_owned(),
            Some(Target::AtMost(x)) => format!("≤ {}", self.unit.show(x)),
            Some(Target::Below(x)) => format!("< {}", self.unit.show(x)),
        }
    }
}

/// The median of `values` (the lower middle of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// The table as markdown.
pub fn render(rows: &[Row], header: &str) -> String {
    let mut out = format!(
        "{header}\n\n| measurement | N | median | min | max | target | met |\n|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let min = r.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let met = match r.met() {
            None => "-",
            Some(true) => "yes",
            Some(false) => "**no**",
        };
        let label = if r.note.is_empty() {
            r.label.clone()
        } else {
            format!("{} ({})", r.label, r.note)
        };
        out.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {met} |\n",
            r.values.len(),
            r.unit.show(r.median()),
            r.unit.show(min),
            r.unit.show(max),
            r.target_text(),
        ));
    }
    out
}

pub const BEGIN: &str = "<!-- ratios:begin (written by `cargo bench --bench ratios`) -->";
pub const END: &str = "<!-- ratios:end -->";

/// Replaces the block between the README's markers with `table`.
pub fn write_readme(readme: &Path, table: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(readme)
        .map_err(|e| format!("reading {}: {e}", readme.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} has no `{BEGIN}` … `{END}` block to replace",
            readme.display()
        ));
    };
    if e < b {
        return Err(format!("{}: the end marker comes first", readme.display()));
    }
    let new = format!("{}{BEGIN}\n{table}{}", &text[..b], &text[e..]);
    std::fs::write(readme, new).map_err(|e| format!("writing {}: {e}", readme.display()))
}
