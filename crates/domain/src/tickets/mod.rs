//! Tickets: their values, status machine, queue order, history and the ticket service.

mod model;
mod ports;
pub mod queue;
mod service;
mod status;

pub use model::*;
pub use ports::*;
pub use service::*;
pub use status::*;
