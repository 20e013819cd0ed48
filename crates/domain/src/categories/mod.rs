//! Admin-managed categories that tickets (and later FAQ entries) belong to.

use std::sync::Arc;

use async_trait::async_trait;

use crate::accounts::Principal;
use crate::error::{Conflict, Error};
use crate::text::{no_control, optional_text_pattern, visible, ws, Pattern};

/// A category's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryId(i64);

impl CategoryId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A category name: trimmed, 2–60 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryName(String);

/// [`CategoryName`] as a pattern.
pub static NAME: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", visible!(), no_control!(), "{0,58}", visible!(), "[", ws!(), "]*$").to_owned()
});

/// A category's description as a pattern: at most 500 characters after trimming.
pub static DESCRIPTION: Pattern = Pattern::new(|| optional_text_pattern!(498).to_owned());

/// The most characters of a category's description, after trimming.
pub const DESCRIPTION_MAX_CHARS: usize = 500;

impl CategoryName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        let n = name.chars().count();
        if !(2..=60).contains(&n) || name.chars().any(char::is_control) || !NAME.is_match(raw) {
            return Err(Error::invalid("name", "invalid_length", "category name must be 2 to 60 characters"));
        }
        Ok(Self(name.to_owned()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// Identifier.
    pub id: CategoryId,
    /// Unique name.
    pub name: CategoryName,
    /// What belongs here, for people choosing a category.
    pub description: String,
    /// Sort position in lists (ascending).
    pub position: i32,
    /// The support member who owns it: new tickets fall back to them for assignment.
    pub owner_id: Option<crate::accounts::UserId>,
}

/// A category to create.
#[derive(Debug, Clone)]
pub struct NewCategory {
    /// Unique name.
    pub name: CategoryName,
    /// What belongs here.
    pub description: String,
    /// Sort position.
    pub position: i32,
}

/// Why a category could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertCategoryError {
    /// The name is taken (case-insensitively).
    #[error("duplicate category")]
    Duplicate,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of categories.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CategoryRepository: Send + Sync {
    /// All categories by position, then name.
    async fn list(&self) -> anyhow::Result<Vec<Category>>;
    /// One category. MUST return `Ok(None)` if there is none.
    async fn find(&self, id: CategoryId) -> anyhow::Result<Option<Category>>;
    /// Stores a category. MUST return `Duplicate` if the name is taken.
    async fn insert(&self, category: NewCategory) -> Result<Category, InsertCategoryError>;
    /// Sets or clears the owner. MUST return `Ok(None)` if there is no such category.
    async fn set_owner(
        &self,
        id: CategoryId,
        owner: Option<crate::accounts::UserId>,
    ) -> anyhow::Result<Option<Category>>;
}

/// Category management.
#[derive(Clone)]
pub struct CategoryService {
    categories: Arc<dyn CategoryRepository>,
    accounts: Arc<dyn crate::accounts::AccountRepository>,
}

impl CategoryService {
    /// Wires the service to its ports.
    pub fn new(categories: Arc<dyn CategoryRepository>, accounts: Arc<dyn crate::accounts::AccountRepository>) -> Self {
        Self { categories, accounts }
    }

    /// An admin names the support member who owns a category, or clears it.
    pub async fn set_owner(
        &self,
        principal: &Principal,
        id: CategoryId,
        owner: Option<crate::accounts::UserId>,
    ) -> Result<Category, Error> {
        principal.require_admin()?;
        if let Some(owner) = owner {
            let Some(account) = self.accounts.find(owner).await? else {
                return Err(Error::UnknownReference { resource: crate::error::Resource::Account, field: "owner_id" });
            };
            if account.status != crate::accounts::AccountStatus::Active
                || account.role != crate::accounts::Role::Support
            {
                return Err(Error::Conflict(Conflict::NotAssignable(
                    "a category's owner must be an active support member",
                )));
            }
        }
        self.categories.set_owner(id, owner).await?.ok_or(Error::NotFound(crate::error::Resource::Category))
    }

    /// Every category; any active account may read them.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<Category>, Error> {
        principal.require_active()?;
        Ok(self.categories.list().await?)
    }

    /// Creates a category (admins only).
    pub async fn create(
        &self,
        principal: &Principal,
        name: &str,
        description: &str,
        position: Option<i32>,
    ) -> Result<Category, Error> {
        principal.require_admin()?;
        self.create_unchecked(name, description, position).await
    }

    /// Creates a category on an operator's behalf (seed, CLI).
    pub async fn create_unchecked(
        &self,
        name: &str,
        description: &str,
        position: Option<i32>,
    ) -> Result<Category, Error> {
        let name = CategoryName::parse(name)?;
        let trimmed = description.trim();
        if trimmed.chars().count() > DESCRIPTION_MAX_CHARS || !DESCRIPTION.is_match(description) {
            return Err(Error::invalid("description", "too_long", "description must be at most 500 characters"));
        }
        let position = match position {
            Some(p) => p,
            None => self.categories.list().await?.iter().map(|c| c.position.saturating_add(1)).max().unwrap_or(0),
        };
        self.categories.insert(NewCategory { name, description: trimmed.to_owned(), position }).await.map_err(|e| {
            match e {
                InsertCategoryError::Duplicate => Error::Conflict(Conflict::CategoryExists),
                InsertCategoryError::Unknown(e) => Error::Unknown(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::PrincipalBuilder;

    #[tokio::test]
    async fn a_new_category_goes_last_even_after_one_at_the_highest_position() {
        let mut repo = MockCategoryRepository::new();
        repo.expect_list().returning(|| {
            Ok(vec![Category {
                id: CategoryId::new(1),
                name: CategoryName::parse("Exams").unwrap(),
                description: String::new(),
                position: i32::MAX,
                owner_id: None,
            }])
        });
        repo.expect_insert().withf(|c| c.position == i32::MAX).times(1).returning(|c| {
            Ok(Category {
                id: CategoryId::new(2),
                name: c.name,
                description: c.description,
                position: c.position,
                owner_id: None,
            })
        });
        let service = CategoryService::new(Arc::new(repo), Arc::new(crate::accounts::MockAccountRepository::new()));
        let admin = PrincipalBuilder::admin(9).build();
        let created = service.create(&admin, "Exams & Grades", "", None).await.unwrap();
        assert_eq!(created.position, i32::MAX);
    }
}
