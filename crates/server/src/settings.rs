//! One `Settings` type, read from an optional TOML file and then `OSTS_*` environment
//! variables (the environment wins). Secrets are wrapped so they never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub mod docs;

/// How logs are written.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A feature switch written `on` or `off`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// Enabled (the default).
    #[default]
    On,
    /// Disabled.
    Off,
}

/// Everything the binary can be configured with.
#[derive(Debug, Deserialize)]
pub struct Settings {
    /// Address to listen on (`OSTS_BIND`).
    #[serde(default = "defaults::bind")]
    pub bind: SocketAddr,
    /// A separate address serving only `GET /metrics` (`OSTS_METRICS_BIND`). Unset: metrics
    /// are served on the main port when it binds to loopback, and nowhere otherwise.
    #[serde(default)]
    pub metrics_bind: Option<SocketAddr>,
    /// Database URL (`OSTS_DATABASE_URL`): `sqlite://path?mode=rwc` or `postgres://...`.
    /// Defaults to `osts.db` in the data directory. Secret, as it may hold a password.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    /// Where osts keeps its files (`OSTS_DATA_DIR`).
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Pooled database connections (`OSTS_DB_MAX_CONNECTIONS`).
    #[serde(default = "defaults::db_max_connections")]
    pub db_max_connections: u32,
    /// Hours a sign-in lasts (`OSTS_SESSION_TTL_HOURS`).
    #[serde(default = "defaults::session_ttl_hours")]
    pub session_ttl_hours: u32,
    /// Sign-in attempts per account from one client address per minute
    /// (`OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT`).
    #[serde(default = "defaults::login_per_account")]
    pub login_attempts_per_account: u32,
    /// Sign-in attempts per client address per minute (`OSTS_LOGIN_ATTEMPTS_PER_ADDRESS`).
    #[serde(default = "defaults::login_per_address")]
    pub login_attempts_per_address: u32,
    /// Sign-in attempts per account from all addresses together per minute
    /// (`OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_ADDRESSES`); much higher than the per-address
    /// limit, since reaching it refuses the account's owner too.
    #[serde(default = "defaults::login_per_account_all_addresses")]
    pub login_attempts_per_account_all_addresses: u32,
    /// Seconds a connection has to send a complete request head, from its opening or from
    /// its previous response, so also how long an idle keep-alive connection stays open
    /// (`OSTS_HEADER_READ_TIMEOUT_SECS`).
    #[serde(default = "defaults::header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Log filter in `tracing` syntax (`OSTS_LOG`), e.g. `info,sqlx=warn`.
    #[serde(default = "defaults::log")]
    pub log: String,
    /// `pretty` or `json` (`OSTS_LOG_FORMAT`).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Days after resolution in which the creator may reopen (`OSTS_REOPEN_DAYS`).
    #[serde(default = "defaults::reopen_days")]
    pub reopen_days: u32,
    /// Days after resolution after which a ticket closes by itself (`OSTS_AUTO_CLOSE_DAYS`).
    #[serde(default = "defaults::auto_close_days")]
    pub auto_close_days: u32,
    /// How often the auto-close job runs, in seconds (`OSTS_AUTO_CLOSE_INTERVAL_SECS`).
    #[serde(default = "defaults::auto_close_interval_secs")]
    pub auto_close_interval_secs: u64,
    /// `off` or `similar`: assign new tickets automatically (`OSTS_AUTO_ASSIGN`).
    #[serde(default)]
    pub auto_assign: AutoAssignSetting,
    /// Rank similar-ticket suggestions by meaning as well as words (`OSTS_SEMANTIC_SEARCH`,
    /// `on` or `off`). Off: lexical only, and the model is never fetched.
    #[serde(default)]
    pub semantic_search: Switch,
    /// Where the sentence-embedding model is kept (`OSTS_MODEL_DIR`); defaults to
    /// `models/all-MiniLM-L6-v2` in the data directory.
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// SMTP relay (`OSTS_SMTP_URL`): `smtp://host:25`, `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host` (TLS); unset = `.eml` files in the data dir.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    /// The emails' From (`OSTS_MAIL_FROM`).
    #[serde(default = "defaults::mail_from")]
    pub mail_from: String,
    /// The address people reach osts at, for links in emails (`OSTS_PUBLIC_URL`).
    #[serde(default = "defaults::public_url")]
    pub public_url: String,
    /// Seconds between delivery worker rounds (`OSTS_DELIVERY_INTERVAL_SECS`).
    #[serde(default = "defaults::delivery_interval_secs")]
    pub delivery_interval_secs: u64,
    /// Attempts before an email becomes a dead letter (`OSTS_DELIVERY_MAX_ATTEMPTS`).
    #[serde(default = "defaults::delivery_max_attempts")]
    pub delivery_max_attempts: u32,
    /// The hour (UTC, 0–23) at which daily digests go out (`OSTS_DIGEST_HOUR`).
    #[serde(default = "defaults::digest_hour")]
    pub digest_hour: u32,
    /// The key that signs links in emails (`OSTS_SECRET_KEY`, at least 32 characters; the
    /// same on every server). Unset: a random key is generated once into `secret-key` in the
    /// data directory (mode 0600) and reused.
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    /// Whether support members may curate the FAQ as admins do (`OSTS_SUPPORT_CAN_PUBLISH_FAQ`).
    #[serde(default)]
    pub support_can_publish_faq: bool,
    /// Email domains whose students are approved as soon as they confirm their address
    /// (`OSTS_STUDENT_EMAIL_DOMAINS`): comma-separated, exact match, case-insensitive.
    /// Empty (the default): every account waits for an admin.
    #[serde(default)]
    pub student_email_domains: String,
    /// Votes at which a ticket escalates (`OSTS_ESCALATE_VOTES`); 0 turns it off.
    #[serde(default = "defaults::escalate_votes")]
    pub escalate_votes: u32,
    /// Seconds between SLA checks (`OSTS_SLA_INTERVAL_SECS`).
    #[serde(default = "defaults::sla_interval_secs")]
    pub sla_interval_secs: u64,
    /// Messages a minute to one chat webhook (`OSTS_CHAT_REQUESTS_PER_MINUTE`).
    #[serde(default = "defaults::chat_requests_per_minute")]
    pub chat_requests_per_minute: u32,
    /// Host names chat webhooks may point at (`OSTS_CHAT_WEBHOOK_HOSTS`), comma-separated.
    #[serde(default = "defaults::chat_webhook_hosts")]
    pub chat_webhook_hosts: String,
    /// Whether chat webhooks may use plain `http` (`OSTS_CHAT_ALLOW_HTTP`; local tests only).
    #[serde(default)]
    pub chat_allow_http: bool,
    /// The Discourse forum's base URL (`OSTS_DISCOURSE_URL`); unset: the forum is off.
    #[serde(default)]
    pub discourse_url: Option<String>,
    /// An all-users admin API key of the forum (`OSTS_DISCOURSE_API_KEY`).
    #[serde(default)]
    pub discourse_api_key: Option<SecretString>,
    /// The forum user osts acts as when no osts user does (`OSTS_DISCOURSE_API_USERNAME`).
    #[serde(default = "defaults::discourse_api_username")]
    pub discourse_api_username: String,
    /// The forum group that receives private threads (`OSTS_DISCOURSE_SUPPORT_GROUP`).
    #[serde(default = "defaults::discourse_support_group")]
    pub discourse_support_group: String,
    /// The forum category of public threads (`OSTS_DISCOURSE_CATEGORY_ID`).
    #[serde(default = "defaults::discourse_category_id")]
    pub discourse_category_id: i64,
    /// The secret the forum signs its webhooks with (`OSTS_DISCOURSE_WEBHOOK_SECRET`).
    #[serde(default)]
    pub discourse_webhook_secret: Option<SecretString>,
    /// The DiscourseConnect secret (`OSTS_DISCOURSE_CONNECT_SECRET`); set: osts is the forum's
    /// sign-in provider.
    #[serde(default)]
    pub discourse_connect_secret: Option<SecretString>,
    /// Requests a minute osts makes to the forum (`OSTS_DISCOURSE_REQUESTS_PER_MINUTE`).
    #[serde(default = "defaults::discourse_requests_per_minute")]
    pub discourse_requests_per_minute: u32,
}

/// Where `GET /metrics` is served (see [`Settings::metrics_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsOn {
    /// On the main port, which binds to loopback.
    MainPort,
    /// Only on this separate address.
    Separate(SocketAddr),
    /// Nowhere: the main port is public and no separate address is set.
    Off,
}

/// `OSTS_AUTO_ASSIGN`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AutoAssignSetting {
    /// Suggest only.
    #[default]
    Off,
    /// Assign to the suggested support member.
    Similar,
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn bind() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn db_max_connections() -> u32 {
        10
    }
    pub fn session_ttl_hours() -> u32 {
        24 * 7
    }
    pub fn login_per_account() -> u32 {
        5
    }
    pub fn login_per_address() -> u32 {
        30
    }
    pub fn login_per_account_all_addresses() -> u32 {
        100
    }
    pub fn header_read_timeout_secs() -> u64 {
        10
    }
    pub fn log() -> String {
        "info,sqlx=warn,sea_orm=warn".into()
    }
    pub fn reopen_days() -> u32 {
        14
    }
    pub fn auto_close_days() -> u32 {
        7
    }
    pub fn auto_close_interval_secs() -> u64 {
        300
    }
    pub fn mail_from() -> String {
        "osts <osts@localhost>".into()
    }
    pub fn public_url() -> String {
        "http://127.0.0.1:8080".into()
    }
    pub fn delivery_interval_secs() -> u64 {
        5
    }
    pub fn delivery_max_attempts() -> u32 {
        8
    }
    pub fn digest_hour() -> u32 {
        7
    }
    pub fn escalate_votes() -> u32 {
        25
    }
    pub fn sla_interval_secs() -> u64 {
        60
    }
    pub fn chat_requests_per_minute() -> u32 {
        50
    }
    pub fn chat_webhook_hosts() -> String {
        "chat.googleapis.com".into()
    }
    pub fn discourse_api_username() -> String {
        "system".into()
    }
    pub fn discourse_support_group() -> String {
        "support".into()
    }
    pub fn discourse_requests_per_minute() -> u32 {
        50
    }
    pub fn discourse_category_id() -> i64 {
        1
    }
}

impl Settings {
    /// Reads the TOML file (if given and present) and then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            anyhow::ensure!(path.exists(), "configuration file {} does not exist", path.display());
            figment = figment.merge(Toml::file(path));
        }
        let settings: Settings = figment
            // `OSTS_CONFIG` names the file and is not a setting.
            .merge(Env::prefixed("OSTS_").ignore(&["config", "admin_password"]))
            .extract()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.session_ttl_hours >= 1, "session_ttl_hours must be at least 1");
        anyhow::ensure!(self.db_max_connections >= 1, "db_max_connections must be at least 1");
        anyhow::ensure!(self.auto_close_days >= 1, "auto_close_days must be at least 1");
        anyhow::ensure!(self.auto_close_interval_secs >= 1, "auto_close_interval_secs must be at least 1");
        anyhow::ensure!(self.delivery_interval_secs >= 1, "delivery_interval_secs must be at least 1");
        anyhow::ensure!(self.delivery_max_attempts >= 1, "delivery_max_attempts must be at least 1");
        anyhow::ensure!(self.digest_hour <= 23, "digest_hour must be an hour of the day, 0 to 23");
        anyhow::ensure!(self.sla_interval_secs >= 1, "sla_interval_secs must be at least 1");
        anyhow::ensure!(
            (1..=600).contains(&self.chat_requests_per_minute),
            "chat_requests_per_minute must be 1 to 600"
        );
        anyhow::ensure!(!self.chat_hosts().is_empty(), "chat_webhook_hosts must name at least one host");
        anyhow::ensure!(
            (1..=600).contains(&self.discourse_requests_per_minute),
            "discourse_requests_per_minute must be 1 to 600"
        );
        if let Some(url) = &self.discourse_url {
            let parsed = url::Url::parse(url).context("discourse_url is not a URL")?;
            anyhow::ensure!(matches!(parsed.scheme(), "http" | "https"), "discourse_url must be http or https");
            anyhow::ensure!(self.discourse_api_key.is_some(), "discourse_url is set: discourse_api_key is needed too");
        }
        anyhow::ensure!(
            (1..=3600).contains(&self.header_read_timeout_secs),
            "header_read_timeout_secs must be 1 to 3600"
        );
        if let Some(key) = &self.secret_key {
            credentials::SecretKey::new(key.expose_secret()).context("invalid secret_key")?;
        }
        if let Some(url) = &self.database_url {
            store::Backend::of(url.expose_secret())?;
        }
        Ok(())
    }

    /// Where `GET /metrics` is served: on `OSTS_METRICS_BIND` when set, else on the main port
    /// when it binds to loopback, else nowhere (a public bind never shows it by accident).
    pub fn metrics_on(&self) -> MetricsOn {
        match self.metrics_bind {
            Some(addr) => MetricsOn::Separate(addr),
            None if self.bind.ip().is_loopback() => MetricsOn::MainPort,
            None => MetricsOn::Off,
        }
    }

    /// The links shown to people (in emails, notifications and pages), under `OSTS_PUBLIC_URL`.
    pub fn links(&self) -> markup::Links {
        markup::Links::new(&self.public_url)
    }

    /// The Discourse forum client, when `OSTS_DISCOURSE_URL` is set.
    pub fn forum_client(&self) -> anyhow::Result<Option<discourse::ForumApi>> {
        let (Some(url), Some(key)) = (&self.discourse_url, &self.discourse_api_key) else { return Ok(None) };
        let mut config = discourse::ForumConfig::new(
            url.trim_end_matches('/'),
            key.clone(),
            &self.discourse_support_group,
            self.discourse_category_id,
        );
        config.api_username = self.discourse_api_username.clone();
        config.connect_secret = self.discourse_connect_secret.clone();
        config.requests_per_minute = self.discourse_requests_per_minute;
        Ok(Some(discourse::ForumApi::new(config).map_err(|e| anyhow::anyhow!("the Discourse forum: {e}"))?))
    }

    /// The host names chat webhooks may point at.
    pub fn chat_hosts(&self) -> Vec<String> {
        self.chat_webhook_hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect()
    }

    /// The domain services' settings.
    pub fn services(&self) -> domain::ServiceSettings {
        domain::ServiceSettings {
            session_ttl: chrono::Duration::hours(i64::from(self.session_ttl_hours)),
            workflow: domain::workflow::WorkflowSettings {
                reopen_days: self.reopen_days,
                auto_close_days: self.auto_close_days,
                auto_assign: match self.auto_assign {
                    AutoAssignSetting::Off => domain::workflow::AutoAssign::Off,
                    AutoAssignSetting::Similar => domain::workflow::AutoAssign::Similar,
                },
            },
            similarity: domain::similarity::SimilarityConfig::default(),
            faq: domain::faq::FaqSettings { support_can_publish: self.support_can_publish_faq },
            auto_approval: domain::accounts::AutoApproval::parse(&self.student_email_domains),
            forum: domain::forum::ForumSettings {
                base_url: self.discourse_url.as_ref().map(|u| u.trim_end_matches('/').to_owned()),
                api_username: self.discourse_api_username.clone(),
            },
            escalation: domain::escalation::EscalationSettings {
                vote_threshold: self.escalate_votes,
                webhooks: domain::escalation::WebhookPolicy {
                    hosts: self.chat_hosts(),
                    allow_http: self.chat_allow_http,
                },
            },
        }
    }

    /// The key that signs links in emails: `OSTS_SECRET_KEY`, or the generated one in the
    /// data directory.
    pub fn secret_key(&self) -> anyhow::Result<credentials::SecretKey> {
        credentials::load_or_create_key(self.secret_key.as_ref().map(|k| k.expose_secret()), &self.data_dir)
    }

    /// The directory of the sentence-embedding model files.
    pub fn model_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(|| self.data_dir.join("models").join("all-MiniLM-L6-v2"))
    }

    /// The database URL to use: the configured one, or an SQLite file in the data directory
    /// (created, with its directory, on first start).
    pub fn database_url(&self) -> anyhow::Result<SecretString> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
        Ok(SecretString::from(format!("sqlite://{}?mode=rwc", self.data_dir.join("osts.db").display())))
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_file_and_env_layer_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file("osts.toml", "bind = \"0.0.0.0:9000\"\nsession_ttl_hours = 2\nlog_format = \"json\"\n")?;
            jail.set_env("OSTS_SESSION_TTL_HOURS", "3");
            jail.set_env("OSTS_DATABASE_URL", "postgres://osts:hunter2@db/osts");
            let s = Settings::load(Some(Path::new("osts.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.bind.to_string(), "0.0.0.0:9000");
            assert_eq!(s.session_ttl_hours, 3, "the environment wins over the file");
            assert_eq!(s.log_format, LogFormat::Json);
            assert_eq!(s.login_attempts_per_account, 5);
            assert_eq!(s.login_attempts_per_account_all_addresses, 100);
            // The secret never prints.
            assert!(!format!("{s:?}").contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn default_database_is_a_file_in_the_data_dir() {
        Jail::expect_with(|jail| {
            jail.set_env("OSTS_DATA_DIR", "state");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.database_url().unwrap().expose_secret(), "sqlite://state/osts.db?mode=rwc");
            assert!(jail.directory().join("state").is_dir());
            Ok(())
        });
    }

    #[test]
    fn semantic_search_is_on_by_default_and_can_be_switched_off() {
        Jail::expect_with(|jail| {
            jail.set_env("OSTS_DATA_DIR", "state");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.semantic_search, Switch::On);
            assert_eq!(s.model_dir(), Path::new("state/models/all-MiniLM-L6-v2"));
            jail.set_env("OSTS_SEMANTIC_SEARCH", "off");
            jail.set_env("OSTS_MODEL_DIR", "/opt/models/minilm");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.semantic_search, Switch::Off);
            assert_eq!(s.model_dir(), Path::new("/opt/models/minilm"));
            jail.set_env("OSTS_SEMANTIC_SEARCH", "maybe");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn student_email_domains_are_a_comma_separated_list() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert!(s.services().auto_approval.domains().is_empty(), "nobody is approved automatically by default");
            jail.set_env("OSTS_STUDENT_EMAIL_DOMAINS", "Uni.edu, students.example.org");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.services().auto_approval.domains(), ["students.example.org", "uni.edu"]);
            Ok(())
        });
    }

    #[test]
    fn digest_hour_and_secret_key_are_checked_and_the_key_never_prints() {
        Jail::expect_with(|jail| {
            jail.set_env("OSTS_DATA_DIR", "state");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.digest_hour, 7);
            assert!(s.secret_key.is_none());
            jail.set_env("OSTS_SECRET_KEY", "a-key-that-is-long-enough-0123456789");
            jail.set_env("OSTS_DIGEST_HOUR", "18");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.digest_hour, 18);
            assert!(s.secret_key().is_ok());
            assert!(!format!("{s:?}").contains("long-enough"), "the key never prints");
            jail.set_env("OSTS_DIGEST_HOUR", "24");
            assert!(Settings::load(None).is_err());
            jail.set_env("OSTS_DIGEST_HOUR", "7");
            jail.set_env("OSTS_SECRET_KEY", "short");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn metrics_are_on_the_main_port_only_on_loopback_and_otherwise_only_on_their_own_bind() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.metrics_on(), MetricsOn::MainPort, "the default bind is loopback");
            jail.set_env("OSTS_BIND", "0.0.0.0:8080");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.metrics_on(), MetricsOn::Off, "never on a public bind by default");
            jail.set_env("OSTS_METRICS_BIND", "10.0.0.5:9100");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.metrics_on(), MetricsOn::Separate("10.0.0.5:9100".parse().unwrap()));
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("OSTS_DATABASE_URL", "mysql://nope");
            assert!(Settings::load(None).is_err());
            jail.set_env("OSTS_DATABASE_URL", "sqlite::memory:");
            jail.set_env("OSTS_BIND", "not an address");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }
}
