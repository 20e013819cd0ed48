//! Attachments: images and PDFs on a ticket or a reply, their detected media type, the blob
//! store that keeps their bytes and the service that decides who may upload and download.

mod model;
mod ports;
mod service;

pub use model::*;
pub use ports::*;
pub use service::*;
