//! Attachments: images and PDFs on a ticket or a reply, uploaded as `multipart/form-data` and
//! served back with the detected type and headers that keep browsers from reinterpreting them.

use crate::nullable::Nullable;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::attachments::{self as da, AttachmentId, UploadDraft, MAX_FILE_BYTES};
use domain::tickets::TicketId;
use poem::{
    http::{header, Method, StatusCode},
    web::Data,
    IntoResponse, Response,
};
use poem_openapi::{
    param::Path,
    payload::Json,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::{multipart::Upload, Type},
    ApiResponse, Enum, Multipart, Object, OpenApi,
};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    ApiTags, App,
};

/// The largest upload request body: one file of [`MAX_FILE_BYTES`] plus room for the
/// multipart framing and the `reply_id` field. Larger bodies are refused unread with 413.
pub const MAX_UPLOAD_BODY_BYTES: usize = MAX_FILE_BYTES + 64 * 1024;

/// Whether a request is an upload, which gets [`MAX_UPLOAD_BODY_BYTES`] instead of the
/// global body limit. Matches `POST /api/v1/tickets/{id}/attachments` and the web app's
/// new-ticket form (`POST /tickets/new`, which carries an attachment), and nothing else.
pub(crate) fn is_upload(method: &Method, path: &str) -> bool {
    // The web app's new-ticket form carries its attachment too.
    *method == Method::POST
        && (path == "/tickets/new"
            || path
                .strip_prefix("/api/v1/tickets/")
                .and_then(|rest| rest.strip_suffix("/attachments"))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')))
}

/// The accepted kinds of content, detected from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "domain::attachments::MediaType")]
pub enum MediaType {
    /// PNG image.
    #[oai(rename = "image/png")]
    Png,
    /// JPEG image.
    #[oai(rename = "image/jpeg")]
    Jpeg,
    /// GIF image.
    #[oai(rename = "image/gif")]
    Gif,
    /// WebP image.
    #[oai(rename = "image/webp")]
    Webp,
    /// PDF document.
    #[oai(rename = "application/pdf")]
    Pdf,
}

/// An attachment's metadata.
#[derive(Debug, Clone, Object)]
pub struct Attachment {
    /// Identifier.
    pub id: i64,
    /// The ticket it is on.
    pub ticket_number: i64,
    /// The reply it belongs to, if it belongs to one rather than to the ticket itself.
    pub reply_id: Nullable<i64>,
    /// The name to show (cleaned of any path; it never decides the type).
    pub file_name: String,
    /// The type detected from the content.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// Where to download it.
    pub url: String,
}

impl From<da::Attachment> for Attachment {
    fn from(a: da::Attachment) -> Self {
        Self {
            id: a.id.get(),
            ticket_number: a.target.ticket().get(),
            reply_id: Nullable(a.target.reply()),
            file_name: a.file_name.as_str().to_owned(),
            media_type: a.media_type.into(),
            size_bytes: a.size_bytes,
            sha256: a.sha256.as_str().to_owned(),
            created_at: a.created_at,
            url: format!("/api/v1/attachments/{}", a.id.get()),
        }
    }
}

/// An upload: one file, optionally for a reply; a part of any other name is refused.
#[derive(Debug, Multipart)]
#[oai(deny_unknown_fields)]
pub struct AttachmentUpload {
    /// The file: PNG, JPEG, GIF, WebP or PDF, at most 5 MiB. The type is detected from the
    /// content; the file name and the part's `Content-Type` are not trusted.
    pub file: Upload,
    /// The reply on the ticket the file belongs to; leave out for the ticket itself.
    pub reply_id: Option<i64>,
}

/// An upload succeeded.
#[derive(ApiResponse)]
pub enum UploadResponse {
    /// The file is stored.
    #[oai(status = 201)]
    Created(Json<Attachment>, #[oai(header = "Location")] String),
}

/// A ticket's attachments.
#[derive(ApiResponse)]
pub enum ListResponse {
    /// Oldest first, the ticket's own and its replies'.
    #[oai(status = 200)]
    Ok(Json<Vec<Attachment>>),
}

/// An attachment's content, with the headers that make browsers download it as what it is.
pub struct Download {
    media_type: da::MediaType,
    file_name: String,
    bytes: Vec<u8>,
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback in which
/// anything outside printable ASCII, and the quote, backslash and percent characters, become
/// `_`, plus the exact name percent-encoded for clients that read `filename*`.
pub(crate) fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .content_type(self.media_type.as_str())
            .header(header::CONTENT_DISPOSITION, content_disposition(&self.file_name))
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CACHE_CONTROL, "private")
            .body(self.bytes)
    }
}

impl ApiResponse for Download {
    fn meta() -> MetaResponses {
        let header = |name: &str, description: &str| MetaHeader {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The content, as the type detected when it was uploaded.",
                status: Some(200),
                status_range: None,
                content: da::MediaType::ALL
                    .iter()
                    .map(|m| MetaMediaType {
                        content_type: m.as_str(),
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
                    })
                    .collect(),
                headers: vec![
                    header(
                        "Content-Disposition",
                        "`attachment` with the file name, as `filename` (ASCII) and `filename*` (UTF-8).",
                    ),
                    header("X-Content-Type-Options", "`nosniff`: browsers must not guess another type."),
                    header("Cache-Control", "`private`: shared caches must not keep it."),
                ],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

error_set!(
    /// Errors of uploading an attachment.
    UploadErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of reading attachments.
    ReadErrors = [400, 401, 403, 404, 500]
);

/// Attachments.
pub struct AttachmentApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Attachments")]
impl AttachmentApi {
    /// Attach a file to a ticket
    ///
    /// The ticket's creator and staff may attach up to 5 files to a ticket, and up to 5 to
    /// each reply. Accepted: PNG, JPEG, GIF, WebP and PDF, at most 5 MiB, detected from the
    /// content (a PNG named `scan.pdf` is stored as a PNG; an HTML file named `x.png` is
    /// refused with 415). A larger file is refused with 413 and nothing is stored; a full
    /// ticket or reply answers 409 `too_many_attachments`.
    #[oai(path = "/tickets/:id/attachments", method = "post", operation_id = "upload_attachment")]
    async fn upload(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        form: AttachmentUpload,
    ) -> Result<UploadResponse, Failure<UploadErrors>> {
        let file_name = form.file.file_name().map(str::to_owned);
        // Bounded by the upload body limit; the service decides about size and type.
        let bytes = form.file.into_vec().await.map_err(|e| domain::Error::Unknown(anyhow::Error::new(e)))?;
        let draft = UploadDraft { file_name, reply_id: form.reply_id, bytes };
        let stored = app.attachments.upload(&auth.0.principal, TicketId::new(id.0), draft).await?;
        let body = Attachment::from(stored);
        let location = body.url.clone();
        Ok(UploadResponse::Created(Json(body), location))
    }

    /// List a ticket's attachments
    ///
    /// Everyone who may see the ticket, oldest first, including files on its replies and on
    /// the tickets merged into it. Files on internal notes are listed to staff only.
    #[oai(path = "/tickets/:id/attachments", method = "get", operation_id = "list_attachments")]
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<ListResponse, Failure<ReadErrors>> {
        let items = app.attachments.list(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(ListResponse::Ok(Json(items.into_iter().map(Attachment::from).collect())))
    }

    /// Download an attachment
    ///
    /// Everyone who may see its ticket; a file on an internal note, staff only (404 to
    /// students). Served with the detected `Content-Type`, `Content-Disposition: attachment`
    /// with the file name ending in the detected type's extension (a PNG uploaded as
    /// `page.html` downloads as `page.png`), `X-Content-Type-Options: nosniff` and
    /// `Cache-Control: private`.
    #[oai(path = "/attachments/:id", method = "get", operation_id = "download_attachment")]
    async fn download(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The attachment's id.
        id: Path<i64>,
    ) -> Result<Download, Failure<ReadErrors>> {
        let (attachment, bytes) = app.attachments.download(&auth.0.principal, AttachmentId::new(id.0)).await?;
        let file_name = attachment.file_name.for_download(attachment.media_type);
        Ok(Download { media_type: attachment.media_type, file_name, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_upload_route_gets_the_upload_limit() {
        let cases = [
            (Method::POST, "/api/v1/tickets/12/attachments", true),
            (Method::POST, "/api/v1/tickets/x/attachments", true), // refused later as a bad path
            (Method::GET, "/api/v1/tickets/12/attachments", false),
            (Method::POST, "/api/v1/tickets//attachments", false),
            (Method::POST, "/api/v1/tickets/1/2/attachments", false),
            (Method::POST, "/api/v1/tickets/12/attachments/", false),
            (Method::POST, "/api/v1/tickets", false),
            (Method::POST, "/api/v1/auth/login", false),
            (Method::POST, "/tickets/new", true),
            (Method::GET, "/tickets/new", false),
            (Method::POST, "/tickets/12/reply", false),
        ];
        for (method, path, expected) in cases {
            assert_eq!(is_upload(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        let cases = [
            ("scan.png", "attachment; filename=\"scan.png\"; filename*=UTF-8''scan.png"),
            ("my scan.pdf", "attachment; filename=\"my scan.pdf\"; filename*=UTF-8''my%20scan.pdf"),
            ("résumé.pdf", "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
            ("a\"b\\c%d;.png", "attachment; filename=\"a_b_c_d;.png\"; filename*=UTF-8''a%22b%5Cc%25d%3B.png"),
        ];
        for (name, expected) in cases {
            let value = content_disposition(name);
            assert_eq!(value, expected);
            assert!(poem::http::HeaderValue::from_str(&value).is_ok());
        }
    }
}
