//! Categories that tickets belong to.

use crate::nullable::Nullable;
use std::sync::Arc;

use domain::categories as dc;
use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// A category.
#[derive(Debug, Clone, Object)]
pub struct Category {
    /// Identifier.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What belongs here.
    pub description: String,
    /// Sort position (ascending).
    pub position: i32,
    /// The support member who owns it (new tickets fall back to them for assignment).
    pub owner_id: Nullable<i64>,
}

impl From<dc::Category> for Category {
    fn from(c: dc::Category) -> Self {
        Self {
            id: c.id.get(),
            name: c.name.as_str().to_owned(),
            description: c.description,
            position: c.position,
            owner_id: Nullable(c.owner_id.map(|o| o.get())),
        }
    }
}

/// A category's owner to set (`null` clears it).
#[derive(Debug, Object)]
pub struct CategoryOwner {
    /// An active support member's account id, or `null`.
    pub owner_id: Nullable<i64>,
}

/// `PUT /categories/{id}/owner` succeeded.
#[derive(ApiResponse)]
pub enum CategoryResponse {
    /// The category as it is now.
    #[oai(status = 200)]
    Ok(Json<Category>),
}

error_set!(
    /// Errors of `PUT /categories/{id}/owner`.
    SetOwnerErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);

/// A category to create.
#[derive(Debug, Object)]
pub struct NewCategory {
    /// Unique name: 2–60 characters, no control characters.
    pub name: Text<text::CategoryName>,
    /// What belongs here: at most 500 characters.
    pub description: Option<Text<text::CategoryDescription>>,
    /// Sort position; after the last category when absent.
    pub position: Option<i32>,
}

/// `GET /categories` succeeded.
#[derive(ApiResponse)]
pub enum CategoriesResponse {
    /// Every category by position, then name.
    #[oai(status = 200)]
    Ok(Json<Vec<Category>>),
}

/// `POST /categories` succeeded.
#[derive(ApiResponse)]
pub enum CreateCategoryResponse {
    /// The category was created.
    #[oai(status = 201)]
    Created(Json<Category>),
}

error_set!(
    /// Errors of `GET /categories`.
    ListCategoriesErrors = [401, 403, 500]
);
error_set!(
    /// Errors of `POST /categories`.
    CreateCategoryErrors = [400, 401, 403, 409, 413, 415, 422, 500]
);

/// Categories.
pub struct CategoryApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Categories")]
impl CategoryApi {
    /// List categories
    #[oai(path = "/categories", method = "get", operation_id = "list_categories")]
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
    ) -> Result<CategoriesResponse, Failure<ListCategoriesErrors>> {
        let categories = app.categories.list(&auth.0.principal).await?;
        Ok(CategoriesResponse::Ok(Json(categories.into_iter().map(Into::into).collect())))
    }

    /// Create a category
    ///
    /// Admins only.
    #[oai(path = "/categories", method = "post", operation_id = "create_category")]
    async fn create(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<NewCategory>,
    ) -> Result<CreateCategoryResponse, Failure<CreateCategoryErrors>> {
        let NewCategory { name, description, position } = body.0;
        let category = app
            .categories
            .create(&auth.0.principal, name.as_str(), description.as_ref().map_or("", Text::as_str), position)
            .await?;
        Ok(CreateCategoryResponse::Created(Json(category.into())))
    }

    /// Set a category's owner
    ///
    /// Admins only. The owner is the support member new tickets of the category fall back to
    /// when nobody resolved similar ones recently. An `owner_id` no account has is 404
    /// `account_not_found`; an account that is not an active support member, 409
    /// `not_assignable`.
    #[oai(path = "/categories/:id/owner", method = "put", operation_id = "set_category_owner")]
    async fn set_owner(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The category's id.
        id: poem_openapi::param::Path<i64>,
        body: Json<CategoryOwner>,
    ) -> Result<CategoryResponse, Failure<SetOwnerErrors>> {
        let owner = body.0.owner_id.0.map(domain::accounts::UserId::new);
        let category = app.categories.set_owner(&auth.0.principal, dc::CategoryId::new(id.0), owner).await?;
        Ok(CategoryResponse::Ok(Json(category.into())))
    }
}
