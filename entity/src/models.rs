//! `models`: one row per model Cortex knows (downloaded, imported, remote
//! or in the catalogue), pointing at its `model.yml`. `path_to_model_yaml`
//! is relative to the data folder since October 2024; older rows may be
//! absolute, and imported models may point outside the folder.
//! `weights_bytes`, the total size of the weight files, is filled from disk
//! by a folder step and NULL when they could not be found.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "models")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub model_id: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub author_repo_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub branch_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub path_to_model_yaml: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub model_alias: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub model_format: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub model_source: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub status: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub engine: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub metadata: Option<String>,
    pub weights_bytes: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
