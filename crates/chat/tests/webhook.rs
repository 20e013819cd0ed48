//! The client against a local webhook server that answers as Google Chat and Slack do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat::{Kind, PostError, WebhookClient};
use domain::escalation::{ChatMessage, SlaState};
use domain::tickets::{Priority, Status};
use poem::http::StatusCode;
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::{Data, Json, Path, Query};
use poem::{handler, post, EndpointExt as _, Response, Route};
use serde_json::Value;

/// What the sink received: (path, query, body).
type Received = Arc<Mutex<Vec<(String, Vec<(String, String)>, Value)>>>;

#[handler]
fn space(
    Path(answer): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
    received: Data<&Received>,
) -> Response {
    received.lock().unwrap().push((answer.clone(), query, body));
    match answer.as_str() {
        "ok" => Response::builder()
            .content_type("application/json")
            .body(r#"{"name":"spaces/S/messages/M","thread":{"name":"spaces/S/threads/T"}}"#),
        "busy" => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", "7")
            .body(r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#),
        "down" => Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(""),
        "gone" => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#),
        "slack-bad" => Response::builder().status(StatusCode::BAD_REQUEST).body("invalid_payload"),
        _ => Response::builder().status(StatusCode::OK).body("ok"),
    }
}

async fn sink() -> (String, Received) {
    let received: Received = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/v1/spaces/:answer", post(space)).data(received.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), received)
}

fn message() -> ChatMessage {
    ChatMessage {
        ticket_number: 7,
        title: "Hall ticket missing".into(),
        url: "http://osts.test/tickets/7".into(),
        headline: "escalated: urgent priority".into(),
        priority: Priority::Urgent,
        category: "Exams".into(),
        votes: 3,
        status: Status::Open,
        sla: SlaState::Ok,
        escalated_by: "osts".into(),
        reason: "raised as urgent".into(),
    }
}

#[tokio::test]
async fn a_google_chat_post_replies_in_the_tickets_thread() {
    let (base, received) = sink().await;
    let client = WebhookClient::new(Duration::from_secs(5)).unwrap();
    let url = format!("{base}/v1/spaces/ok?key=KEY&token=SECRET-TOKEN");
    client.post(Kind::GoogleChat, &url, "delivery-41", &message()).await.unwrap();
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (_, query, body) = &got[0];
    assert!(query.contains(&("messageReplyOption".into(), "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD".into())));
    assert!(query.contains(&("requestId".into(), "delivery-41".into())));
    assert!(query.contains(&("token".into(), "SECRET-TOKEN".into())), "the webhook's own parameters are kept");
    assert_eq!(body["thread"]["threadKey"], "ticket-7");
    assert_eq!(body["cardsV2"][0]["card"]["header"]["title"], "#7 Hall ticket missing");
}

#[tokio::test]
async fn failures_say_whether_to_retry_and_never_show_the_secret() {
    let (base, _) = sink().await;
    let client = WebhookClient::new(Duration::from_secs(5)).unwrap();
    let post = |answer: &'static str, kind| {
        let client = client.clone();
        let url = format!("{base}/v1/spaces/{answer}?key=KEY&token=SECRET-TOKEN");
        async move { client.post(kind, &url, "d-1", &message()).await }
    };
    match post("busy", Kind::GoogleChat).await {
        Err(PostError::Later { after, message }) => {
            assert_eq!(after, Some(Duration::from_secs(7)));
            assert!(message.contains("429") && message.contains("exhausted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(post("down", Kind::GoogleChat).await, Err(PostError::Later { after: None, .. })));
    match post("gone", Kind::GoogleChat).await {
        Err(PostError::Never(message)) => {
            assert!(message.contains("404") && message.contains("not found"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match post("slack-bad", Kind::Slack).await {
        Err(PostError::Never(message)) => assert!(message.ends_with("invalid_payload"), "{message}"),
        other => panic!("{other:?}"),
    }
    post("slack-ok", Kind::Slack).await.unwrap();
    // Nobody listens here: retry later, and the error does not carry the URL.
    let err = client
        .post(Kind::GoogleChat, "http://127.0.0.1:9/v1/spaces/x?token=SECRET-TOKEN", "d-2", &message())
        .await
        .unwrap_err();
    assert!(matches!(err, PostError::Later { .. }));
    for e in [err.to_string(), format!("{err:?}")] {
        assert!(!e.contains("SECRET"), "{e}");
    }
}
