//! `files`: files uploaded through Cortex's OpenAI-style files API; the
//! bytes live in the data folder's `files/`. `created_at` is seconds since
//! the epoch (cortex.cpp binds it as text; SQLite's INTEGER affinity stores
//! it as a number); `bytes` is 64-bit, since uploads can pass 2 GiB.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub object: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub purpose: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub filename: Option<String>,
    pub created_at: Option<i64>,
    pub bytes: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
