//! Accounts, roles, sessions and sign-in.

mod model;
mod ports;
mod service;

pub use model::*;
pub use ports::*;
pub use service::*;
