//! `osts check-config`: each feature's settings checked without starting the server, and
//! reported as on, off or broken.
//!
//! A check is an async function from the [`Settings`] to a [`Verdict`]; [`checks`] lists
//! them. A feature adding settings (the Discourse forum, the chat spaces) adds one line
//! there, `check!("OSTS_...", its_function)`, usually built from the helpers at the bottom
//! ([`url`], [`secret_needed`]).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

use crate::settings::{MetricsOn, Settings, Switch};

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The feature is on and its settings work; what it does.
    On(String),
    /// The feature is off (by choice or by default); what happens instead.
    Off(String),
    /// The settings cannot work; why.
    Broken(String),
}

impl Verdict {
    /// The word shown before the setting.
    pub fn word(&self) -> &'static str {
        match self {
            Self::On(_) => "on",
            Self::Off(_) => "off",
            Self::Broken(_) => "broken",
        }
    }

    /// The explanation.
    pub fn detail(&self) -> &str {
        match self {
            Self::On(d) | Self::Off(d) | Self::Broken(d) => d,
        }
    }
}

/// One check's future.
pub type Checking<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One check: the settings it looks at (their variables) and how.
pub struct Check {
    /// The variables, e.g. `OSTS_SMTP_URL`.
    pub setting: &'static str,
    /// The check itself.
    pub run: for<'a> fn(&'a Settings) -> Checking<'a>,
}

/// `check!("OSTS_X", function)`: a [`Check`] of an `async fn(&Settings) -> Verdict`.
macro_rules! check {
    ($setting:literal, $function:path) => {
        Check { setting: $setting, run: |settings| Box::pin($function(settings)) }
    };
}

/// Every check, in the order they are printed.
pub fn checks() -> Vec<Check> {
    vec![
        check!("OSTS_BIND", bind),
        check!("OSTS_METRICS_BIND", metrics),
        check!("OSTS_DATA_DIR", data_dir),
        check!("OSTS_DATABASE_URL", database),
        check!("OSTS_PUBLIC_URL", public_url),
        check!("OSTS_SMTP_URL", smtp),
        check!("OSTS_MAIL_FROM", mail_from),
        check!("OSTS_SECRET_KEY", secret_key),
        check!("OSTS_SEMANTIC_SEARCH", semantic),
        check!("OSTS_STUDENT_EMAIL_DOMAINS", student_domains),
        check!("OSTS_AUTO_ASSIGN", auto_assign),
        // The Discourse forum and the chat spaces add their checks here, e.g.
        // `check!("OSTS_DISCOURSE_URL", discourse)` with `url` and `secret_needed`.
    ]
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The variables checked.
    pub setting: &'static str,
    /// What was found.
    pub verdict: Verdict,
}

/// Runs every check (each within [`CHECK_TIMEOUT`]).
pub async fn run(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    for check in checks() {
        let verdict = match tokio::time::timeout(CHECK_TIMEOUT, (check.run)(settings)).await {
            Ok(verdict) => verdict,
            Err(_) => Verdict::Broken(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        findings.push(Finding { setting: check.setting, verdict });
    }
    findings
}

/// The report as printed: one aligned line per check, then what is broken, if anything.
pub fn report(findings: &[Finding]) -> String {
    let width = findings.iter().map(|f| f.setting.len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!("{:<6}  {:<width$}  {}\n", f.verdict.word(), f.setting, f.verdict.detail()));
    }
    let broken: Vec<&str> =
        findings.iter().filter(|f| matches!(f.verdict, Verdict::Broken(_))).map(|f| f.setting).collect();
    if broken.is_empty() {
        out.push_str("nothing is broken\n");
    } else {
        out.push_str(&format!("broken: {}\n", broken.join(", ")));
    }
    out
}

/// How long one check may take (a database or relay that does not answer).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

async fn bind(settings: &Settings) -> Verdict {
    let scope = if settings.bind.ip().is_loopback() {
        "loopback only: put a reverse proxy in front"
    } else if settings.bind.ip().is_unspecified() {
        "every interface"
    } else {
        "one interface"
    };
    Verdict::On(format!("listens on {} ({scope})", settings.bind))
}

async fn metrics(settings: &Settings) -> Verdict {
    match settings.metrics_on() {
        MetricsOn::MainPort => Verdict::On(format!("GET /metrics on the main port {} (loopback)", settings.bind)),
        MetricsOn::Separate(addr) => Verdict::On(format!("GET /metrics only on {addr}")),
        MetricsOn::Off => {
            Verdict::Off("the main port is not loopback: set OSTS_METRICS_BIND to serve /metrics".to_owned())
        }
    }
}

async fn data_dir(settings: &Settings) -> Verdict {
    let dir = &settings.data_dir;
    if dir.is_dir() {
        match writable(dir) {
            Ok(()) => Verdict::On(format!("{} is writable", dir.display())),
            Err(e) => Verdict::Broken(format!("{} is not writable: {e}", dir.display())),
        }
    } else if dir.exists() {
        Verdict::Broken(format!("{} is not a directory", dir.display()))
    } else {
        // The server creates it: the nearest existing ancestor must let it.
        let mut ancestor = dir.as_path();
        while !ancestor.is_dir() {
            match ancestor.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => ancestor = parent,
                _ => {
                    ancestor = Path::new(".");
                    break;
                }
            }
        }
        match writable(ancestor) {
            Ok(()) => Verdict::On(format!("{} will be created at start", dir.display())),
            Err(e) => Verdict::Broken(format!("{} cannot be created in {}: {e}", dir.display(), ancestor.display())),
        }
    }
}

/// Whether a file can be created (and removed) in `dir`.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".osts-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

async fn database(settings: &Settings) -> Verdict {
    let Some(url) = &settings.database_url else {
        let file = settings.data_dir.join("osts.db");
        if !file.exists() {
            return Verdict::On(format!("SQLite {} will be created at start", file.display()));
        }
        let url = SecretString::from(format!("sqlite://{}?mode=rw", file.display()));
        return reach(&url, &format!("SQLite {}", file.display())).await;
    };
    match store::Backend::of(url.expose_secret()) {
        Ok(store::Backend::Sqlite) => reach(url, "SQLite").await,
        Ok(store::Backend::Postgres) => reach(url, "PostgreSQL").await,
        Err(e) => Verdict::Broken(e.to_string()),
    }
}

/// Connects without migrating, asks for the migrations, closes. Never shows the URL.
async fn reach(url: &SecretString, what: &str) -> Verdict {
    let options = store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() };
    let store = match store::Store::connect_with(url.expose_secret(), options).await {
        Ok(store) => store,
        Err(e) => return Verdict::Broken(format!("{what} is not reachable: {}", without_url(&e, url))),
    };
    let verdict = match store.migration_status().await {
        Ok((applied, pending)) if pending.is_empty() => {
            Verdict::On(format!("{what} reachable, {} migrations applied", applied.len()))
        }
        Ok((applied, pending)) => Verdict::On(format!(
            "{what} reachable, {} migrations applied, {} pending (applied at start)",
            applied.len(),
            pending.len()
        )),
        Err(e) => {
            Verdict::Broken(format!("{what} answers but its migrations cannot be read: {}", without_url(&e, url)))
        }
    };
    let _ = store.close().await;
    verdict
}

/// An error's chain with the URL (which may hold a password) cut out, should a driver
/// repeat it.
fn without_url(error: &anyhow::Error, url: &SecretString) -> String {
    format!("{error:#}").replace(url.expose_secret(), "<OSTS_DATABASE_URL>")
}

async fn public_url(settings: &Settings) -> Verdict {
    url(&settings.public_url, "links in emails start with")
}

async fn smtp(settings: &Settings) -> Verdict {
    let Some(url) = &settings.smtp_url else {
        return Verdict::Off(format!(
            "emails are written as .eml files under {}",
            settings.data_dir.join("outbox-mail").display()
        ));
    };
    let mailer = match mailer::LettreMailer::smtp(url.expose_secret(), &settings.mail_from, settings.links()) {
        Ok(mailer) => mailer,
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    match mailer.check().await {
        Ok(()) => Verdict::On("the relay answered and accepted the sign-in, if any".to_owned()),
        Err(e) => Verdict::Broken(format!("{e:#}").replace(url.expose_secret(), "<OSTS_SMTP_URL>")),
    }
}

async fn mail_from(settings: &Settings) -> Verdict {
    // The mailer parses the From as it will use it (building one writes nothing).
    match mailer::LettreMailer::files(settings.data_dir.join("outbox-mail"), &settings.mail_from, settings.links()) {
        Ok(_) => Verdict::On(format!("emails come from {}", settings.mail_from)),
        Err(e) => Verdict::Broken(format!("{e:#}")),
    }
}

async fn secret_key(settings: &Settings) -> Verdict {
    if settings.secret_key.is_some() {
        // `Settings::load` already refused a short one.
        return Verdict::On("set; give every server the same".to_owned());
    }
    let file = settings.data_dir.join("secret-key");
    if file.exists() {
        Verdict::On(format!("generated in {} (with several servers, set OSTS_SECRET_KEY)", file.display()))
    } else {
        Verdict::On(format!("will be generated into {} at start", file.display()))
    }
}

async fn semantic(settings: &Settings) -> Verdict {
    match settings.semantic_search {
        Switch::Off => Verdict::Off("suggestions are ranked by words only".to_owned()),
        Switch::On => {
            let dir = settings.model_dir();
            if dir.join("model.safetensors").exists() {
                Verdict::On(format!("model in {}", dir.display()))
            } else {
                Verdict::On(format!("model fetched into {} at start (needs the network once)", dir.display()))
            }
        }
    }
}

async fn student_domains(settings: &Settings) -> Verdict {
    let domains = settings.services().auto_approval;
    if domains.domains().is_empty() {
        Verdict::Off("every new account waits for an admin".to_owned())
    } else {
        Verdict::On(format!("confirmed students of {} are approved at once", domains.domains().join(", ")))
    }
}

async fn auto_assign(settings: &Settings) -> Verdict {
    match settings.auto_assign {
        crate::settings::AutoAssignSetting::Off => Verdict::Off("assignment is suggested only".to_owned()),
        crate::settings::AutoAssignSetting::Similar => {
            Verdict::On("new tickets go to the suggested support member".to_owned())
        }
    }
}

/// An absolute `http(s)` URL with a host; `what` says what it is for.
pub fn url(value: &str, what: &str) -> Verdict {
    match ::url::Url::parse(value) {
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
            Verdict::Broken(format!("{value:?} is not an http(s) URL"))
        }
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => Verdict::Broken(format!("{value:?} has no host")),
        Ok(_) => Verdict::On(format!("{what} {value}")),
        Err(e) => Verdict::Broken(format!("{value:?} is not a URL: {e}")),
    }
}

/// A secret a switched-on feature cannot work without.
pub fn secret_needed(feature_on: bool, secret: Option<&SecretString>, name: &str) -> Verdict {
    match (feature_on, secret) {
        (false, _) => Verdict::Off("the feature is off".to_owned()),
        (true, Some(s)) if !s.expose_secret().trim().is_empty() => Verdict::On(format!("{name} is set")),
        (true, _) => Verdict::Broken(format!("the feature is on but {name} is not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_with_a_host() {
        assert!(matches!(url("https://support.uni.edu", "x"), Verdict::On(_)));
        assert!(matches!(url("support.uni.edu", "x"), Verdict::Broken(_)));
        assert!(matches!(url("ftp://support.uni.edu", "x"), Verdict::Broken(_)));
        assert!(matches!(url("http://", "x"), Verdict::Broken(_)));
    }

    #[test]
    fn a_secret_is_needed_only_by_a_feature_that_is_on() {
        let secret = SecretString::from("s3cret");
        assert_eq!(secret_needed(false, None, "OSTS_X_SECRET").word(), "off");
        assert_eq!(secret_needed(true, Some(&secret), "OSTS_X_SECRET").word(), "on");
        assert_eq!(secret_needed(true, None, "OSTS_X_SECRET").word(), "broken");
        assert_eq!(secret_needed(true, Some(&SecretString::from(" ")), "OSTS_X_SECRET").word(), "broken");
    }

    #[test]
    fn the_report_names_what_is_broken() {
        let findings = [
            Finding { setting: "OSTS_A", verdict: Verdict::On("fine".into()) },
            Finding { setting: "OSTS_LONGER", verdict: Verdict::Broken("no".into()) },
        ];
        let text = report(&findings);
        assert!(text.contains("on      OSTS_A       fine"), "{text}");
        assert!(text.ends_with("broken: OSTS_LONGER\n"), "{text}");
        assert!(report(&findings[..1]).ends_with("nothing is broken\n"));
    }
}
