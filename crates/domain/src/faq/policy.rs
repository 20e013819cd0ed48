//! Who may curate the FAQ: a pure rule, table-tested.

use crate::accounts::{Principal, Role};
use crate::error::{Error, Forbidden};

/// Whether `principal` may write, edit, publish and unpublish FAQ entries and see drafts
/// and candidates: active admins always, active support members when
/// `support_can_publish` (`OSTS_SUPPORT_CAN_PUBLISH_FAQ`), students never.
pub fn may_curate(principal: &Principal, support_can_publish: bool) -> Result<(), Error> {
    principal.require_active()?;
    match principal.role() {
        Role::Admin => Ok(()),
        Role::Support if support_can_publish => Ok(()),
        Role::Support | Role::Student => Err(Error::Forbidden(Forbidden::RoleNotAllowed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AccountStatus;
    use crate::testing::PrincipalBuilder;

    #[test]
    fn who_may_curate() {
        use AccountStatus::*;
        use Role::*;
        let table = [
            (Admin, Active, false, true),
            (Admin, Active, true, true),
            (Support, Active, false, false),
            (Support, Active, true, true),
            (Student, Active, false, false),
            (Student, Active, true, false),
            (Admin, Pending, true, false),
            (Support, Deactivated, true, false),
        ];
        for (role, status, flag, allowed) in table {
            let p = PrincipalBuilder::new(1, role).status(status).build();
            assert_eq!(may_curate(&p, flag).is_ok(), allowed, "{role:?} {status:?} flag={flag}");
        }
    }
}
