//! What the folder steps know about Cortex's data: `model.yml` files, the
//! rows that point at them, and statements that change many rows at once.

pub mod bulk;
pub mod model_yml;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::toolkit::paths::{DataDir, Located};
use model_yml::ModelYml;

/// The columns of a `models` row the folder steps use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub id: String,
    pub yml: Option<String>,
    pub engine: Option<String>,
}

/// Every model row, in key order.
pub async fn model_rows<C: ConnectionTrait>(conn: &C) -> Result<Vec<ModelRow>, DbErr> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT model_id, path_to_model_yaml, engine FROM models ORDER BY model_id",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ModelRow {
                id: r.try_get("", "model_id")?,
                yml: r.try_get("", "path_to_model_yaml")?,
                engine: r.try_get("", "engine")?,
            })
        })
        .collect()
}

/// A model's `model.yml`, read safely.
#[derive(Debug)]
pub enum YmlRead {
    /// Inside the data folder, readable and valid.
    Ok {
        /// Path relative to the data folder.
        rel: String,
        yml: ModelYml,
        read_only: bool,
    },
    /// Not usable; the sentence says why (for the step's notes).
    Skip(String),
}

/// Reads the `model.yml` a row points at. `None` when the row has no path
/// (catalogue entries that were never downloaded).
pub fn read_model_yml(dir: &DataDir, row: &ModelRow) -> Option<YmlRead> {
    let stored = row.yml.as_deref().filter(|p| !p.trim().is_empty())?;
    let (abs, rel) = match dir.locate(stored) {
        Located::Inside { abs, rel } => (abs, rel),
        Located::Outside { reason, .. } => {
            return Some(YmlRead::Skip(format!(
                "model {}: its model.yml `{stored}` was not touched: {reason}",
                row.id
            )));
        }
    };
    let meta = match std::fs::metadata(&abs) {
        Ok(m) => m,
        Err(e) => {
            return Some(YmlRead::Skip(format!(
                "model {}: its model.yml {} cannot be read ({e})",
                row.id,
                abs.display()
            )));
        }
    };
    let text = match std::fs::read_to_string(&abs) {
        Ok(t) => t,
        Err(e) => {
            return Some(YmlRead::Skip(format!(
                "model {}: its model.yml {} cannot be read ({e})",
                row.id,
                abs.display()
            )));
        }
    };
    match ModelYml::parse(&text) {
        Ok(yml) => Some(YmlRead::Ok {
            rel,
            yml,
            read_only: meta.permissions().readonly(),
        }),
        Err(why) => Some(YmlRead::Skip(format!(
            "model {}: its model.yml {} is {why}; left as it was",
            row.id,
            abs.display()
        ))),
    }
}
