//! `ForumApi` against the stateful fake: a thread's life (sync, private message, replies,
//! webhooks signed and delivered, make public, close, reopen, merge, moderation, search),
//! the forum's refusals, and the fault cases: a 429 with a wait, a 500 and a timeout come
//! back as the right errors, and once the forum answers again, a creation retried with
//! `find_topic` first leaves exactly one topic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use discourse::fake::{FakeConfig, FakeDiscourse, Fault, RateLimit, WebhookTarget};
use discourse::webhook::{self, Event};
use discourse::{ForumApi, ForumConfig};
use domain::forum::{ForumClient, ForumIdentity, NewTopic, TopicRef, Visibility};
use domain::notifications::DeliveryError;
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::Data;
use poem::{handler, post, EndpointExt as _, Request, Route};
use secrecy::SecretString;

const CONNECT: &str = "a connect secret of length";
const HOOK_SECRET: &str = "webhook secret 123";

/// What the receiver got: event header, signature verdict, parsed event.
type Received = Arc<Mutex<Vec<(String, bool, Option<Event>)>>>;

#[handler]
async fn receive(req: &Request, body: Vec<u8>, received: Data<&Received>) -> &'static str {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let event = header("X-Discourse-Event").unwrap_or_default();
    let signed = webhook::verify(HOOK_SECRET, &body, header("X-Discourse-Event-Signature").as_deref()).is_ok();
    assert!(header("X-Discourse-Event-Id").is_some_and(|id| id.parse::<i64>().is_ok()));
    assert!(header("X-Discourse-Event-Type").is_some() && header("X-Discourse-Instance").is_some());
    received.lock().unwrap().push((event.clone(), signed, Event::parse(&event, &body).ok()));
    "ok"
}

/// A local webhook receiver: its URL and what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/webhooks/discourse", post(receive)).data(received.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/webhooks/discourse"), received)
}

async fn fake(config: FakeConfig) -> FakeDiscourse {
    FakeDiscourse::start(FakeConfig { connect_secret: Some(CONNECT.into()), ..config }).await.unwrap()
}

fn api_for(fake: &FakeDiscourse, tweak: impl FnOnce(&mut ForumConfig)) -> ForumApi {
    let mut config = ForumConfig::new(fake.url(), SecretString::from(fake.api_key()), "support", 5);
    config.connect_secret = Some(SecretString::from(CONNECT));
    config.timeout = Duration::from_millis(400);
    tweak(&mut config);
    ForumApi::new(config).unwrap()
}

fn identity(id: i64, username: &str, support: bool, moderator: bool) -> ForumIdentity {
    ForumIdentity {
        external_id: id,
        email: format!("{username}@uni.edu"),
        username: username.into(),
        name: username.to_uppercase(),
        support,
        moderator,
        linked: false,
    }
}

fn thread(number: i64, visibility: Visibility, author: Option<&str>) -> NewTopic {
    NewTopic {
        external_id: format!("osts-{number}"),
        title: format!("#{number} The printer in lab 3 is on fire"),
        raw: format!("Ticket {number}: the printer in lab 3 is on fire, please help."),
        visibility,
        recipients: vec![],
        act_as: author.map(str::to_owned),
    }
}

/// What the outbox does for a thread job: on a retry, look the topic up first.
async fn ensure_topic(api: &ForumApi, topic: &NewTopic, retry: bool) -> Result<TopicRef, DeliveryError> {
    if retry {
        if let Some(found) = api.find_topic(&topic.external_id).await? {
            return Ok(found);
        }
    }
    api.create_topic(topic).await
}

#[tokio::test]
async fn a_thread_lives_through_its_ticket() {
    let (url, received) = receiver().await;
    let fake =
        fake(FakeConfig { webhook: Some(WebhookTarget { url, secret: HOOK_SECRET.into() }), ..FakeConfig::default() })
            .await;
    let api = api_for(&fake, |_| {});
    api.sync_user(&identity(1, "ada", false, false)).await.unwrap();
    api.sync_user(&identity(2, "bo", true, false)).await.unwrap();
    api.sync_user(&identity(3, "cy", false, false)).await.unwrap();
    api.sync_user(&identity(4, "di", true, true)).await.unwrap();
    assert!(fake.user("di").unwrap().moderator);
    assert_eq!(fake.user("bo").unwrap().groups, vec!["support"]);
    assert_eq!(fake.user("ada").unwrap().external_id.as_deref(), Some("1"));

    // The student opens a private thread: the support group reads it, nobody else.
    let topic = api.create_topic(&thread(7, Visibility::Private, Some("ada"))).await.unwrap();
    let held = fake.topic(topic.topic_id).unwrap();
    assert!(held.private && held.allowed_groups == vec!["support"] && held.allowed_users == vec!["ada"]);
    assert_eq!(held.external_id.as_deref(), Some("osts-7"));
    api.reply(topic.topic_id, "Assigned to Bo, looking into it.", Some("bo".into())).await.unwrap();
    let stranger = api.reply(topic.topic_id, "Can I read this private one?", Some("cy".into())).await.unwrap_err();
    assert!(
        matches!(&stranger, DeliveryError::Never(m) if m.starts_with("403") && m.contains("invalid_access")),
        "{stranger:?}"
    );

    // The student answers on the forum: a signed post_created reaches osts.
    let reply = fake.user_posts(topic.topic_id, "ada", "It is still smoking, please hurry.").await.unwrap();
    fake.user_likes(reply.id, "bo").await.unwrap();
    fake.webhooks_idle().await;
    {
        let got = received.lock().unwrap();
        assert!(got.iter().all(|(_, signed, _)| *signed), "every delivery is signed");
        assert!(got
            .iter()
            .any(|(_, _, e)| matches!(e, Some(Event::PostCreated(p)) if p.post_id == reply.id && p.username == "ada")));
        assert!(got.iter().any(
            |(_, _, e)| matches!(e, Some(Event::PostLiked { post, by }) if post.post_id == reply.id && by == "bo")
        ));
    }

    // Staff make it public, resolve (close), the ticket reopens, closes for good (archive).
    let public = api.convert(topic.topic_id, Visibility::Public).await.unwrap();
    assert_eq!(public.topic_id, topic.topic_id);
    assert!(!fake.topic(topic.topic_id).unwrap().private && fake.topic(topic.topic_id).unwrap().category_id == Some(5));
    api.set_closed(topic.topic_id, true).await.unwrap();
    assert!(fake.topic(topic.topic_id).unwrap().closed);
    let closed_reply = fake.user_posts(topic.topic_id, "ada", "Why was this closed so quickly?").await;
    assert!(closed_reply.is_err(), "a student cannot post in a closed topic");
    api.set_closed(topic.topic_id, false).await.unwrap();
    assert!(!fake.topic(topic.topic_id).unwrap().closed);
    fake.user_sets_closed(topic.topic_id, "di", true).await.unwrap();
    fake.webhooks_idle().await;
    {
        let got = received.lock().unwrap();
        let closes: Vec<bool> = got
            .iter()
            .filter_map(|(_, _, e)| match e {
                Some(Event::TopicClosed { topic_id, closed }) if *topic_id == topic.topic_id => Some(*closed),
                _ => None,
            })
            .collect();
        assert_eq!(closes, vec![true, false, true], "API and forum closes alike");
    }
    api.set_archived(topic.topic_id, true).await.unwrap();
    assert!(fake.topic(topic.topic_id).unwrap().archived);

    // The posts osts shows: no "closed this topic" small actions.
    let posts = api.posts(topic.topic_id).await.unwrap();
    let authors: Vec<&str> = posts.iter().map(|p| p.username.as_str()).collect();
    assert_eq!(authors, vec!["ada", "bo", "ada"]);
    assert!(fake.posts(topic.topic_id).iter().any(|p| p.post_type == 3), "the fake has them");

    // Merge ticket 8's thread into 7's: its posts move, its topic closes.
    let other = api.create_topic(&thread(8, Visibility::Private, Some("ada"))).await.unwrap();
    api.merge_topics(other.topic_id, topic.topic_id).await.unwrap();
    assert!(fake.topic(other.topic_id).unwrap().closed);
    assert_eq!(fake.topic(other.topic_id).unwrap().posts_count, 0);
    let merged = api.posts(topic.topic_id).await.unwrap();
    assert_eq!(merged.len(), 4);
    assert!(merged.last().unwrap().cooked.contains("Ticket 8"));

    // Moderation: an admin deletes a post; it is gone from the thread.
    api.delete_post(merged[1].id).await.unwrap();
    api.delete_post(merged[1].id).await.unwrap();
    assert_eq!(api.posts(topic.topic_id).await.unwrap().len(), 3);

    // Search finds public threads only; back to private, it is no longer found.
    let hits = api.search("printer lab").await.unwrap();
    assert_eq!(hits.iter().map(|h| h.topic.topic_id).collect::<Vec<_>>(), vec![topic.topic_id]);
    api.convert(topic.topic_id, Visibility::Private).await.unwrap();
    let back = fake.topic(topic.topic_id).unwrap();
    assert!(back.private && back.allowed_groups == vec!["support"], "the support group is invited back: {back:?}");
    assert!(back.allowed_users.contains(&"ada".to_owned()), "posters stay: {back:?}");
    assert_eq!(api.search("printer lab").await.unwrap(), vec![]);
}

#[tokio::test]
async fn redelivery_keeps_the_event_id_and_a_retry_gets_a_new_one() {
    let (url, received) = receiver().await;
    let fake =
        fake(FakeConfig { webhook: Some(WebhookTarget { url, secret: HOOK_SECRET.into() }), ..FakeConfig::default() })
            .await;
    let api = api_for(&fake, |_| {});
    let topic = api.create_topic(&thread(1, Visibility::Public, None)).await.unwrap();
    fake.add_user("ada");
    fake.user_posts(topic.topic_id, "ada", "Same here, my printer too.").await.unwrap();
    fake.webhooks_idle().await;
    let sent = fake.webhooks();
    let post = sent.iter().rev().find(|s| s.event == "post_created").unwrap().clone();
    assert_eq!(post.status, Some(200));
    assert_eq!(fake.redeliver(post.event_id).await, Some(200));
    assert_eq!(fake.retry_webhook(post.event_id).await, Some(200));
    let again: Vec<_> = fake.webhooks().into_iter().filter(|s| s.body == post.body).collect();
    assert_eq!(again.len(), 3);
    assert_eq!(again[1].event_id, post.event_id);
    assert_ne!(again[2].event_id, post.event_id);
    let keys: Vec<_> = received.lock().unwrap().iter().filter_map(|(_, _, e)| e.as_ref()?.dedup_key()).collect();
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("post_created")).count(),
        4,
        "1 opening post + 3 deliveries of one reply"
    );
}

#[tokio::test]
async fn a_429_a_500_and_a_timeout_then_exactly_one_topic() {
    let fake = fake(FakeConfig::default()).await;
    let api = api_for(&fake, |_| {});
    let topic = thread(42, Visibility::Public, None);
    let near = |at: Option<chrono::DateTime<Utc>>, s: i64| {
        at.is_some_and(|at| (at - (Utc::now() + chrono::Duration::seconds(s))).num_seconds().abs() <= 2)
    };

    fake.fail_next(Fault::RateLimited { wait_seconds: 30 });
    match ensure_topic(&api, &topic, false).await {
        Err(DeliveryError::Later { at, message }) => {
            assert!(near(at, 30) && message.contains("rate_limit"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next(Fault::RateLimitedPlain { wait_seconds: 7 });
    match ensure_topic(&api, &topic, true).await {
        Err(DeliveryError::Later { at, message }) => {
            assert!(near(at, 7) && message.contains("ip_10_secs_limit"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next(Fault::Status { status: 500, body: String::new() });
    assert_eq!(
        ensure_topic(&api, &topic, true).await,
        Err(DeliveryError::Later { message: "500 Internal Server Error".into(), at: None })
    );
    // The lookup answers (nothing yet), then the forum makes the topic but answers too late.
    assert_eq!(api.find_topic(&topic.external_id).await.unwrap(), None);
    fake.fail_next(Fault::SlowAnswer(Duration::from_secs(2)));
    assert_eq!(
        api.create_topic(&topic).await,
        Err(DeliveryError::Later { message: "the forum did not answer in time".into(), at: None })
    );
    assert_eq!(fake.stats().topics_created, 1, "the forum acted although osts gave up");

    // The forum is back: the retry finds the topic instead of making another.
    let made = ensure_topic(&api, &topic, true).await.unwrap();
    let again = ensure_topic(&api, &topic, true).await.unwrap();
    assert_eq!(made, again);
    assert_eq!(fake.topics().len(), 1);
    assert_eq!(fake.stats().topics_created, 1);
    assert_eq!(fake.topic_by_external_id("osts-42").unwrap().id, made.topic_id);
    let creates = fake.requests().iter().filter(|r| r.method == "POST" && r.path == "/posts.json").count();
    assert_eq!(creates, 2, "the 429 and the timed-out one; no third");
}

#[tokio::test]
async fn a_quick_identical_retry_is_answered_from_discourses_memo() {
    let fake = fake(FakeConfig::default()).await;
    let api = api_for(&fake, |_| {});
    let topic = thread(5, Visibility::Public, None);
    fake.fail_next(Fault::SlowAnswer(Duration::from_secs(1)));
    assert!(matches!(api.create_topic(&topic).await, Err(DeliveryError::Later { .. })));
    // Retried at once without a lookup: Discourse answers with the first result.
    let made = api.create_topic(&topic).await.unwrap();
    assert_eq!(fake.stats().memo_hits, 1);
    assert_eq!(fake.topics().len(), 1);
    assert_eq!(fake.topics()[0].id, made.topic_id);
}

#[tokio::test]
async fn past_the_memo_a_taken_external_id_leads_to_the_existing_topic() {
    let fake = fake(FakeConfig { memo_window: Duration::ZERO, ..FakeConfig::default() }).await;
    let api = api_for(&fake, |_| {});
    let topic = thread(6, Visibility::Public, None);
    let made = api.create_topic(&topic).await.unwrap();
    assert_eq!(api.create_topic(&topic).await.unwrap(), made, "422 External ID taken, then found");
    assert_eq!(fake.topics().len(), 1);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 422, 301]);
}

#[tokio::test]
async fn the_forums_rate_limit_says_how_long_to_wait_and_ours_holds_calls_back() {
    let fake = fake(FakeConfig {
        rate_limit: Some(RateLimit { requests: 2, window: Duration::from_secs(10) }),
        ..FakeConfig::default()
    })
    .await;
    let unlimited = api_for(&fake, |c| c.requests_per_minute = 1000);
    assert_eq!(unlimited.find_topic("osts-1").await.unwrap(), None);
    assert_eq!(unlimited.find_topic("osts-1").await.unwrap(), None);
    match unlimited.find_topic("osts-1").await {
        Err(DeliveryError::Later { at: Some(at), message }) => {
            let wait = (at - Utc::now()).num_seconds();
            assert!((8..=11).contains(&wait), "{wait}");
            assert!(message.contains("admin") || message.contains("rate_limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.stats().rate_limited, 1);

    fake.set_rate_limit(None);
    let ours = api_for(&fake, |c| {
        c.requests_per_minute = 3;
        c.rate_window = Duration::from_secs(600);
    });
    for _ in 0..3 {
        ours.find_topic("osts-1").await.unwrap();
    }
    let before = fake.stats().requests;
    assert!(matches!(ours.find_topic("osts-1").await, Err(DeliveryError::Throttled { .. })));
    assert_eq!(fake.stats().requests, before, "held back, never sent");
}

#[tokio::test]
async fn bad_credentials_and_forum_refusals_are_never_retried() {
    let fake = fake(FakeConfig::default()).await;
    let wrong_key = api_for(&fake, |c| c.api_key = SecretString::from("not-the-key"));
    let err = wrong_key.find_topic("osts-1").await.unwrap_err();
    assert!(matches!(&err, DeliveryError::Never(m) if m.contains("API username or key is invalid")), "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-key"));
    let sync = wrong_key.sync_user(&identity(1, "ada", false, false)).await;
    assert!(matches!(sync, Err(DeliveryError::Never(m)) if m.starts_with("404")), "admin routes hide behind a 404");

    let api = api_for(&fake, |_| {});
    let unknown_author = api.create_topic(&thread(1, Visibility::Private, Some("ghost"))).await.unwrap_err();
    assert!(matches!(&unknown_author, DeliveryError::Never(m) if m.starts_with("403")), "{unknown_author:?}");
    let short = NewTopic { title: "#1 Help".into(), ..thread(1, Visibility::Public, None) };
    assert_eq!(
        api.create_topic(&short).await,
        Err(DeliveryError::Never("422 Unprocessable Entity: Title is too short (minimum is 15 characters)".into()))
    );
    let unknown_recipient = NewTopic { recipients: vec!["nobody".into()], ..thread(2, Visibility::Private, None) };
    assert!(matches!(api.create_topic(&unknown_recipient).await, Err(DeliveryError::Never(m)) if m.contains("nobody")));
    assert!(
        matches!(api.set_closed(999, true).await, Err(DeliveryError::Never(m)) if m.starts_with("404") && m.contains("not_found"))
    );
    assert!(matches!(api.merge_topics(1, 1).await, Err(DeliveryError::Never(_))));
}

#[tokio::test]
async fn the_fake_reads_enabled_as_discourse_does() {
    let fake = fake(FakeConfig::default()).await;
    let api = api_for(&fake, |_| {});
    let topic = api.create_topic(&thread(1, Visibility::Public, None)).await.unwrap();
    api.set_closed(topic.topic_id, true).await.unwrap();
    // A JSON boolean `true` is not the string "true": Discourse would reopen the topic.
    let response = reqwest::Client::new()
        .put(format!("{}/t/{}/status.json", fake.url(), topic.topic_id))
        .header("Api-Key", fake.api_key())
        .header("Api-Username", "system")
        .json(&serde_json::json!({"status": "closed", "enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!fake.topic(topic.topic_id).unwrap().closed);
}

#[tokio::test]
async fn queued_error_bodies_come_back_with_discourses_words() {
    let fake = fake(FakeConfig::default()).await;
    let api = api_for(&fake, |_| {});
    fake.fail_next(Fault::Status {
        status: 503,
        body: r#"{"errors":["The site is in read only mode."],"error_type":"read_only"}"#.into(),
    });
    fake.fail_next(Fault::Status { status: 502, body: "<html><body>Bad Gateway</body></html>".into() });
    assert_eq!(
        api.find_topic("osts-1").await,
        Err(DeliveryError::Later {
            message: "503 Service Unavailable: The site is in read only mode. (read_only)".into(),
            at: None
        })
    );
    assert_eq!(
        api.find_topic("osts-1").await,
        Err(DeliveryError::Later { message: "502 Bad Gateway".into(), at: None })
    );
    assert_eq!(api.find_topic("osts-1").await, Ok(None), "faults are used up one request each");
}

#[tokio::test]
async fn an_accounts_owner_is_found_by_its_primary_email_only() {
    let fake = fake(FakeConfig::default()).await;
    fake.add_user_with_email("Ada_L", "ada@uni.edu");
    fake.add_user_with_email("bo", "bo@uni.edu");
    let api = api_for(&fake, |_| {});
    assert!(api.provisions_users(), "with DiscourseConnect the forum's accounts come from osts");
    assert_eq!(api.username_with_email(" ADA@uni.edu ").await.unwrap().as_deref(), Some("Ada_L"));
    assert_eq!(api.username_with_email("bo@uni.edu").await.unwrap().as_deref(), Some("bo"));
    assert_eq!(api.username_with_email("cy@uni.edu").await.unwrap(), None);
    assert_eq!(api.username_with_email("").await.unwrap(), None);
    let lookups: Vec<_> = fake.requests().into_iter().filter(|r| r.path.starts_with("/admin/users/list/")).collect();
    assert_eq!(lookups.len(), 3, "an empty address is not asked about");
    assert!(
        lookups
            .iter()
            .all(|r| r.path == "/admin/users/list/active.json"
                && r.query.contains(&("show_emails".into(), "true".into())))
    );
    let own = api_for(&fake, |c| c.connect_secret = None);
    assert!(!own.provisions_users(), "without it the forum keeps its own accounts");

    // A key acting as a user who is not an admin reads no emails: the admin route is missing.
    fake.add_user("cy");
    let not_admin = api_for(&fake, |c| c.api_username = "cy".into());
    let refused = not_admin.username_with_email("ada@uni.edu").await.unwrap_err();
    assert!(matches!(&refused, DeliveryError::Never(m) if m.starts_with("404")), "{refused:?}");
}
