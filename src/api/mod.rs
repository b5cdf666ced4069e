//! The daemon's edges: gRPC (`grpc`) and HTTP (`http`).

pub mod actions;
pub mod grpc;
pub mod http;
pub mod ical;
pub mod ingest;
