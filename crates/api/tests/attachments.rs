//! Attachments over HTTP: the type comes from the content, limits refuse without storing
//! anything, and downloads carry headers that keep browsers from reinterpreting files.

mod support;

use domain::accounts::Role;
use poem::http::Method;
use support::{multipart_body, FilePart, TestApp, PNG};

const MIB: usize = 1024 * 1024;

/// A PNG of exactly `len` bytes.
fn png_of(len: usize) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.resize(len, 0);
    bytes
}

#[tokio::test]
async fn a_png_named_pdf_is_stored_and_served_as_png() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;

    let reply = app.upload(number, Some(&owner.token), FilePart::file("x.pdf", "application/pdf", PNG)).await;
    let location = reply.headers.get("location").map(|v| v.to_str().unwrap().to_owned());
    let meta = reply.expect(201).body;
    assert_eq!(meta["media_type"], "image/png");
    assert_eq!(meta["file_name"], "x.pdf", "the name is kept, cosmetically");
    assert_eq!(meta["size_bytes"], PNG.len());
    assert_eq!(meta["ticket_number"], number);
    assert!(meta["reply_id"].is_null());
    let url = meta["url"].as_str().unwrap();
    assert_eq!(url, format!("/api/v1/attachments/{}", meta["id"]));
    assert_eq!(location.as_deref(), Some(url));

    // One blob, named by the SHA-256 the API reports, under ab/cd/.
    let sha = meta["sha256"].as_str().unwrap();
    assert_eq!(app.blob_files(), vec![app.blob_dir.join(&sha[0..2]).join(&sha[2..4]).join(sha)]);

    let (status, headers, bytes) = app.get_bytes(url, Some(&owner.token)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PNG);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(
        headers["content-disposition"], "attachment; filename=\"x.png\"; filename*=UTF-8''x.png",
        "saved under the detected type's extension"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "private");

    let listed = app.get(&format!("/api/v1/tickets/{number}/attachments"), &owner.token).await.expect(200).body;
    assert_eq!(listed, serde_json::json!([meta]));
}

#[tokio::test]
async fn html_named_png_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";

    let body = app
        .upload(number, Some(&owner.token), FilePart::file("x.png", "image/png", html))
        .await
        .expect_error(415, "unsupported_media_type");
    let message = body["message"].as_str().unwrap();
    for accepted in ["PNG", "JPEG", "GIF", "WebP", "PDF"] {
        assert!(message.contains(accepted), "{message}");
    }
    assert_eq!(body["field"], "file");
    assert!(app.blob_files().is_empty());
    let listed = app.get(&format!("/api/v1/tickets/{number}/attachments"), &owner.token).await.expect(200).body;
    assert_eq!(listed, serde_json::json!([]));
}

#[tokio::test]
async fn a_6_mb_file_is_413_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    let big = png_of(6 * 1000 * 1000);
    let body = multipart_body(&[FilePart::file("big.png", "image/png", &big)]);

    // Streamed without Content-Length: cut off at the upload limit while being read.
    let streamed = app.upload_body(number, Some(&owner.token), body.clone(), false).await;
    assert_eq!(streamed.expect_error(413, "too_large")["field"], "file");
    // Announced with Content-Length: refused before reading.
    app.upload_body(number, Some(&owner.token), body, true).await.expect_error(413, "too_large");
    // Just over 5 MiB fits the request limit but not the file limit.
    let over = png_of(5 * MIB + 1);
    app.upload(number, Some(&owner.token), FilePart::file("over.png", "image/png", &over))
        .await
        .expect_error(413, "too_large");

    assert!(app.blob_files().is_empty(), "{:?}", app.blob_files());
    let listed = app.get(&format!("/api/v1/tickets/{number}/attachments"), &owner.token).await.expect(200).body;
    assert_eq!(listed, serde_json::json!([]));

    // Exactly 5 MiB is allowed, despite being over the global 256 KiB body limit.
    let max = png_of(5 * MIB);
    let meta =
        app.upload(number, Some(&owner.token), FilePart::file("max.png", "image/png", &max)).await.expect(201).body;
    assert_eq!(meta["size_bytes"], 5 * MIB);
}

#[tokio::test]
async fn a_sixth_attachment_is_a_conflict_but_replies_have_their_own_five() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    for i in 0..5u8 {
        let file = png_of(100 + usize::from(i));
        app.upload(number, Some(&owner.token), FilePart::file("a.png", "image/png", &file)).await.expect(201);
    }
    let body = app
        .upload(number, Some(&owner.token), FilePart::file("six.png", "image/png", PNG))
        .await
        .expect_error(409, "too_many_attachments");
    assert!(body["message"].as_str().unwrap().contains('5'));

    // A reply id that is not on this ticket is refused; a real reply has its own five.
    let parts = [
        FilePart::file("r.png", "image/png", PNG),
        FilePart { name: "reply_id", file_name: None, content_type: None, bytes: b"17" },
    ];
    let err = app
        .upload_body(number, Some(&owner.token), multipart_body(&parts), false)
        .await
        .expect_error(404, "reply_not_found");
    assert_eq!(err["field"], "reply_id");
    let reply = app
        .post(&format!("/api/v1/tickets/{number}/replies"), &owner.token, serde_json::json!({ "body": "Scan below." }))
        .await
        .expect(201)
        .body;
    let reply_id = reply["id"].as_i64().unwrap().to_string();
    let parts = [
        FilePart::file("r.png", "image/png", PNG),
        FilePart { name: "reply_id", file_name: None, content_type: None, bytes: reply_id.as_bytes() },
    ];
    let meta = app.upload_body(number, Some(&owner.token), multipart_body(&parts), false).await.expect(201).body;
    assert_eq!(meta["reply_id"], reply["id"]);
    let listed = app.get(&format!("/api/v1/tickets/{number}/attachments"), &owner.token).await.expect(200).body;
    assert_eq!(listed.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn who_may_upload_and_download() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let other = app.student().await;
    let support = app.support().await;
    let pending = app.pending(Role::Student).await;
    let number = app.ticket(&owner).number().await;
    let file = || FilePart::file("scan.png", "image/png", PNG);

    app.upload(number, Some(&other.token), file()).await.expect_error(403, "not_owner");
    app.upload(number, Some(&pending.token), file()).await.expect_error(403, "account_pending");
    app.upload(number, None, file()).await.expect_error(401, "unauthenticated");
    app.upload(number + 1000, Some(&owner.token), file()).await.expect_error(404, "ticket_not_found");
    assert!(app.blob_files().is_empty(), "refused uploads store nothing");

    let meta = app.upload(number, Some(&support.token), file()).await.expect(201).body;
    let url = meta["url"].as_str().unwrap();

    // Seeing a ticket is today every active account's right, so any active user downloads.
    assert_eq!(app.get_bytes(url, Some(&other.token)).await.0, 200);
    assert_eq!(app.get_bytes(url, Some(&app.admin.token)).await.0, 200);
    let denied = app.call(Method::GET, url, Some(&pending.token), None).await;
    denied.expect_error(403, "account_pending");
    app.call(Method::GET, url, None, None).await.expect_error(401, "unauthenticated");
    app.get(&format!("/api/v1/attachments/{}", meta["id"].as_i64().unwrap() + 1), &other.token)
        .await
        .expect_error(404, "attachment_not_found");
    app.call(Method::GET, &format!("/api/v1/tickets/{number}/attachments"), Some(&pending.token), None)
        .await
        .expect_error(403, "account_pending");
}

#[tokio::test]
async fn malformed_uploads_are_client_errors() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    let path = format!("/api/v1/tickets/{number}/attachments");

    let no_file = multipart_body(&[FilePart { name: "reply_id", file_name: None, content_type: None, bytes: b"1" }]);
    app.upload_body(number, Some(&owner.token), no_file, false).await.expect_error(400, "bad_request");
    app.raw(Method::POST, &path, Some(&owner.token), "application/json", b"{}".to_vec())
        .await
        .expect_error(415, "unsupported_media_type");
    app.upload(number, Some(&owner.token), FilePart::file("empty.png", "image/png", b""))
        .await
        .expect_error(415, "unsupported_media_type");
    assert!(app.blob_files().is_empty());
}

#[tokio::test]
async fn file_names_lose_their_paths_and_download_safely() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;

    let meta = app
        .upload(number, Some(&owner.token), FilePart::file("../../etc/Résumé final%.png", "image/png", PNG))
        .await
        .expect(201)
        .body;
    assert_eq!(meta["file_name"], "Résumé final%.png");
    let (_, headers, _) = app.get_bytes(meta["url"].as_str().unwrap(), Some(&owner.token)).await;
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"R_sum_ final_.png\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final%25.png"
    );

    // No file name at all: named after the detected type.
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    let parts = [FilePart { name: "file", file_name: None, content_type: None, bytes: pdf }];
    let meta = app.upload_body(number, Some(&owner.token), multipart_body(&parts), false).await.expect(201).body;
    assert_eq!(
        (meta["file_name"].as_str(), meta["media_type"].as_str()),
        (Some("attachment.pdf"), Some("application/pdf"))
    );
}

#[tokio::test]
async fn a_png_uploaded_as_html_downloads_as_png() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    let meta = app.upload(number, Some(&owner.token), FilePart::file("file.html", "text/html", PNG)).await.expect(201);
    assert_eq!(meta.body["file_name"], "file.html", "shown as the uploader named it");
    let (status, headers, _) = app.get_bytes(meta.body["url"].as_str().unwrap(), Some(&owner.token)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"file.png\"; filename*=UTF-8''file.png");
}

#[tokio::test]
async fn files_on_internal_notes_are_listed_to_staff_only_on_the_ticket_and_its_merge_target() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let other = app.student().await;
    let support = app.support().await;
    let number = app.ticket(&owner).number().await;
    let public = app.upload(number, Some(&owner.token), FilePart::file("scan.png", "image/png", PNG)).await;
    let public = public.expect(201).body["id"].as_i64().unwrap();
    let hidden = app.note_attachment(number, &support).await;
    let ids = |reply: support::Reply| -> Vec<i64> {
        reply.expect(200).body.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
    };
    let list = format!("/api/v1/tickets/{number}/attachments");
    for student in [&owner, &other] {
        assert_eq!(ids(app.get(&list, &student.token).await), [public], "{}", student.email);
    }
    assert_eq!(ids(app.get(&list, &support.token).await), [public, hidden]);
    assert_eq!(ids(app.get(&list, &app.admin.token).await), [public, hidden]);

    // Merged into another ticket: listed with the target's, and still hidden from students.
    let target = app.ticket(&other).number().await;
    app.post(&format!("/api/v1/tickets/{number}/merge"), &support.token, serde_json::json!({ "target": target }))
        .await
        .expect(200);
    let target_list = format!("/api/v1/tickets/{target}/attachments");
    for student in [&owner, &other] {
        assert_eq!(ids(app.get(&target_list, &student.token).await), [public]);
        assert_eq!(ids(app.get(&list, &student.token).await), [public]);
        app.get(&format!("/api/v1/attachments/{hidden}"), &student.token).await.expect(404);
    }
    assert_eq!(ids(app.get(&target_list, &support.token).await), [public, hidden]);
}
