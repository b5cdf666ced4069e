//! The daemon's edges: gRPC (`grpc`) and HTTP (`http`).

pub mod grpc;
pub mod http;
