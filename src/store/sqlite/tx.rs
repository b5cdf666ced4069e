//! Hands the inherent operations of [`Tx`] (in `read.rs`, `write.rs`, `ingest.rs`,
//! `schedules.rs`, `ledger.rs`) to the store's `ReadTx` and `WriteTx` traits
//! (`store::tx::forward_tx`).

use super::Tx;

crate::store::tx::forward_tx!(Tx<'_>; read {} write {});
