//! `hardware`: the GPUs Cortex has seen, and which of them it may use
//! (`activated` is 0 or 1; a CHECK constraint keeps it so).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hardware")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub uuid: String,
    #[sea_orm(column_type = "Text")]
    pub r#type: String,
    pub hardware_id: i64,
    pub software_id: i64,
    pub activated: i64,
    pub priority: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
