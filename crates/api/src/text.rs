//! Request strings and lists whose limits the OpenAPI document states and the domain checks.
//!
//! [`Text<R>`] is a `String` on the wire and in the handlers; its schema carries what rule
//! `R` says (a `pattern`, `minLength`, `maxLength` or `enum`), most of them the domain's own
//! [`domain::text::Pattern`]s. [`Items<T, MAX>`] is a list with a `maxItems`. Neither checks
//! anything while parsing: the domain refuses what the rule excludes, with its precise error
//! (`422 too_short`, `invalid_email`, ...), as [`crate::nullable::InRange`] does for numbers.
//! So the document says exactly what is accepted, and generated tests (schemathesis) can
//! tell a refusal of good input from a refusal of bad input.

use std::{borrow::Cow, fmt, marker::PhantomData};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// What the document says about a [`Text`].
pub trait Rule: Send + Sync + 'static {
    /// A name for the schema type (not published).
    const NAME: &'static str;

    /// Adds the rule to a string schema.
    fn describe(schema: &mut MetaSchema);
}

/// A request string the document constrains by `R`; see the module documentation.
pub struct Text<R>(pub String, PhantomData<fn() -> R>);

impl<R> Text<R> {
    /// The string as sent.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// The string as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<R> From<String> for Text<R> {
    fn from(value: String) -> Self {
        Self(value, PhantomData)
    }
}

impl<R> fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<R> Clone for Text<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<R> Default for Text<R> {
    fn default() -> Self {
        Self(String::new(), PhantomData)
    }
}

impl<R: Rule> Type for Text<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        format!("string_{}", R::NAME).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        R::describe(&mut schema);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<R: Rule> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value).map(Self::from).map_err(ParseError::propagate)
    }
}

impl<R: Rule> ParseFromParameter for Text<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        String::parse_from_parameter(value).map(Self::from).map_err(ParseError::propagate)
    }
}

impl<R: Rule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A request list of at most `MAX` items (`maxItems`); the domain refuses longer ones.
#[derive(Debug, Clone)]
pub struct Items<T, const MAX: usize>(pub Vec<T>);

impl<T, const MAX: usize> Default for Items<T, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Type, const MAX: usize> Type for Items<T, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Vec<T>;

    type RawElementValueType = T::RawValueType;

    fn name() -> Cow<'static, str> {
        format!("[{}]_at_most_{MAX}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            max_items: Some(MAX),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Vec<T>> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(Type::as_raw_value))
    }
}

impl<T: ParseFromJSON, const MAX: usize> ParseFromJSON for Items<T, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<T>::parse_from_json(value).map(Self).map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, const MAX: usize> ToJSON for Items<T, MAX> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

impl<R, const MAX: usize> Items<Text<R>, MAX> {
    /// The strings as sent.
    pub fn into_strings(self) -> Vec<String> {
        self.0.into_iter().map(Text::into_inner).collect()
    }
}

/// Declares a [`Rule`].
macro_rules! rule {
    ($(#[$meta:meta])* $name:ident, |$schema:ident| $describe:expr) => {
        $(#[$meta])*
        pub enum $name {}

        impl Rule for $name {
            const NAME: &'static str = stringify!($name);

            fn describe($schema: &mut MetaSchema) {
                $describe
            }
        }
    };
}

/// The source of a domain pattern, for a schema.
fn pattern(pattern: &'static domain::text::Pattern) -> Option<String> {
    Some(pattern.source().to_owned())
}

rule!(
    /// A ticket's title.
    Title,
    |s| s.pattern = pattern(&domain::tickets::TITLE)
);
rule!(
    /// A ticket's description (Markdown).
    Description,
    |s| {
        s.pattern = pattern(&domain::tickets::DESCRIPTION);
        s.max_length = Some(domain::tickets::Description::MAX_CHARS);
    }
);
rule!(
    /// An answer, a reply's body or an FAQ entry's answer (Markdown, not blank).
    Markdown,
    |s| {
        s.pattern = pattern(&domain::tickets::ANSWER);
        s.max_length = Some(domain::tickets::Description::MAX_CHARS);
    }
);
rule!(
    /// A tag, as sent (normalised by the domain).
    Tag,
    |s| s.pattern = pattern(&domain::tickets::TAG)
);
rule!(
    /// An email address to register or to send a confirmation link to.
    Email,
    |s| {
        s.pattern = pattern(&domain::accounts::EMAIL);
        s.max_length = Some(domain::accounts::Email::MAX_LEN);
    }
);
rule!(
    /// A display name.
    DisplayName,
    |s| s.pattern = pattern(&domain::accounts::DISPLAY_NAME)
);
rule!(
    /// A new password.
    Password,
    |s| {
        s.min_length = Some(domain::accounts::Password::MIN_CHARS);
        s.max_length = Some(domain::accounts::Password::MAX_CHARS);
        s.format = Some("password");
    }
);
rule!(
    /// A reason (rejecting, deactivating, reopening).
    Reason,
    |s| s.pattern = pattern(&domain::accounts::REASON)
);
rule!(
    /// A category's name.
    CategoryName,
    |s| s.pattern = pattern(&domain::categories::NAME)
);
rule!(
    /// A category's description.
    CategoryDescription,
    |s| s.pattern = pattern(&domain::categories::DESCRIPTION)
);
rule!(
    /// An FAQ question or an alternative wording of it.
    Question,
    |s| s.pattern = pattern(&domain::faq::QUESTION)
);
rule!(
    /// Search words (`q`).
    Search,
    |s| s.pattern = pattern(&domain::text::SEARCH)
);
rule!(
    /// The token of an email confirmation link.
    ConfirmationToken,
    |s| s.pattern = pattern(&domain::accounts::CONFIRMATION_TOKEN)
);
rule!(
    /// A one-click unsubscribe token.
    UnsubscribeToken,
    |s| s.pattern = pattern(&domain::notifications::UNSUBSCRIBE_TOKEN)
);
rule!(
    /// The cursor of the account listing.
    AccountCursor,
    |s| s.pattern = pattern(&domain::page::ACCOUNT_CURSOR)
);
rule!(
    /// The cursor of the inbox.
    NotificationCursor,
    |s| s.pattern = pattern(&domain::page::NOTIFICATION_CURSOR)
);
rule!(
    /// The cursor of a ticket listing (the same for every order, and for the queue).
    TicketCursor,
    |s| s.pattern = pattern(&domain::tickets::TICKET_CURSOR)
);
rule!(
    /// A delivery channel's name.
    Channel,
    |s| {
        s.enum_items =
            domain::notifications::Channel::all().into_iter().map(|c| Value::from(c.as_str())).collect();
    }
);
rule!(
    /// The title of a draft, for suggestions.
    DraftTitle,
    |s| s.max_length = Some(domain::similarity::Draft::MAX_TITLE_CHARS)
);
/// The most characters of a draft's description in a query (`GET /tickets/similar`): with
/// the title's 1,000, a URL stays under the 64 KiB that HTTP servers read (hyper answers
/// longer ones with 414 before any route sees them), even when every character is
/// percent-encoded from four bytes (12 characters each).
pub const QUERY_DESCRIPTION_MAX_CHARS: usize = 4_000;

rule!(
    /// The description of a draft in a query.
    QueryDescription,
    |s| s.max_length = Some(QUERY_DESCRIPTION_MAX_CHARS)
);
rule!(
    /// The description of a draft, for suggestions.
    DraftDescription,
    |s| s.max_length = Some(domain::tickets::Description::MAX_CHARS)
);

rule!(
    /// A chat webhook's URL: `https`, a host and a path, one line. Which hosts are allowed is
    /// the deployment's setting (`OSTS_CHAT_WEBHOOK_HOSTS`), checked by the domain.
    WebhookUrl,
    |s| {
        s.pattern = Some(r"^https://[^\s/?#@]+/\S*$".to_owned());
        s.max_length = Some(2048);
    }
);

rule!(
    /// A forum username (an optional leading `@`).
    ForumUsername,
    |s| s.pattern = pattern(&domain::forum::FORUM_USERNAME)
);
rule!(
    /// The cursor of the most active threads.
    ActivityCursor,
    |s| s.pattern = pattern(&domain::forum::ACTIVITY_CURSOR)
);

/// A ticket's tags as sent: at most five.
pub type Tags = Items<Text<Tag>, { domain::tickets::Tags::MAX }>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_carries_the_rule_and_parsing_takes_any_string() {
        let MetaSchemaRef::Inline(schema) = Text::<Email>::schema_ref() else { panic!("inline") };
        assert_eq!(schema.pattern.as_deref(), Some(domain::accounts::EMAIL.source()));
        assert_eq!(schema.max_length, Some(254));
        let parsed = Text::<Email>::parse_from_json(Some(Value::from("not an address"))).unwrap();
        assert_eq!(parsed.as_str(), "not an address", "the domain decides");
        let MetaSchemaRef::Inline(tags) = Tags::schema_ref() else { panic!("inline") };
        assert_eq!(tags.max_items, Some(5));
        let six = Tags::parse_from_json(Some(serde_json::json!(["a", "b", "c", "d", "e", "f"]))).unwrap();
        assert_eq!(six.into_strings().len(), 6, "the domain decides");
    }
}
