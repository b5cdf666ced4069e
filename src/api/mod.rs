//! The daemon's edges: gRPC (`grpc`, one file per service) and HTTP (`http`, one file per
//! route group). Both parse at the edge into domain values, talk to the engine only, and map
//! its errors onto their status codes. `convert` holds every wire ↔ domain conversion and is
//! public so clients (pagerctl) render and parse the same names.

pub mod convert;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod ui;
