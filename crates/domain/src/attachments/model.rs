use std::fmt;

use chrono::{DateTime, Utc};

use crate::accounts::UserId;
use crate::error::Error;
use crate::tickets::TicketId;

/// The largest file accepted: 5 MiB.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

/// The most attachments on one ticket, and separately on one reply.
pub const MAX_PER_TARGET: usize = 5;

/// The refusal of a file over [`MAX_FILE_BYTES`]; also used by the HTTP layer when the request
/// body alone already says so.
pub fn too_large() -> Error {
    Error::TooLarge { field: "file", message: format!("a file must be at most {} MiB", MAX_FILE_BYTES / (1024 * 1024)) }
}

/// The refusal of content that is none of the accepted types.
pub fn unsupported_media_type() -> Error {
    let accepted: Vec<&str> = MediaType::ALL.iter().map(|m| m.label()).collect();
    Error::UnsupportedMediaType {
        field: "file",
        message: format!(
            "the file's content is not an accepted type; accepted: {} (detected from the content, not the name)",
            accepted.join(", ")
        ),
    }
}

/// An attachment's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId(i64);

impl AttachmentId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// The kinds of content osts accepts, told from the bytes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// PDF document.
    Pdf,
}

impl MediaType {
    /// Every accepted type.
    pub const ALL: [MediaType; 5] = [Self::Png, Self::Jpeg, Self::Gif, Self::Webp, Self::Pdf];

    /// The MIME type, as stored and as sent in `Content-Type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
        }
    }

    /// The stored form back; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    /// The usual file extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Pdf => "pdf",
        }
    }

    /// Every extension (lower case, without the dot) that names this type, the usual one
    /// first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Png => &["png"],
            Self::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            Self::Gif => &["gif"],
            Self::Webp => &["webp"],
            Self::Pdf => &["pdf"],
        }
    }

    /// A name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Gif => "GIF",
            Self::Webp => "WebP",
            Self::Pdf => "PDF",
        }
    }
}

/// Tells the media type from the first bytes (the formats' magic numbers); `None` when the
/// content is none of [`MediaType::ALL`]. The file name and the client's `Content-Type` are
/// never consulted: both are whatever the client says.
pub fn detect(bytes: &[u8]) -> Option<MediaType> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const GIF87: &[u8] = b"GIF87a";
    const GIF89: &[u8] = b"GIF89a";
    const PDF: &[u8] = b"%PDF-";
    if bytes.starts_with(PNG) {
        Some(MediaType::Png)
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some(MediaType::Jpeg)
    } else if bytes.starts_with(GIF87) || bytes.starts_with(GIF89) {
        Some(MediaType::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(MediaType::Webp)
    } else if bytes.starts_with(PDF) {
        Some(MediaType::Pdf)
    } else {
        None
    }
}

/// A file name to show and to offer on download: the last path component of what the client
/// sent, without control or bidirectional-override characters, trimmed, 1–200 characters.
/// Purely cosmetic: it never decides the type and never becomes a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Most characters.
    pub const MAX_CHARS: usize = 200;

    /// Cleans and validates a client's file name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last.chars().filter(|c| !c.is_control() && !reorders_or_breaks_text(*c)).collect();
        let name = cleaned.trim();
        if name.is_empty() || name.chars().all(|c| c == '.') {
            return Err(Error::invalid("file", "invalid_file_name", "the file needs a name"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "file",
                "file_name_too_long",
                format!("a file name must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name given to a file the client sent without one.
    pub fn fallback(media_type: MediaType) -> Self {
        Self(format!("attachment.{}", media_type.extension()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name a download gets: this one if its extension names `media_type`, else with
    /// its extension replaced by (or, without one, followed by) the type's usual one. A PNG
    /// uploaded as `page.html` is saved as `page.png`, so that opening the saved file opens
    /// what was served, not HTML.
    pub fn for_download(&self, media_type: MediaType) -> String {
        let (stem, extension) = match self.0.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
            _ => (self.0.as_str(), None),
        };
        if extension.is_some_and(|e| media_type.extensions().contains(&e.to_ascii_lowercase().as_str())) {
            return self.0.clone();
        }
        format!("{}.{}", stem.trim_end(), media_type.extension())
    }
}

/// Characters that reorder text on screen (used to disguise extensions, `gpj.exe`) or break
/// a line where none is expected; shared with titles and display names
/// ([`crate::text::reorders_or_breaks_text`]).
use crate::text::reorders_or_breaks_text;

/// The key of a blob: the lower-case hex SHA-256 of its bytes (64 characters). Safe to use
/// as a file name: it can hold nothing but hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of content whose SHA-256 digest is `digest`.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        use fmt::Write as _;
        let mut hex = String::with_capacity(64);
        for b in digest {
            let _ = write!(hex, "{b:02x}");
        }
        Self(hex)
    }

    /// Validates a stored key; `None` unless it is 64 lower-case hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an attachment is attached to. The limit of [`MAX_PER_TARGET`] applies per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The ticket itself.
    Ticket(TicketId),
    /// A reply on the ticket.
    Reply(TicketId, i64),
}

impl Target {
    /// The ticket either way.
    pub fn ticket(self) -> TicketId {
        match self {
            Self::Ticket(t) | Self::Reply(t, _) => t,
        }
    }

    /// The reply, when there is one.
    pub fn reply(self) -> Option<i64> {
        match self {
            Self::Ticket(_) => None,
            Self::Reply(_, r) => Some(r),
        }
    }
}

/// A stored attachment's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Identifier.
    pub id: AttachmentId,
    /// The ticket, or the reply on it, the file belongs to.
    pub target: Target,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// The name to show.
    pub file_name: FileName,
    /// The type detected from the content.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Where the bytes are in the blob store.
    pub sha256: BlobKey,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// An attachment to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    /// Where it belongs.
    pub target: Target,
    /// Who uploads it.
    pub uploader_id: UserId,
    /// The name to show.
    pub file_name: FileName,
    /// The detected type.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The blob holding the bytes.
    pub sha256: BlobKey,
    /// Now.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_named_with_the_extension_of_the_detected_type() {
        let cases = [
            ("file.html", MediaType::Png, "file.png"),
            ("x.pdf", MediaType::Png, "x.png"),
            ("scan.PNG", MediaType::Png, "scan.PNG"),
            ("photo.jpeg", MediaType::Jpeg, "photo.jpeg"),
            ("photo.JPG", MediaType::Jpeg, "photo.JPG"),
            ("photo.png", MediaType::Jpeg, "photo.jpg"),
            ("notes", MediaType::Pdf, "notes.pdf"),
            (".htaccess", MediaType::Gif, ".htaccess.gif"),
            ("archive.tar.webp", MediaType::Webp, "archive.tar.webp"),
            ("report .exe", MediaType::Pdf, "report.pdf"),
            ("a.png.html", MediaType::Png, "a.png.png"),
        ];
        for (name, media_type, expected) in cases {
            assert_eq!(FileName::parse(name).unwrap().for_download(media_type), expected, "{name}");
        }
    }

    #[test]
    fn file_names_lose_line_separators_too() {
        assert_eq!(FileName::parse("a\u{2028}b\u{202e}gnp.exe").unwrap().as_str(), "abgnp.exe");
    }

    #[test]
    fn detection_table() {
        let cases: &[(&[u8], Option<MediaType>)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some(MediaType::Png)),
            (b"\x89PNG\r\n\x1a\n", Some(MediaType::Png)),
            (b"\x89PNG\r\n\x1a", None),   // truncated signature
            (b"\x89PNG\n\r\x1a\n", None), // line endings swapped (a text-mode copy)
            (b"\xff\xd8\xff\xe0\0\x10JFIF", Some(MediaType::Jpeg)),
            (b"\xff\xd8\xff", Some(MediaType::Jpeg)),
            (b"\xff\xd8", None),
            (b"GIF89a\x01\0\x01\0", Some(MediaType::Gif)),
            (b"GIF87a", Some(MediaType::Gif)),
            (b"GIF88a", None),
            (b"GIF8", None),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some(MediaType::Webp)),
            (b"RIFF\x24\0\0\0WAVEfmt ", None), // a RIFF that is audio
            (b"RIFF\x24\0\0\0WEB", None),      // truncated
            (b"%PDF-1.7\n", Some(MediaType::Pdf)),
            (b"%PDF", None),
            (b"%!PS-Adobe-3.0", None),
            (b"<!DOCTYPE html><html>", None),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\">", None),
            (b"  %PDF-1.4", None), // magic must be at the start
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(detect(bytes), *expected, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn media_types_round_trip() {
        for m in MediaType::ALL {
            assert_eq!(MediaType::parse(m.as_str()), Some(m));
        }
        assert_eq!(MediaType::parse("text/html"), None);
    }

    #[test]
    fn file_name_table() {
        let long = "a".repeat(FileName::MAX_CHARS + 1);
        let cases: Vec<(&str, Result<&str, &str>)> = vec![
            ("scan.pdf", Ok("scan.pdf")),
            ("  grade report.png ", Ok("grade report.png")),
            ("../../etc/passwd", Ok("passwd")),
            ("C:\\Users\\ada\\My Scan.jpg", Ok("My Scan.jpg")),
            ("evil\r\nX-Header: 1.png", Ok("evilX-Header: 1.png")),
            ("invoice\u{202e}gnp.exe", Ok("invoicegnp.exe")),
            ("résumé.pdf", Ok("résumé.pdf")),
            ("dir/", Err("invalid_file_name")),
            ("..", Err("invalid_file_name")),
            ("\u{7}", Err("invalid_file_name")),
            ("", Err("invalid_file_name")),
            (&long, Err("file_name_too_long")),
        ];
        for (raw, expected) in cases {
            let got = FileName::parse(raw).map(|n| n.as_str().to_owned()).map_err(|e| match e {
                Error::Invalid { code, .. } => code,
                other => panic!("unexpected {other:?}"),
            });
            assert_eq!(got.as_deref().map_err(|c| *c), expected, "{raw:?}");
        }
        assert_eq!(FileName::fallback(MediaType::Jpeg).as_str(), "attachment.jpg");
    }

    #[test]
    fn blob_keys_are_64_lower_hex() {
        let key = BlobKey::from_digest([0xab; 32]);
        assert_eq!(key.as_str(), "ab".repeat(32));
        assert_eq!(BlobKey::parse(key.as_str()), Some(key));
        assert_eq!(BlobKey::parse(&"AB".repeat(32)), None);
        assert_eq!(BlobKey::parse(&"ab".repeat(31)), None);
        assert_eq!(BlobKey::parse(&format!("../{}", "a".repeat(61))), None);
    }
}
