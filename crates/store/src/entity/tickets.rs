use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub category_id: i32,
    pub priority: String,
    pub status: String,
    pub creator_id: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub vote_count: i32,
    #[sea_orm(column_type = "Double")]
    pub queue_key: f64,
    pub version: i64,
    pub assignee_id: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<i32>,
    pub merged_into: Option<i32>,
    pub pre_merge_status: Option<String>,
    pub follow_up_of: Option<i32>,
    pub sla_state: String,
    pub first_response_due: Option<DateTimeUtc>,
    pub resolution_due: Option<DateTimeUtc>,
    pub first_response_at: Option<DateTimeUtc>,
    pub escalated_at: Option<DateTimeUtc>,
    pub escalated_for_votes: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
