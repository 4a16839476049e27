//! The tables as cortex.cpp made them: each column with the version that
//! added it, the tables it made whole, and the checks that a table found
//! is one of those shapes (refusing, with the difference named, if not).

use super::refuse;
use crate::error::Result;
use crate::snapshot::{ColumnShape, TableShape};

pub(super) fn col(
    name: &str,
    ty: &str,
    not_null: bool,
    pk: i64,
    default: Option<&str>,
) -> ColumnShape {
    ColumnShape {
        name: name.to_owned(),
        decl_type: ty.to_owned(),
        not_null,
        default: default.map(str::to_owned),
        pk,
    }
}

/// (column, the cortex.cpp version that added it)
pub(super) fn models_columns() -> Vec<(ColumnShape, i64)> {
    vec![
        (col("model_id", "TEXT", false, 1, None), 0),
        (col("author_repo_id", "TEXT", false, 0, None), 0),
        (col("branch_name", "TEXT", false, 0, None), 0),
        (col("path_to_model_yaml", "TEXT", false, 0, None), 0),
        (col("model_alias", "TEXT", false, 0, None), 0),
        (col("model_format", "TEXT", false, 0, None), 1),
        (col("model_source", "TEXT", false, 0, None), 1),
        (col("status", "TEXT", false, 0, None), 1),
        (col("engine", "TEXT", false, 0, None), 1),
        (col("metadata", "TEXT", false, 0, None), 2),
    ]
}

pub(super) fn hardware_columns() -> Vec<(ColumnShape, i64)> {
    vec![
        (col("uuid", "TEXT", false, 1, None), 0),
        (col("type", "TEXT", true, 0, None), 0),
        (col("hardware_id", "INTEGER", true, 0, None), 0),
        (col("software_id", "INTEGER", true, 0, None), 0),
        (col("activated", "INTEGER", true, 0, None), 0),
        (col("priority", "INTEGER", false, 0, None), 2),
    ]
}

pub(super) fn engines_shape() -> TableShape {
    TableShape {
        name: "engines".into(),
        columns: vec![
            col("id", "INTEGER", false, 1, None),
            col("engine_name", "TEXT", false, 0, None),
            col("type", "TEXT", false, 0, None),
            col("api_key", "TEXT", false, 0, None),
            col("url", "TEXT", false, 0, None),
            col("version", "TEXT", false, 0, None),
            col("variant", "TEXT", false, 0, None),
            col("status", "TEXT", false, 0, None),
            col("metadata", "TEXT", false, 0, None),
            col("date_created", "TEXT", false, 0, Some("CURRENT_TIMESTAMP")),
            col("date_updated", "TEXT", false, 0, Some("CURRENT_TIMESTAMP")),
        ],
        autoincrement: true,
        checks: vec![],
        uniques: vec![vec!["engine_name".into(), "variant".into()]],
        indexes: vec![],
    }
}

pub(super) fn files_shape() -> TableShape {
    TableShape {
        name: "files".into(),
        columns: vec![
            col("id", "TEXT", false, 1, None),
            col("object", "TEXT", false, 0, None),
            col("purpose", "TEXT", false, 0, None),
            col("filename", "TEXT", false, 0, None),
            col("created_at", "INTEGER", false, 0, None),
            col("bytes", "INTEGER", false, 0, None),
        ],
        autoincrement: false,
        checks: vec![],
        uniques: vec![],
        indexes: vec![],
    }
}

pub(super) const CORTEX_TABLES: [&str; 5] =
    ["schema_version", "models", "hardware", "engines", "files"];
/// Checks that `shape` has a prefix of `expected` (at least `min` columns)
/// and returns how many columns it has.
pub(super) fn prefix_len(
    shape: &TableShape,
    expected: &[(ColumnShape, i64)],
    min: usize,
) -> Result<usize> {
    let n = shape.columns.len();
    let names: Vec<&str> = expected.iter().map(|(c, _)| c.name.as_str()).collect();
    if n < min || n > expected.len() {
        return Err(refuse(format!(
            "table {} has columns ({}) but cortex.cpp made it with ({})",
            shape.name,
            shape.column_names().join(", "),
            names.join(", ")
        )));
    }
    for (i, (found, (want, _))) in shape.columns.iter().zip(expected).enumerate() {
        if found != want {
            return Err(refuse(format!(
                "column {} of table {} is `{} {}{}{}` where cortex.cpp made `{} {}{}` (column {})",
                found.name,
                shape.name,
                found.name,
                found.decl_type,
                if found.pk > 0 { " PRIMARY KEY" } else { "" },
                if found.not_null { " NOT NULL" } else { "" },
                want.name,
                want.decl_type,
                if want.pk > 0 { " PRIMARY KEY" } else { "" },
                i + 1
            )));
        }
    }
    Ok(n)
}

pub(super) fn same_shape(found: &TableShape, want: &TableShape) -> Result<()> {
    if found.columns != want.columns
        || found.autoincrement != want.autoincrement
        || found.uniques != want.uniques
        || found.checks != want.checks
        || !found.indexes.is_empty()
    {
        return Err(refuse(format!(
            "table {} does not have the shape cortex.cpp gave it:\n{}expected:\n{}",
            found.name,
            found.render(),
            want.render()
        )));
    }
    Ok(())
}
