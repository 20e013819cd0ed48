//! The inbox, preferences and the admins' dead-letter list.

use std::sync::Arc;

use crate::accounts::{Principal, UserId};
use crate::clock::Clock;
use crate::error::{Error, Resource};
use crate::page::{Page, PageLimit};

use super::{
    Channel, DeadLetter, DeliveryId, Notification, NotificationId, NotificationRepository, OutboxRepository,
    Preference, UnsubscribeScope, UnsubscribeTokens, UNSUBSCRIBE_TOKEN,
};

/// Notifications as their recipients and admins see them.
#[derive(Clone)]
pub struct NotificationService {
    notifications: Arc<dyn NotificationRepository>,
    outbox: Arc<dyn OutboxRepository>,
    tokens: Arc<dyn UnsubscribeTokens>,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    /// Wires the service.
    pub fn new(
        notifications: Arc<dyn NotificationRepository>,
        outbox: Arc<dyn OutboxRepository>,
        tokens: Arc<dyn UnsubscribeTokens>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { notifications, outbox, tokens, clock }
    }

    /// The caller's notifications, newest first.
    pub async fn inbox(
        &self,
        principal: &Principal,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Notification>, Error> {
        principal.require_active()?;
        Ok(self.notifications.inbox(principal.id(), limit, cursor).await?)
    }

    /// How many of the caller's notifications are unread.
    pub async fn unread(&self, principal: &Principal) -> Result<u64, Error> {
        principal.require_active()?;
        Ok(self.notifications.unread(principal.id()).await?)
    }

    /// Marks one of the caller's notifications read; someone else's is "not found".
    pub async fn mark_read(&self, principal: &Principal, id: NotificationId) -> Result<(), Error> {
        principal.require_active()?;
        if self.notifications.mark_read(principal.id(), id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound(Resource::Notification))
        }
    }

    /// Marks all the caller's notifications read; returns how many were unread.
    pub async fn mark_all_read(&self, principal: &Principal) -> Result<u64, Error> {
        principal.require_active()?;
        Ok(self.notifications.mark_all_read(principal.id(), self.clock.now()).await?)
    }

    /// The caller's preferences for every kind.
    pub async fn preferences(&self, principal: &Principal) -> Result<Vec<Preference>, Error> {
        principal.require_active()?;
        let mut all = self.notifications.preferences(principal.id()).await?;
        all.retain(|p| p.kind.has_preference());
        Ok(all)
    }

    /// Changes the caller's preferences for the kinds given; returns all of them. Kinds
    /// without a preference (the confirmation link) are left alone.
    pub async fn set_preferences(
        &self,
        principal: &Principal,
        changes: Vec<Preference>,
    ) -> Result<Vec<Preference>, Error> {
        principal.require_active()?;
        for preference in changes.into_iter().filter(|p| p.kind.has_preference()) {
            self.notifications.set_preference(principal.id(), preference).await?;
        }
        self.preferences(principal).await
    }

    /// Turns email off for one kind, for `user` (from a verified unsubscribe token; no
    /// session needed).
    pub async fn unsubscribe(&self, user: UserId, kind: super::NotificationKind) -> Result<(), Error> {
        let current = self.notifications.preferences(user).await?;
        let digest = current.iter().find(|p| p.kind == kind).is_some_and(|p| p.digest);
        Ok(self.notifications.set_preference(user, Preference { kind, email: false, digest }).await?)
    }

    /// What a one-click unsubscribe token would turn off, without changing anything (the
    /// confirmation page: mail scanners fetch links, so reading one must not unsubscribe).
    pub fn check_unsubscribe(&self, token: &str) -> Result<UnsubscribeScope, Error> {
        self.verify(token).map(|(_, scope)| scope)
    }

    /// Whom and what a token is for: invalid if it is not shaped like a token
    /// ([`UNSUBSCRIBE_TOKEN`]), not found if it is but was not signed with this instance's
    /// key (forged, altered, or from before the key changed).
    fn verify(&self, token: &str) -> Result<(UserId, UnsubscribeScope), Error> {
        if !UNSUBSCRIBE_TOKEN.is_match(token) {
            return Err(invalid_token());
        }
        self.tokens.verify(token).ok_or(Error::NotFound(Resource::UnsubscribeLink))
    }

    /// Turns off the emails a verified one-click unsubscribe token names: one kind, or every
    /// kind the user gets as a digest. Unsubscribing twice is fine.
    pub async fn unsubscribe_with_token(&self, token: &str) -> Result<UnsubscribeScope, Error> {
        let (user, scope) = self.verify(token)?;
        match scope {
            UnsubscribeScope::Kind(kind) => self.unsubscribe(user, kind).await?,
            UnsubscribeScope::Digest => {
                for p in self.notifications.preferences(user).await? {
                    if p.email && p.digest {
                        self.notifications.set_preference(user, Preference { email: false, ..p }).await?;
                    }
                }
            }
        }
        tracing::info!(user = user.get(), scope = scope.as_str(), "unsubscribed by link");
        Ok(scope)
    }

    /// Deliveries that gave up (admins), newest first, on the channel named `channel` or on
    /// every channel; an unknown channel name is invalid.
    pub async fn dead_letters(&self, principal: &Principal, channel: Option<&str>) -> Result<Vec<DeadLetter>, Error> {
        principal.require_admin()?;
        let channel = channel
            .map(|raw| {
                Channel::parse(raw).ok_or_else(|| {
                    let known: Vec<&str> = Channel::all().into_iter().map(Channel::as_str).collect();
                    Error::invalid(
                        "channel",
                        "unknown_channel",
                        format!("no such channel; channels: {}", known.join(", ")),
                    )
                })
            })
            .transpose()?;
        Ok(self.outbox.dead_letters(channel, 100).await?)
    }

    /// Queues a dead delivery again (admins).
    pub async fn retry(&self, principal: &Principal, id: DeliveryId) -> Result<(), Error> {
        principal.require_admin()?;
        if self.outbox.retry(id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound(Resource::Delivery))
        }
    }
}

fn invalid_token() -> Error {
    Error::invalid(
        "token",
        "invalid_unsubscribe_token",
        "this unsubscribe link is not valid (it may be cut short); sign in to choose which emails you get",
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{AccountStatus, Role};
    use crate::clock::FixedClock;
    use crate::error::Forbidden;
    use crate::notifications::{
        MockNotificationRepository, MockOutboxRepository, MockUnsubscribeTokens, NotificationKind,
    };
    use crate::testing::PrincipalBuilder;

    fn service(n: MockNotificationRepository, o: MockOutboxRepository) -> NotificationService {
        with_tokens(n, o, MockUnsubscribeTokens::new())
    }
    fn with_tokens(
        n: MockNotificationRepository,
        o: MockOutboxRepository,
        t: MockUnsubscribeTokens,
    ) -> NotificationService {
        let clock = FixedClock(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        NotificationService::new(Arc::new(n), Arc::new(o), Arc::new(t), Arc::new(clock))
    }
    fn who(role: Role, status: AccountStatus) -> Principal {
        PrincipalBuilder::new(5, role).status(status).build()
    }

    #[tokio::test]
    async fn someone_elses_notification_is_not_found() {
        let mut n = MockNotificationRepository::new();
        n.expect_mark_read().returning(|_, _, _| Ok(false));
        let err = service(n, MockOutboxRepository::new())
            .mark_read(&who(Role::Student, AccountStatus::Active), NotificationId::new(9))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(Resource::Notification)), "{err:?}");
    }

    #[tokio::test]
    async fn dead_letters_are_for_admins_only() {
        let mut o = MockOutboxRepository::new();
        o.expect_dead_letters().times(1).withf(|c, _| c.is_none()).returning(|_, _| Ok(vec![]));
        o.expect_dead_letters().times(1).withf(|c, _| *c == Some(Channel::Email)).returning(|_, _| Ok(vec![]));
        let s = service(MockNotificationRepository::new(), o);
        let err = s.dead_letters(&who(Role::Support, AccountStatus::Active), None).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)), "{err:?}");
        let admin = who(Role::Admin, AccountStatus::Active);
        assert!(s.dead_letters(&admin, None).await.unwrap().is_empty());
        assert!(s.dead_letters(&admin, Some("email")).await.unwrap().is_empty());
        let err = s.dead_letters(&admin, Some("fax")).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { code: "unknown_channel", .. }), "{err:?}");
    }

    #[tokio::test]
    async fn pending_accounts_have_no_inbox() {
        let s = service(MockNotificationRepository::new(), MockOutboxRepository::new());
        let err = s.unread(&who(Role::Student, AccountStatus::Pending)).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(Forbidden::AccountPending)), "{err:?}");
    }

    #[tokio::test]
    async fn a_malformed_token_is_invalid_and_an_unsigned_one_not_found_and_both_change_nothing() {
        let mut t = MockUnsubscribeTokens::new();
        t.expect_verify().times(2).returning(|_| None);
        // No expectation on the repository: any call would fail the test.
        let s = with_tokens(MockNotificationRepository::new(), MockOutboxRepository::new(), t);
        for bad in ["forged", &TOKEN[..TOKEN.len() - 1], &TOKEN.replace("v1.", "v2."), &TOKEN.replace("reply", "all")] {
            for err in [s.check_unsubscribe(bad).unwrap_err(), s.unsubscribe_with_token(bad).await.unwrap_err()] {
                assert!(
                    matches!(err, Error::Invalid { code: "invalid_unsubscribe_token", field: "token", .. }),
                    "{bad}: {err:?}"
                );
            }
        }
        // Well formed, but the signature does not verify.
        for err in [s.check_unsubscribe(TOKEN).unwrap_err(), s.unsubscribe_with_token(TOKEN).await.unwrap_err()] {
            assert!(matches!(err, Error::NotFound(Resource::UnsubscribeLink)), "{err:?}");
        }
    }

    /// A token of the right shape (its MAC is not checked here: the mock decides).
    const TOKEN: &str = "v1.9.reply.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[tokio::test]
    async fn a_kind_token_turns_off_that_kinds_email_and_keeps_the_digest_flag() {
        let mut t = MockUnsubscribeTokens::new();
        t.expect_verify().returning(|_| Some((UserId::new(9), UnsubscribeScope::Kind(NotificationKind::Reply))));
        let mut n = MockNotificationRepository::new();
        n.expect_preferences().returning(|_| {
            Ok(NotificationKind::ALL
                .into_iter()
                .map(|kind| Preference { kind, email: true, digest: kind == NotificationKind::Reply })
                .collect())
        });
        n.expect_set_preference()
            .times(1)
            .withf(|user, p| {
                *user == UserId::new(9)
                    && *p == Preference { kind: NotificationKind::Reply, email: false, digest: true }
            })
            .returning(|_, _| Ok(()));
        let s = with_tokens(n, MockOutboxRepository::new(), t);
        assert_eq!(s.unsubscribe_with_token(TOKEN).await.unwrap(), UnsubscribeScope::Kind(NotificationKind::Reply));
    }

    #[tokio::test]
    async fn a_digest_token_turns_off_every_digest_kind_only() {
        let mut t = MockUnsubscribeTokens::new();
        t.expect_verify().returning(|_| Some((UserId::new(9), UnsubscribeScope::Digest)));
        let mut n = MockNotificationRepository::new();
        n.expect_preferences().returning(|_| {
            Ok(NotificationKind::ALL
                .into_iter()
                .map(|kind| Preference {
                    kind,
                    email: true,
                    digest: matches!(kind, NotificationKind::Reply | NotificationKind::StatusChanged),
                })
                .collect())
        });
        let changed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = changed.clone();
        n.expect_set_preference().returning(move |_, p| {
            seen.lock().unwrap().push(p);
            Ok(())
        });
        let s = with_tokens(n, MockOutboxRepository::new(), t);
        assert_eq!(s.unsubscribe_with_token(TOKEN).await.unwrap(), UnsubscribeScope::Digest);
        let changed = changed.lock().unwrap().clone();
        assert_eq!(
            changed,
            vec![
                Preference { kind: NotificationKind::StatusChanged, email: false, digest: true },
                Preference { kind: NotificationKind::Reply, email: false, digest: true },
            ]
        );
    }
}
