//! The FAQ: questions and answers curated from resolved tickets (or written from scratch),
//! categorised, searchable, public once published; and the FAQ candidates worth curating.

mod model;
pub mod policy;
mod ports;
mod rules;
mod service;

pub use model::*;
pub use ports::*;
pub use rules::*;
pub use service::*;
