//! One-click unsubscribe tokens: HMAC-SHA256 over a version, the user id and the scope, with
//! the instance's secret key, so a link in an email works without signing in and cannot be
//! made for another user or another kind.
//!
//! A token reads `v1.<user id>.<scope>.<mac>` (the MAC in unpadded base64url): safe in a URL
//! query and short enough for a `List-Unsubscribe` header. Tokens do not expire (a link in an
//! old email should still work); changing the key, or the version, invalidates all of them.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::accounts::UserId;
use domain::notifications::{UnsubscribeScope, UnsubscribeTokens};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

/// The shortest secret key accepted, in bytes.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// The file in the data directory that holds a generated key.
const KEY_FILE: &str = "secret-key";

const VERSION: &str = "v1";

/// The instance's secret key. Never printed: `Debug` shows a placeholder.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// A key from configured text; MUST be at least [`MIN_SECRET_KEY_LEN`] bytes.
    pub fn new(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        anyhow::ensure!(
            raw.len() >= MIN_SECRET_KEY_LEN,
            "the secret key must be at least {MIN_SECRET_KEY_LEN} characters long"
        );
        Ok(Self(raw.as_bytes().to_vec()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// The configured key (`OSTS_SECRET_KEY`) if there is one; otherwise the key in
/// `<data_dir>/secret-key`, generated (32 random bytes, file mode 0600) the first time and
/// reused after. The key itself is never logged.
pub fn load_or_create_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretKey> {
    if let Some(raw) = configured {
        return SecretKey::new(raw).context("OSTS_SECRET_KEY");
    }
    let path = data_dir.join(KEY_FILE);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let fresh = URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
            tracing::info!(file = %path.display(), "generated a secret key for signed links");
            SecretKey::new(&fresh)
        }
        // Made before (or just now by another process sharing the directory): reuse it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let raw = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
            SecretKey::new(&raw).with_context(|| format!("the secret key file {} is invalid", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create the secret key file {}", path.display())),
    }
}

/// [`UnsubscribeTokens`] signed with HMAC-SHA256.
#[derive(Clone, Debug)]
pub struct HmacUnsubscribeTokens {
    key: SecretKey,
}

impl HmacUnsubscribeTokens {
    /// Tokens signed with `key`.
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    fn mac(&self, user: i64, scope: &str) -> Hmac<Sha256> {
        // `new_from_slice` accepts keys of any length for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key.0).expect("HMAC takes keys of any length");
        // A purpose prefix keeps these MACs apart from any other use of the same key.
        mac.update(format!("osts/unsubscribe/{VERSION}\n{user}\n{scope}").as_bytes());
        mac
    }
}

impl UnsubscribeTokens for HmacUnsubscribeTokens {
    fn sign(&self, user: UserId, scope: UnsubscribeScope) -> String {
        let tag = self.mac(user.get(), scope.as_str()).finalize().into_bytes();
        format!("{VERSION}.{}.{}.{}", user.get(), scope.as_str(), URL_SAFE_NO_PAD.encode(tag))
    }

    fn verify(&self, token: &str) -> Option<(UserId, UnsubscribeScope)> {
        let mut parts = token.split('.');
        let (version, user, scope, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != VERSION {
            return None;
        }
        // Only the canonical spelling of the id is signed ("+7" or "07" would parse too).
        let id: i64 = user.parse().ok().filter(|id: &i64| id.to_string() == user)?;
        let scope = UnsubscribeScope::parse(scope)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        // Constant-time comparison.
        self.mac(id, scope.as_str()).verify_slice(&tag).ok()?;
        Some((UserId::new(id), scope))
    }
}

#[cfg(test)]
mod tests {
    use domain::notifications::NotificationKind;

    use super::*;

    fn tokens(key: &str) -> HmacUnsubscribeTokens {
        HmacUnsubscribeTokens::new(SecretKey::new(key).unwrap())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_token_verifies_to_its_user_and_scope() {
        let t = tokens(KEY);
        for scope in NotificationKind::ALL.map(UnsubscribeScope::Kind).into_iter().chain([UnsubscribeScope::Digest]) {
            let token = t.sign(UserId::new(42), scope);
            assert!(token.starts_with("v1.42."), "{token}");
            assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "URL-safe: {token}");
            assert!(domain::notifications::UNSUBSCRIBE_TOKEN.is_match(&token), "the published shape: {token}");
            assert_eq!(t.verify(&token), Some((UserId::new(42), scope)));
        }
    }

    #[test]
    fn forged_altered_and_foreign_tokens_are_refused() {
        let t = tokens(KEY);
        let good = t.sign(UserId::new(42), UnsubscribeScope::Kind(NotificationKind::Reply));
        let mac = good.rsplit('.').next().unwrap().to_owned();
        let other_key = tokens("another key that is long enough to be used")
            .sign(UserId::new(42), UnsubscribeScope::Kind(NotificationKind::Reply));
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let cases: Vec<(&str, String)> = vec![
            ("another user", format!("v1.43.reply.{mac}")),
            ("another kind", format!("v1.42.resolved.{mac}")),
            ("the digest scope", format!("v1.42.digest.{mac}")),
            ("another version", good.replacen("v1", "v2", 1)),
            ("another key", other_key),
            ("a flipped MAC character", String::from_utf8(flipped).unwrap()),
            ("a truncated MAC", good[..good.len() - 4].to_owned()),
            ("no MAC", "v1.42.reply".into()),
            ("an extra part", format!("{good}.x")),
            ("a non-canonical id", format!("v1.042.reply.{mac}")),
            ("an unknown kind", format!("v1.42.everything.{mac}")),
            ("empty", String::new()),
            ("garbage", "%%%".into()),
        ];
        for (name, token) in cases {
            assert_eq!(t.verify(&token), None, "{name}: {token}");
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(SecretKey::new("too short").is_err());
        assert!(!format!("{:?}", SecretKey::new(KEY).unwrap()).contains("0123"), "Debug never shows the key");
    }

    #[test]
    fn a_generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create_key(None, &data).unwrap();
        let second = load_or_create_key(None, &data).unwrap();
        assert_eq!(first.0, second.0, "the same key on the next start");
        assert!(first.0.len() >= MIN_SECRET_KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(data.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = load_or_create_key(Some(KEY), &data).unwrap();
        assert_eq!(configured.0, KEY.as_bytes(), "a configured key wins");
        assert!(load_or_create_key(Some("short"), &data).is_err());
    }
}
