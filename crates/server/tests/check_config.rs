//! `osts check-config` checks the settings without starting the server: exit 0 and every
//! feature on or off when nothing is broken; exit 1 naming each broken setting otherwise.
//! Secrets in the settings never show in its report.

mod support;

use support::{osts, Relay, TempDir};

fn check(dir: &std::path::Path, env: &[(&str, &str)]) -> (i32, String) {
    let out = osts(dir, &["check-config"], env);
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().expect("an exit code"), stdout)
}

/// The word (`on`, `off`, `broken`) the report gives `setting`.
fn verdict<'a>(report: &'a str, setting: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(setting))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{setting} not in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_broken_exits_0_with_what_is_on_and_off() {
    let dir = TempDir::new("osts-check-ok");
    let relay = Relay::default();
    let port = relay.start().await;
    let smtp = format!("smtp://osts:relay-pw-Qa91@127.0.0.1:{port}");
    let env = [
        ("OSTS_SMTP_URL", smtp.as_str()),
        ("OSTS_PUBLIC_URL", "https://support.uni.edu"),
        ("OSTS_SEMANTIC_SEARCH", "off"),
    ];
    let (code, report) = check(&dir.0, &env);
    assert_eq!(code, 0, "{report}");
    assert_eq!(verdict(&report, "OSTS_SMTP_URL"), "on");
    assert_eq!(verdict(&report, "OSTS_DATABASE_URL"), "on");
    assert_eq!(verdict(&report, "OSTS_DATA_DIR"), "on");
    assert_eq!(verdict(&report, "OSTS_PUBLIC_URL"), "on");
    assert_eq!(verdict(&report, "OSTS_SEMANTIC_SEARCH"), "off");
    assert_eq!(verdict(&report, "OSTS_STUDENT_EMAIL_DOMAINS"), "off");
    assert!(report.ends_with("nothing is broken\n"), "{report}");
    assert!(!report.contains("relay-pw-Qa91"), "the SMTP password in the report:\n{report}");
    assert!(!relay.auth.lock().unwrap().is_empty(), "the relay was asked to sign in");
    assert!(relay.messages().is_empty(), "nothing was sent");
    assert!(!dir.0.join("osts.db").exists(), "checking created no database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_settings_exit_1_and_are_named() {
    let dir = TempDir::new("osts-check-broken");
    // A port nothing listens on.
    let closed = support::free_port();
    let smtp = format!("smtp://osts:relay-pw-Qa91@127.0.0.1:{closed}");
    let env = [
        ("OSTS_SMTP_URL", smtp.as_str()),
        ("OSTS_PUBLIC_URL", "support.uni.edu"),
        ("OSTS_DATABASE_URL", "postgres://osts:db-pw-Lm22@127.0.0.1:1/osts"),
    ];
    let (code, report) = check(&dir.0, &env);
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdict(&report, "OSTS_SMTP_URL"), "broken");
    assert_eq!(verdict(&report, "OSTS_PUBLIC_URL"), "broken");
    assert_eq!(verdict(&report, "OSTS_DATABASE_URL"), "broken");
    assert_eq!(verdict(&report, "OSTS_DATA_DIR"), "on");
    assert!(report.ends_with("broken: OSTS_DATABASE_URL, OSTS_PUBLIC_URL, OSTS_SMTP_URL\n"), "{report}");
    for secret in ["relay-pw-Qa91", "db-pw-Lm22"] {
        assert!(!report.contains(secret), "{secret} in the report:\n{report}");
    }

    // A value that does not even parse is broken too, and named.
    let (code, report) = check(&dir.0, &[("OSTS_DIGEST_HOUR", "25")]);
    assert_eq!(code, 1, "{report}");
    assert!(report.starts_with("broken") && report.contains("digest_hour"), "{report}");
}
