//! DiscourseConnect, provider side: Discourse sends the browser to osts with a signed
//! `sso`/`sig` pair holding a nonce and where to return; osts checks the signature, signs the
//! user in, and sends them back with a signed payload naming them (confirmed email, stable
//! external id, username, groups). The same payload format provisions users ahead of their
//! first post (`POST /admin/users/sync_sso`).
//!
//! `sig` is the lower-case hex HMAC-SHA256 of the base64 `sso` string (not of the decoded
//! payload), keyed with the shared secret (`OSTS_DISCOURSE_CONNECT_SECRET`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a DiscourseConnect request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// `sig` is not the signature of `sso` under the shared secret.
    #[error("the DiscourseConnect signature does not match")]
    BadSignature,
    /// `sso` is not base64 of a query string with a nonce and a return URL.
    #[error("the DiscourseConnect payload is malformed: {0}")]
    Malformed(&'static str),
    /// The return URL is not under the configured forum.
    #[error("the DiscourseConnect return URL is not the forum's")]
    ForeignReturn,
}

/// A login request from the forum, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The forum's nonce, to echo back (and to refuse if seen before).
    pub nonce: String,
    /// Where to send the browser back to, under the forum's URL.
    pub return_sso_url: String,
}

/// The identity osts vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// osts's stable user id.
    pub external_id: i64,
    /// The confirmed email address (Discourse trusts it: never an unconfirmed one).
    pub email: String,
    /// The forum username.
    pub username: String,
    /// The display name.
    pub name: String,
    /// Groups to be in (e.g. the support group for staff).
    pub add_groups: Vec<String>,
    /// Groups not to be in.
    pub remove_groups: Vec<String>,
    /// Whether the user moderates the forum (osts admins).
    pub moderator: bool,
}

/// Signs and checks DiscourseConnect payloads with the shared secret.
#[derive(Clone)]
pub struct Connect {
    secret: Vec<u8>,
    forum_url: String,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect").field("forum_url", &self.forum_url).finish_non_exhaustive()
    }
}

impl Connect {
    /// Payloads for the forum at `forum_url`, signed with `secret`.
    pub fn new(secret: &str, forum_url: &str) -> Self {
        Self { secret: secret.as_bytes().to_vec(), forum_url: forum_url.trim_end_matches('/').to_owned() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"))
    }

    /// The hex signature of an `sso` string.
    pub fn sign(&self, sso: &str) -> String {
        let mut mac = self.mac();
        mac.update(sso.as_bytes());
        crate::encode_hex(&mac.finalize().into_bytes())
    }

    /// Checks a login request from the forum: the signature (in constant time), then the
    /// payload, and that the return URL is the forum's own.
    pub fn verify(&self, sso: &str, sig: &str) -> Result<LoginRequest, ConnectError> {
        let sig = crate::decode_hex(sig.trim()).ok_or(ConnectError::BadSignature)?;
        let mut mac = self.mac();
        mac.update(sso.as_bytes());
        mac.verify_slice(&sig).map_err(|_| ConnectError::BadSignature)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(sso.trim())
            .map_err(|_| ConnectError::Malformed("not base64"))?;
        let mut nonce = None;
        let mut return_sso_url = None;
        for (key, value) in form_urlencoded::parse(&decoded) {
            match key.as_ref() {
                "nonce" => nonce = Some(value.into_owned()),
                "return_sso_url" => return_sso_url = Some(value.into_owned()),
                _ => {}
            }
        }
        let nonce = nonce.filter(|n| !n.is_empty()).ok_or(ConnectError::Malformed("no nonce"))?;
        let return_sso_url = return_sso_url.ok_or(ConnectError::Malformed("no return URL"))?;
        let under_forum = return_sso_url == self.forum_url
            || return_sso_url.strip_prefix(&self.forum_url).is_some_and(|rest| rest.starts_with('/'));
        if !under_forum {
            return Err(ConnectError::ForeignReturn);
        }
        Ok(LoginRequest { nonce, return_sso_url })
    }

    /// The signed `(sso, sig)` naming `who`, for the `nonce` of a login (or `None` for a
    /// provisioning call, `sync_sso`).
    ///
    /// The base64 `sso` never holds `+` or `/`: the query string it encodes is ASCII in which
    /// `>`, `~`, `?` and everything outside `[A-Za-z0-9*._-]` are percent-encoded, and only
    /// those bytes yield a 62nd or 63rd base64 digit. That matters because Discourse's
    /// `sync_sso` re-parses `"sso=#{params[:sso]}&sig=..."` as a query string, where a `+`
    /// would read as a space and break the signature.
    pub fn payload(&self, nonce: Option<&str>, who: &Identity) -> (String, String) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(nonce) = nonce {
            query.append_pair("nonce", nonce);
        }
        query
            .append_pair("external_id", &who.external_id.to_string())
            .append_pair("email", &who.email)
            .append_pair("username", &who.username)
            .append_pair("name", &who.name)
            .append_pair("add_groups", &who.add_groups.join(","))
            .append_pair("remove_groups", &who.remove_groups.join(","))
            .append_pair("moderator", if who.moderator { "true" } else { "false" })
            .append_pair("require_activation", "false")
            .append_pair("suppress_welcome_message", "true");
        let sso = base64::engine::general_purpose::STANDARD.encode(query.finish());
        let sig = self.sign(&sso);
        (sso, sig)
    }

    /// Where to send the browser after a login: the return URL with the signed payload.
    pub fn return_url(&self, login: &LoginRequest, who: &Identity) -> String {
        let (sso, sig) = self.payload(Some(&login.nonce), who);
        let query =
            form_urlencoded::Serializer::new(String::new()).append_pair("sso", &sso).append_pair("sig", &sig).finish();
        let sep = if login.return_sso_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", login.return_sso_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORUM: &str = "https://forum.uni.edu";

    /// What the forum sends: base64 of the nonce and return URL, signed.
    fn request(connect: &Connect, nonce: &str, return_url: &str) -> (String, String) {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("nonce", nonce)
            .append_pair("return_sso_url", return_url)
            .finish();
        let sso = base64::engine::general_purpose::STANDARD.encode(query);
        let sig = connect.sign(&sso);
        (sso, sig)
    }

    fn ada() -> Identity {
        Identity {
            external_id: 42,
            email: "ada@uni.edu".into(),
            username: "ada".into(),
            name: "Ada L".into(),
            add_groups: vec!["support".into()],
            remove_groups: vec![],
            moderator: false,
        }
    }

    #[test]
    fn a_signed_request_round_trips_into_a_signed_answer() {
        let connect = Connect::new("a shared secret of some length", FORUM);
        let (sso, sig) = request(&connect, "n0nce", "https://forum.uni.edu/session/sso_login");
        let login = connect.verify(&sso, &sig).unwrap();
        assert_eq!(login, LoginRequest { nonce: "n0nce".into(), return_sso_url: format!("{FORUM}/session/sso_login") });
        let back = connect.return_url(&login, &ada());
        let query = back.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let (sso, sig) = (&pairs[0].1, &pairs[1].1);
        assert_eq!(connect.sign(sso), *sig, "the answer is signed with the same secret");
        let payload = base64::engine::general_purpose::STANDARD.decode(sso).unwrap();
        let fields: Vec<(String, String)> = form_urlencoded::parse(&payload).into_owned().collect();
        let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("nonce"), Some("n0nce"));
        assert_eq!(get("external_id"), Some("42"));
        assert_eq!(get("email"), Some("ada@uni.edu"));
        assert_eq!(get("add_groups"), Some("support"));
        assert_eq!(get("require_activation"), Some("false"));
    }

    #[test]
    fn tampering_another_secret_and_foreign_returns_are_refused() {
        let connect = Connect::new("a shared secret of some length", FORUM);
        let (sso, sig) = request(&connect, "n0nce", "https://forum.uni.edu/session/sso_login");
        let mut tampered = sig.clone();
        tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert_eq!(connect.verify(&sso, &tampered), Err(ConnectError::BadSignature));
        assert_eq!(connect.verify(&sso, "zz"), Err(ConnectError::BadSignature));
        let other = Connect::new("another secret entirely", FORUM);
        assert_eq!(other.verify(&sso, &sig), Err(ConnectError::BadSignature));
        let (sso, sig) = request(&connect, "n0nce", "https://forum.uni.edu.evil.example/session/sso_login");
        assert_eq!(connect.verify(&sso, &sig), Err(ConnectError::ForeignReturn));
        let (sso, sig) = request(&connect, "", "https://forum.uni.edu/session/sso_login");
        assert_eq!(connect.verify(&sso, &sig), Err(ConnectError::Malformed("no nonce")));
    }

    #[test]
    fn payloads_never_hold_a_plus_or_a_slash() {
        let connect = Connect::new("a shared secret of some length", FORUM);
        for name in ["Ada ~>?", "Zoë Ångström", "a+b/c=d&e", "~~~>>>???", "日本語の名前", "\u{1F600}"] {
            for shift in 0..3 {
                let who = Identity { name: format!("{}{name}", "x".repeat(shift)), ..ada() };
                let (sso, _) = connect.payload(None, &who);
                assert!(!sso.contains('+') && !sso.contains('/'), "{name}: {sso}");
            }
        }
    }

    #[test]
    fn provisioning_payloads_carry_no_nonce() {
        let connect = Connect::new("a shared secret of some length", FORUM);
        let (sso, sig) = connect.payload(None, &ada());
        assert_eq!(connect.sign(&sso), sig);
        let payload = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(sso).unwrap()).unwrap();
        assert!(!payload.contains("nonce") && payload.contains("external_id=42"), "{payload}");
        assert!(!format!("{connect:?}").contains("secret of"), "the secret is not printed");
    }
}
