//! `ForumApi` against wiremock: each operation's request (method, path, headers, exact body)
//! and how each of Discourse's answers, successes and real error bodies, comes back.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use discourse::connect::Connect;
use discourse::{ForumApi, ForumConfig};
use domain::forum::{ForumClient, ForumIdentity, NewTopic, TopicRef, Visibility};
use domain::notifications::DeliveryError;
use secrecy::SecretString;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "4dm1nk3y0000000000000000000000000000000000000000000000000000cafe";
const CONNECT: &str = "a connect secret of length";

fn config(server: &MockServer) -> ForumConfig {
    let mut config = ForumConfig::new(server.uri(), SecretString::from(KEY), "support", 5);
    config.connect_secret = Some(SecretString::from(CONNECT));
    config.timeout = Duration::from_millis(500);
    config
}

fn api(server: &MockServer) -> ForumApi {
    ForumApi::new(config(server)).unwrap()
}

fn created(post_id: i64, topic_id: i64, slug: &str, number: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": post_id, "topic_id": topic_id, "topic_slug": slug, "post_number": number,
        "username": "ada", "cooked": "<p>x</p>", "created_at": "2026-03-02T10:00:00.000Z",
    }))
}

fn new_topic(visibility: Visibility) -> NewTopic {
    NewTopic {
        external_id: "osts-1042".into(),
        title: "#1042 Printer on fire in lab 3".into(),
        raw: "The printer in lab 3 is on fire, please help.".into(),
        visibility,
        recipients: vec!["bo".into()],
        act_as: Some("ada".into()),
    }
}

/// Asserts that no message of `err` shows the key or the forum's address.
fn assert_discreet(err: &DeliveryError, server: &MockServer) {
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(KEY) && !shown.contains(&server.uri()) && !shown.contains("127.0.0.1"), "{shown}");
    }
}

#[tokio::test]
async fn a_private_thread_is_a_message_to_the_recipients_and_the_support_group_as_its_author() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .and(header("Api-Key", KEY))
        .and(header("Api-Username", "ada"))
        .and(body_json(json!({
            "title": "#1042 Printer on fire in lab 3",
            "raw": "The printer in lab 3 is on fire, please help.",
            "archetype": "private_message",
            "target_recipients": "bo,support",
            "external_id": "osts-1042",
        })))
        .respond_with(created(11, 3, "1042-printer-on-fire-in-lab-3", 1))
        .expect(1)
        .mount(&server)
        .await;
    let topic = api(&server).create_topic(&new_topic(Visibility::Private)).await.unwrap();
    assert_eq!(topic, TopicRef { topic_id: 3, path: "/t/1042-printer-on-fire-in-lab-3/3".into() });
}

#[tokio::test]
async fn a_public_thread_is_a_topic_in_the_configured_category() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .and(header("Api-Username", "system"))
        .and(body_json(json!({
            "title": "#1042 Printer on fire in lab 3",
            "raw": "The printer in lab 3 is on fire, please help.",
            "category": 5,
            "external_id": "osts-1042",
        })))
        .respond_with(created(12, 4, "printer", 1))
        .expect(1)
        .mount(&server)
        .await;
    let topic = NewTopic { act_as: None, ..new_topic(Visibility::Public) };
    assert_eq!(api(&server).create_topic(&topic).await.unwrap().path, "/t/printer/4");
}

#[tokio::test]
async fn a_topic_is_found_by_its_external_id_from_the_redirect() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-1042.json"))
        .and(header("Api-Username", "system"))
        .respond_with(
            ResponseTemplate::new(301).insert_header("Location", format!("{}/t/printer/3.json", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-9.json"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}),
        ))
        .mount(&server)
        .await;
    let api = api(&server);
    assert_eq!(api.find_topic("osts-1042").await.unwrap(), Some(TopicRef { topic_id: 3, path: "/t/printer/3".into() }));
    assert_eq!(api.find_topic("osts-9").await.unwrap(), None);
    assert!(matches!(api.find_topic("osts/../9").await, Err(DeliveryError::Never(_))), "never sent");
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "the redirect is read, not followed");
}

#[tokio::test]
async fn an_unusual_redirect_is_followed_on_the_forum_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-1.json"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/t/7.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/7.json"))
        .and(header("Api-Key", KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 7, "slug": "seven", "post_stream": {"posts": []}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-2.json"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "https://elsewhere.example/t/7.json"))
        .mount(&server)
        .await;
    let api = api(&server);
    assert_eq!(api.find_topic("osts-1").await.unwrap(), Some(TopicRef { topic_id: 7, path: "/t/seven/7".into() }));
    let err = api.find_topic("osts-2").await.unwrap_err();
    assert!(matches!(&err, DeliveryError::Never(m) if m.contains("elsewhere")), "{err:?}");
}

#[tokio::test]
async fn a_refused_creation_looks_for_a_topic_an_earlier_attempt_made() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"action": "create_post", "errors": ["External ID has already been taken"]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-1042.json"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/t/printer/3.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-77.json"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let api = api(&server);
    assert_eq!(api.create_topic(&new_topic(Visibility::Private)).await.unwrap().topic_id, 3);
    let other = NewTopic { external_id: "osts-77".into(), ..new_topic(Visibility::Private) };
    assert_eq!(
        api.create_topic(&other).await,
        Err(DeliveryError::Never("422 Unprocessable Entity: External ID has already been taken".into()))
    );
}

#[tokio::test]
async fn posts_queued_for_approval_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"action": "enqueued", "success": true, "pending_post": {"id": 4, "raw": "x"}, "pending_count": 1}),
        ))
        .mount(&server)
        .await;
    let api = api(&server);
    assert!(
        matches!(api.reply(3, "Thanks, that worked!", None).await, Err(DeliveryError::Never(m)) if m.contains("approval"))
    );
    let public = new_topic(Visibility::Public);
    assert!(matches!(api.create_topic(&public).await, Err(DeliveryError::Never(m)) if m.contains("approval")));
}

#[tokio::test]
async fn a_reply_posts_in_the_topic_as_the_acting_user() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .and(header("Api-Username", "bo"))
        .and(body_json(json!({"topic_id": 3, "raw": "Assigned to Bo, looking into it."})))
        .respond_with(created(21, 3, "printer", 2))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(api(&server).reply(3, "Assigned to Bo, looking into it.", Some("bo".into())).await.unwrap(), 21);
}

#[tokio::test]
async fn close_reopen_and_archive_send_string_booleans() {
    let server = MockServer::start().await;
    for (status, enabled) in [("closed", "true"), ("closed", "false"), ("archived", "true"), ("archived", "false")] {
        Mock::given(method("PUT"))
            .and(path("/t/3/status.json"))
            .and(body_json(json!({"status": status, "enabled": enabled})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"success": "OK", "topic_status_update": null})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let api = api(&server);
    api.set_closed(3, true).await.unwrap();
    api.set_closed(3, false).await.unwrap();
    api.set_archived(3, true).await.unwrap();
    api.set_archived(3, false).await.unwrap();
}

#[tokio::test]
async fn converting_to_public_names_the_category_and_back_invites_the_support_group() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/t/3/convert-topic/public.json"))
        .and(body_json(json!({"category_id": 5})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "url": "/t/printer/3"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/t/3/convert-topic/private.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "url": "/t/printer/3"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/t/3/invite-group.json"))
        .and(body_json(json!({"group": "support", "should_notify": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"group": {"id": 41, "name": "support"}})))
        .expect(1)
        .mount(&server)
        .await;
    let api = api(&server);
    let expected = TopicRef { topic_id: 3, path: "/t/printer/3".into() };
    assert_eq!(api.convert(3, Visibility::Public).await.unwrap(), expected);
    assert_eq!(api.convert(3, Visibility::Private).await.unwrap(), expected);
    let private =
        server.received_requests().await.unwrap().into_iter().find(|r| r.url.path().ends_with("private.json")).unwrap();
    assert!(private.body.is_empty(), "nothing but the path says private");
}

#[tokio::test]
async fn a_refused_conversion_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/t/3/convert-topic/public.json"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}),
        ))
        .mount(&server)
        .await;
    assert_eq!(
        api(&server).convert(3, Visibility::Public).await,
        Err(DeliveryError::Never(
            "403 Forbidden: You are not permitted to view the requested resource. (invalid_access)".into()
        ))
    );
}

#[tokio::test]
async fn merging_moves_the_topic_into_its_destination() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/t/4/merge-topic.json"))
        .and(body_json(json!({"destination_topic_id": 3})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "url": "/t/printer/3"})))
        .expect(1)
        .mount(&server)
        .await;
    api(&server).merge_topics(4, 3).await.unwrap();
}

#[tokio::test]
async fn deleting_a_post_is_done_once_it_is_gone() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/posts/9.json"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/posts/10.json"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/posts/11.json"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"errors": ["You can't delete that post."]})))
        .mount(&server)
        .await;
    let api = api(&server);
    api.delete_post(9).await.unwrap();
    api.delete_post(10).await.unwrap();
    assert_eq!(
        api.delete_post(11).await,
        Err(DeliveryError::Never("403 Forbidden: You can't delete that post.".into()))
    );
    let first = &server.received_requests().await.unwrap()[0];
    assert!(first.body.is_empty());
}

fn post(id: i64, number: i64, post_type: i64, deleted: bool) -> Value {
    json!({
        "id": id, "post_number": number, "username": format!("user{number}"), "cooked": format!("<p>post {number}</p>"),
        "created_at": "2026-03-02T10:00:00.000Z", "post_type": post_type,
        "deleted_at": if deleted { json!("2026-03-02T11:00:00.000Z") } else { Value::Null },
    })
}

#[tokio::test]
async fn posts_beyond_the_first_chunk_are_fetched_by_id_and_only_real_posts_are_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/t/3.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 3, "slug": "printer", "title": "Printer",
            "post_stream": {"posts": [post(100, 1, 1, false), post(101, 2, 3, false)], "stream": [100, 101, 102, 103, 104]},
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/3/posts.json"))
        .and(query_param("post_ids[]", "102"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 3, "post_stream": {"posts": [post(104, 5, 1, false), post(102, 3, 4, false), post(103, 4, 1, true)]},
        })))
        .expect(1)
        .mount(&server)
        .await;
    let posts = api(&server).posts(3).await.unwrap();
    let ids: Vec<(i64, i64)> = posts.iter().map(|p| (p.id, p.post_number)).collect();
    assert_eq!(ids, vec![(100, 1), (104, 5)], "no small action, whisper or deleted post; in order");
    assert_eq!(posts[1].username, "user5");
    assert_eq!(posts[0].created_at, "2026-03-02T10:00:00Z".parse::<chrono::DateTime<Utc>>().unwrap());
    let asked = &server.received_requests().await.unwrap()[1];
    assert_eq!(asked.url.query(), Some("post_ids%5B%5D=102&post_ids%5B%5D=103&post_ids%5B%5D=104"));
}

#[tokio::test]
async fn search_reads_side_loaded_topics_and_keeps_to_public_ones() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search.json"))
        .and(query_param("q", "printer fire status:public"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "posts": [
                {"id": 1, "topic_id": 3, "blurb": "The <span class=\"search-highlight\">printer</span> is on fire"},
                {"id": 2, "topic_id": 3, "blurb": "again"},
                {"id": 3, "topic_id": 8, "blurb": "private"},
                {"id": 4, "topic_id": 9, "blurb": "no topic side-loaded"},
            ],
            "topics": [
                {"id": 3, "title": "Printer on fire", "slug": "printer-on-fire", "archetype": "regular"},
                {"id": 8, "title": "Secret", "slug": "secret", "archetype": "private_message"},
            ],
            "users": [], "categories": [], "tags": [], "groups": [],
            "grouped_search_result": {"term": "printer fire", "post_ids": [1, 2, 3, 4]},
        })))
        .expect(1)
        .mount(&server)
        .await;
    let api = api(&server);
    let hits = api.search("printer @system fire in:personal").await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].topic, TopicRef { topic_id: 3, path: "/t/printer-on-fire/3".into() });
    assert_eq!((hits[0].title.as_str(), hits[0].blurb.as_str()), ("Printer on fire", "The printer is on fire"));
    assert_eq!(api.search("in:messages ab").await.unwrap(), vec![], "too short after operators: not sent");
}

#[tokio::test]
async fn a_user_is_synced_with_a_signed_payload_and_the_support_group() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/users/sync_sso"))
        .and(header("Api-Username", "system"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5, "username": "bo"})))
        .expect(2)
        .mount(&server)
        .await;
    let api = api(&server);
    let bo = ForumIdentity {
        external_id: 7,
        email: "bo@uni.edu".into(),
        username: "bo".into(),
        name: "Bo Staff".into(),
        support: true,
        moderator: false,
        linked: false,
    };
    api.sync_user(&bo).await.unwrap();
    api.sync_user(&ForumIdentity { support: false, ..bo.clone() }).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let connect = Connect::new(CONNECT, &server.uri());
    let fields = |i: usize| {
        let body: Value = serde_json::from_slice(&requests[i].body).unwrap();
        let sso = body["sso"].as_str().unwrap().to_owned();
        assert_eq!(body["sig"].as_str().unwrap(), connect.sign(&sso), "signed with the connect secret");
        assert_eq!(body.as_object().unwrap().len(), 2);
        let payload = base64::engine::general_purpose::STANDARD.decode(sso).unwrap();
        form_urlencoded::parse(&payload).into_owned().collect::<std::collections::HashMap<String, String>>()
    };
    let first = fields(0);
    assert_eq!(first["external_id"], "7");
    assert_eq!(first["email"], "bo@uni.edu");
    assert_eq!((first["add_groups"].as_str(), first["remove_groups"].as_str()), ("support", ""));
    assert_eq!(first["moderator"], "false");
    assert!(!first.contains_key("nonce"));
    let second = fields(1);
    assert_eq!((second["add_groups"].as_str(), second["remove_groups"].as_str()), ("", "support"));

    let without = ForumApi::new(ForumConfig { connect_secret: None, ..config(&server) }).unwrap();
    assert!(
        matches!(without.sync_user(&bo).await, Err(DeliveryError::Never(m)) if m.contains("OSTS_DISCOURSE_CONNECT_SECRET"))
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_come_back_as_later_with_the_wait_asked_for() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/t/1/status.json"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "errors": ["You’ve performed this action too many times. Please wait 37 seconds before trying again."],
            "error_type": "rate_limit", "extras": {"wait_seconds": 37, "time_left": "37 seconds"},
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/t/2/status.json"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "9")
                .insert_header("Content-Type", "text/plain")
                .set_body_string("Slow down, too many requests from this IP address.\nPlease retry again in 9 seconds.\nError code: ip_10_secs_limit.\n"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/t/3/status.json"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>Oops</html>"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/t/4/status.json"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"errors": ["The site is in read only mode. Interactions are disabled."], "error_type": "read_only"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/t/5/status.json"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let api = api(&server);
    let near = |at: Option<chrono::DateTime<Utc>>, s: i64| {
        let at = at.expect("a time");
        let expected = Utc::now() + chrono::Duration::seconds(s);
        (at - expected).num_seconds().abs() <= 2
    };
    match api.set_closed(1, true).await {
        Err(e @ DeliveryError::Later { .. }) => {
            assert_discreet(&e, &server);
            let DeliveryError::Later { at, message } = e else { unreachable!() };
            assert!(near(at, 37), "{at:?}");
            assert!(message.starts_with("429") && message.contains("rate_limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match api.set_closed(2, true).await {
        Err(DeliveryError::Later { at, message }) => {
            assert!(near(at, 9));
            assert!(message.contains("ip_10_secs_limit") && !message.contains('\n'), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        api.set_closed(3, true).await,
        Err(DeliveryError::Later { message: "500 Internal Server Error".into(), at: None })
    );
    assert!(
        matches!(api.set_closed(4, true).await, Err(DeliveryError::Later { message, at: None }) if message.contains("read only"))
    );
    let timeout = api.set_closed(5, true).await.unwrap_err();
    assert_eq!(timeout, DeliveryError::Later { message: "the forum did not answer in time".into(), at: None });
}

#[tokio::test]
async fn refusals_carry_discourses_words_and_never_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts.json"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "errors": ["You are not permitted to view the requested resource. The API username or key is invalid."],
            "error_type": "invalid_access",
        })))
        .mount(&server)
        .await;
    let err = api(&server).reply(3, "A reply long enough to post.", Some("ghost".into())).await.unwrap_err();
    assert_discreet(&err, &server);
    assert_eq!(
        err,
        DeliveryError::Never(
            "403 Forbidden: You are not permitted to view the requested resource. The API username or key is invalid. (invalid_access)"
                .into()
        )
    );
}

#[tokio::test]
async fn an_unreachable_forum_is_tried_again_later_without_showing_where_it_is() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = ForumConfig::new(format!("http://127.0.0.1:{port}"), SecretString::from(KEY), "support", 5);
    config.timeout = Duration::from_secs(2);
    let err = ForumApi::new(config).unwrap().set_closed(1, true).await.unwrap_err();
    assert_eq!(err, DeliveryError::Later { message: "cannot connect to the forum".into(), at: None });
}

#[tokio::test]
async fn the_client_side_limit_holds_calls_without_sending_them() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/t/1/status.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": "OK"})))
        .mount(&server)
        .await;
    let api = ForumApi::new(ForumConfig { requests_per_minute: 2, ..config(&server) }).unwrap();
    api.set_closed(1, true).await.unwrap();
    api.set_closed(1, true).await.unwrap();
    let before = Utc::now();
    match api.set_closed(1, true).await {
        Err(DeliveryError::Throttled { at }) => assert!(at > before + chrono::Duration::seconds(55), "{at}"),
        other => panic!("{other:?}"),
    }
    // Converting to private needs two requests: held whole, not cut in the middle.
    assert!(matches!(api.convert(1, Visibility::Private).await, Err(DeliveryError::Throttled { .. })));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}
