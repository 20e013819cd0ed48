//! [`Nullable`]: a response field that is always present and may be `null`, documented so.
//!
//! poem-openapi documents an `Option<T>` field as an optional `T`: absent or a `T`. Our
//! objects send `null` instead of leaving such fields out, which a strict client reading the
//! OpenAPI 3.0 document rejects. `Nullable<T>` is a required field whose schema is `T`'s with
//! `nullable: true` (for a `$ref`, `allOf: [$ref]` with `nullable: true`, the 3.0 way); its
//! JSON is exactly an `Option<T>`'s: the value, or `null`.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A value or `null`, always sent; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nullable<T>(pub Option<T>);

impl<T> From<Option<T>> for Nullable<T> {
    fn from(value: Option<T>) -> Self {
        Self(value)
    }
}

impl<T> Nullable<T> {
    /// The value, if not `null`.
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

/// `schema`, allowing `null` as well.
pub(crate) fn nullable(schema: MetaSchemaRef) -> MetaSchemaRef {
    match schema {
        MetaSchemaRef::Inline(mut schema) => {
            schema.nullable = true;
            MetaSchemaRef::Inline(schema)
        }
        reference @ MetaSchemaRef::Reference(_) => {
            MetaSchemaRef::Inline(Box::new(MetaSchema { all_of: vec![reference], nullable: true, ..MetaSchema::ANY }))
        }
    }
}

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        nullable(T::schema_ref())
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        match &self.0 {
            Some(value) => value.to_json(),
            None => Some(Value::Null),
        }
    }
}

/// In a request, the field must be there: `null` is a statement (e.g. "no assignee"), and
/// leaving the field out is refused as the document's `required` says.
impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Err(ParseError::expected_input()),
            Some(Value::Null) => Ok(Self(None)),
            Some(value) => T::parse_from_json(Some(value)).map(|v| Self(Some(v))).map_err(ParseError::propagate),
        }
    }
}

/// In a request that changes something (`PATCH`): absent leaves the value as it is, `null`
/// clears it, a value sets it. Documented as an optional field that may be `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clearable<T>(pub Option<Option<T>>);

impl<T: Type> Type for Clearable<T> {
    const IS_REQUIRED: bool = false;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("clearable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        nullable(T::schema_ref())
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(|v| v.as_ref()).and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(Some(value)) => value.raw_element_iter(),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Clearable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Self(None)),
            Some(Value::Null) => Ok(Self(Some(None))),
            Some(value) => T::parse_from_json(Some(value)).map(|v| Self(Some(Some(v)))).map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Clearable<T> {
    fn to_json(&self) -> Option<Value> {
        match &self.0 {
            None => None,
            Some(None) => Some(Value::Null),
            Some(Some(value)) => value.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Clone, Object)]
    struct Inner {
        n: i64,
    }

    #[derive(Debug, Clone, Object)]
    struct Outer {
        /// A number or null.
        number: Nullable<i64>,
        /// An object or null.
        inner: Nullable<Inner>,
    }

    #[test]
    fn json_is_an_options_and_the_schema_says_null() {
        let none = Outer { number: None.into(), inner: None.into() };
        assert_eq!(none.to_json(), Some(json!({ "number": null, "inner": null })));
        let some = Outer { number: Some(3).into(), inner: Some(Inner { n: 1 }).into() };
        assert_eq!(some.to_json(), Some(json!({ "number": 3, "inner": { "n": 1 } })));
        let parsed = Outer::parse_from_json(Some(json!({ "number": null, "inner": { "n": 2 } }))).unwrap();
        assert_eq!((parsed.number.0, parsed.inner.0.map(|i| i.n)), (None, Some(2)));
        assert!(Outer::parse_from_json(Some(json!({ "inner": null }))).is_err(), "null must be said");

        let mut registry = Registry::new();
        Outer::register(&mut registry);
        let schema = serde_json::to_value(&registry.schemas["Outer"]).unwrap();
        assert_eq!(schema["required"], json!(["number", "inner"]));
        assert_eq!(schema["properties"]["number"]["type"], "integer");
        assert_eq!(schema["properties"]["number"]["nullable"], true);
        assert_eq!(schema["properties"]["inner"]["nullable"], true);
        assert_eq!(schema["properties"]["inner"]["allOf"][0]["$ref"], "#/components/schemas/Inner");
    }
}

/// A whole number the document bounds to `MIN..=MAX` (`minimum`, `maximum`), parsed as any
/// `u32`: the domain decides about values outside (422 `out_of_range`), the document tells
/// clients and generated tests what is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InRange<const MIN: u32, const MAX: u32>(pub u32);

impl<const MIN: u32, const MAX: u32> Type for InRange<MIN, MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = u32;

    type RawElementValueType = u32;

    fn name() -> Cow<'static, str> {
        format!("integer_{MIN}_to_{MAX}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(f64::from(MIN)),
            maximum: Some(f64::from(MAX)),
            ..MetaSchema::new_with_format("integer", "uint32")
        }))
    }

    fn as_raw_value(&self) -> Option<&u32> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a u32> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MIN: u32, const MAX: u32> poem_openapi::types::ParseFromParameter for InRange<MIN, MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        <u32 as poem_openapi::types::ParseFromParameter>::parse_from_parameter(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<const MIN: u32, const MAX: u32> ParseFromJSON for InRange<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        u32::parse_from_json(value).map(Self).map_err(ParseError::propagate)
    }
}

impl<const MIN: u32, const MAX: u32> ToJSON for InRange<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A page size: 1 to [`domain::page::PageLimit::MAX`].
pub type PageSize = InRange<1, { domain::page::PageLimit::MAX }>;

/// A number of days looked back: 1 to 366.
pub type Days = InRange<1, 366>;

/// How many suggestions: 1 to 20.
pub type SuggestionCount = InRange<1, 20>;
