//! Accounts, roles, sessions and sign-in.

mod confirmation;
mod model;
mod ports;
mod service;

pub use confirmation::*;
pub use model::*;
pub use ports::*;
pub use service::*;
