//! `hardware`: the GPUs Cortex has seen, and which of them it may use.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "hardware")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub uuid: String,
    #[sea_orm(column_type = "Text")]
    pub r#type: String,
    pub hardware_id: i32,
    pub software_id: i32,
    /// 0 or 1 (a CHECK constraint keeps it so).
    pub activated: i32,
    pub priority: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
