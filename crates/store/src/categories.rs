//! Categories.

use async_trait::async_trait;
use domain::categories::*;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::categories;
use crate::{id32, is_unique_violation, Store};

impl TryFrom<categories::Model> for Category {
    type Error = anyhow::Error;

    fn try_from(m: categories::Model) -> anyhow::Result<Self> {
        Ok(Category {
            id: CategoryId::new(m.id.into()),
            name: CategoryName::parse(&m.name).map_err(|e| anyhow::anyhow!("stored category name invalid: {e}"))?,
            description: m.description,
            position: m.position,
            owner_id: m.owner_id.map(|o| domain::accounts::UserId::new(o.into())),
        })
    }
}

#[async_trait]
impl CategoryRepository for Store {
    async fn list(&self) -> anyhow::Result<Vec<Category>> {
        categories::Entity::find()
            .order_by_asc(categories::Column::Position)
            .order_by_asc(categories::Column::NameKey)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Category::try_from)
            .collect()
    }

    async fn find(&self, id: CategoryId) -> anyhow::Result<Option<Category>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        categories::Entity::find_by_id(id).one(&self.db).await?.map(Category::try_from).transpose()
    }

    async fn insert(&self, category: NewCategory) -> Result<Category, InsertCategoryError> {
        let model = categories::ActiveModel {
            name: Set(category.name.as_str().to_owned()),
            name_key: Set(category.name.as_str().to_lowercase()),
            description: Set(category.description),
            position: Set(category.position),
            owner_id: Set(None),
            ..Default::default()
        };
        let tx = self.write().await.map_err(|e| InsertCategoryError::Unknown(e.into()))?;
        let inserted = match model.insert(&*tx).await {
            Ok(m) => m,
            Err(e) if is_unique_violation(&e) => return Err(InsertCategoryError::Duplicate),
            Err(e) => return Err(InsertCategoryError::Unknown(e.into())),
        };
        tx.commit().await.map_err(|e| InsertCategoryError::Unknown(e.into()))?;
        Ok(Category::try_from(inserted)?)
    }

    async fn set_owner(
        &self,
        id: CategoryId,
        owner: Option<domain::accounts::UserId>,
    ) -> anyhow::Result<Option<Category>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        let owner = owner.map(|o| id32(o.get()).ok_or_else(|| anyhow::anyhow!("owner id out of range"))).transpose()?;
        let tx = self.write().await?;
        categories::Entity::update_many()
            .col_expr(categories::Column::OwnerId, sea_orm::sea_query::Expr::value(owner))
            .filter(sea_orm::ColumnTrait::eq(&categories::Column::Id, id))
            .exec(&*tx)
            .await?;
        let row = categories::Entity::find_by_id(id).one(&*tx).await?;
        tx.commit().await?;
        row.map(Category::try_from).transpose()
    }
}
