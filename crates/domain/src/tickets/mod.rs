//! Tickets: their values, status machine, queue order, history and the ticket service.

mod cursor;
mod model;
mod ports;
pub mod queue;
mod service;
mod status;

pub use cursor::*;
pub use model::*;
pub use ports::*;
pub use service::*;
pub use status::*;
