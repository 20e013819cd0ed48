//! The web app in a real headless Chromium, driven over WebDriver (chromedriver) against the
//! real `osts serve` on a random port with a fresh database.
//!
//! Journey 1: a student registers with an allowed address, confirms it from the email,
//! signs in, starts typing a concern, sees the ticket someone already raised about it in the
//! suggestions, and adds a +1 to it instead of raising a new one.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them and sets
//! `OSTS_BROWSER_TESTS=required`). Without `chromedriver` the test says so and passes, unless
//! `OSTS_BROWSER_TESTS` is `required`, where it fails.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{call, confirmation_token, eml_files, osts, Server, TempDir};

mod support;

const ADMIN_PASSWORD: &[(&str, &str)] = &[("OSTS_ADMIN_PASSWORD", "admin password 1")];
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the browser may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(20);

/// chromedriver, stopped on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and waits until it answers its status.
async fn chromedriver() -> (Driver, String) {
    let port = support::free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = http.get(format!("{url}/status")).send().await.ok().filter(|r| r.status().is_success());
        if ready.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (driver, url)
}

async fn browser(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=390,844"
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(webdriver).await.expect("a browser session")
}

/// Waits for an element and returns it.
async fn wait_for(b: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    b.wait().at_most(WAIT).for_element(locator).await.unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
}

/// With `OSTS_SCREENSHOTS=<dir>`, saves the page as `<dir>/<name>-phone.png` (390 px wide)
/// and `<dir>/<name>-desktop.png` (1280 px), for the README.
async fn screenshots(b: &Client, name: &str) {
    let Some(dir) = std::env::var_os("OSTS_SCREENSHOTS") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (width, height, label) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        b.set_window_size(width, height).await.unwrap();
        let png = b.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
    }
}

/// Waits for text somewhere on the page.
async fn wait_for_text(b: &Client, text: &str) {
    let xpath = format!("//*[contains(normalize-space(.), '{text}')]");
    wait_for(b, Locator::XPath(&xpath)).await;
}

#[tokio::test]
async fn a_student_finds_the_ticket_already_raised_and_adds_a_vote_instead() {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        let required = std::env::var("OSTS_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(!required, "OSTS_BROWSER_TESTS=required: install chromium and chromium-driver");
        eprintln!("skipped: {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver)");
        return;
    }
    let dir = TempDir::new("osts-browser");
    let out =
        osts(&dir.0, &["admin", "create", "--email", "head@uni.edu", "--name", "Head of Support"], ADMIN_PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start(&dir.0, &[("OSTS_STUDENT_EMAIL_DOMAINS", "study.uni.edu")], None);
    let base = server.base.clone();

    // The concern someone already raised.
    let api = format!("{base}/api/v1");
    let c = reqwest::Client::new();
    use reqwest::Method as M;
    let login = json!({ "email": "head@uni.edu", "password": "admin password 1" });
    let (s, session) = call(&c, M::POST, format!("{api}/auth/login"), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let token = session["token"].as_str().map(str::to_owned);
    let token = token.as_deref();
    let (s, category) = call(&c, M::POST, format!("{api}/categories"), token, Some(json!({ "name": "Campus" }))).await;
    assert_eq!(s, 201, "{category}");
    let raise = json!({
        "title": "Wifi in the library keeps dropping",
        "description": "The library wifi drops every few minutes since Monday.",
        "category_id": category["id"],
    });
    let (s, ticket) = call(&c, M::POST, format!("{api}/tickets"), token, Some(raise)).await;
    assert_eq!(s, 201, "{ticket}");
    let number = ticket["number"].as_i64().unwrap();

    let (_driver, webdriver) = chromedriver().await;
    let b = browser(&webdriver).await;

    // Register with an address of the allowed domain.
    b.goto(&base).await.unwrap();
    screenshots(&b, "welcome").await;
    wait_for(&b, Locator::LinkText("Register")).await.click().await.unwrap();
    let email = "ada@study.uni.edu";
    wait_for(&b, Locator::Id("email")).await.send_keys(email).await.unwrap();
    b.find(Locator::Id("display_name")).await.unwrap().send_keys("Ada Student").await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys("correct horse battery").await.unwrap();
    b.find(Locator::Css("form.stack button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_text(&b, "Check your email").await;

    // Confirm the address from the email's link.
    let confirm = confirmation_token(email, || eml_files(&dir.0)).await;
    b.goto(&format!("{base}/api/v1/auth/confirm?token={confirm}")).await.unwrap();
    wait_for(&b, Locator::Css("form button[type=submit]")).await.click().await.unwrap();
    wait_for_text(&b, "Your email address is confirmed").await;

    // Sign in.
    b.goto(&format!("{base}/signin")).await.unwrap();
    wait_for(&b, Locator::Id("email")).await.send_keys(email).await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys("correct horse battery").await.unwrap();
    b.find(Locator::Css("form.stack button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_text(&b, "Hello, Ada Student").await;
    screenshots(&b, "student-home").await;

    // Start typing the concern: the suggestion appears while typing.
    wait_for(&b, Locator::LinkText("New ticket")).await.click().await.unwrap();
    wait_for(&b, Locator::Id("title")).await.send_keys("library wifi dropping").await.unwrap();
    let suggestion = format!("//div[@id='similar']//a[@href='/tickets/{number}']");
    wait_for(&b, Locator::XPath(&suggestion)).await;
    screenshots(&b, "new-ticket").await;

    // +1 instead of submitting: the count changes without leaving the page.
    let vote = format!("//div[@id='similar']//form[@action='/tickets/{number}/vote']//button");
    b.find(Locator::XPath(&vote)).await.unwrap().click().await.unwrap();
    wait_for(&b, Locator::XPath("//div[@id='similar']//span[@data-votes][normalize-space(.)='1 vote']")).await;
    assert!(b.current_url().await.unwrap().path().ends_with("/tickets/new"), "still drafting");
    b.goto(&format!("{base}/tickets/{number}")).await.unwrap();
    wait_for_text(&b, "Remove my +1").await;
    screenshots(&b, "ticket").await;
    b.close().await.unwrap();

    let (s, seen) = call(&c, M::GET, format!("{api}/tickets/{number}"), token, None).await;
    assert_eq!((s, seen["vote_count"].as_u64()), (200, Some(1)), "{seen}");
    let (s, all) = call(&c, M::GET, format!("{api}/tickets"), token, None).await;
    assert_eq!((s, all["items"].as_array().map(Vec::len)), (200, Some(1)), "no new ticket: {all}");
    assert!(server.stop(), "osts stopped cleanly");
}
