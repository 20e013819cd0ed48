//! Submitted forms and the field errors shown after a refused submit.

use std::collections::BTreeMap;

/// A form's fields as sent (urlencoded or multipart text parts), in order.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of a field, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Messages per field, shown next to the field; `form` is for the form as a whole.
#[derive(Debug, Default, Clone)]
pub struct Errors(BTreeMap<String, String>);

impl Errors {
    /// No errors.
    pub fn none() -> Self {
        Self::default()
    }

    /// One error.
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::default();
        e.add(field, message);
        e
    }

    /// Adds an error (the first one per field stays).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_insert_with(|| capitalise(&message.into()));
    }

    /// The message for a field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Whether there is any error.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// `true` as text when the field has an error (for `aria-invalid`).
    pub fn invalid(&self, field: &str) -> &'static str {
        if self.0.contains_key(field) {
            "true"
        } else {
            "false"
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_and_encoded() {
        let f = Fields(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(f.get("a"), Some("1"));
        assert!(!f.checked("b"));
        assert_eq!(encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
        let e = Errors::one("title", "title must not be empty");
        assert_eq!(e.get("title"), Some("Title must not be empty"));
        assert_eq!(e.invalid("title"), "true");
        assert_eq!(e.invalid("x"), "false");
    }
}
