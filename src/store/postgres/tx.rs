//! Hands the inherent operations of [`Tx`] (in `read.rs`, `write.rs`, `ingest.rs`,
//! `schedules.rs`, `ledger.rs`, `cluster.rs`, …) to the store's `ReadTx` and `WriteTx` traits
//! (`store::tx::forward_tx`), with the operations only this backend has.

use super::Tx;

crate::store::tx::forward_tx!(Tx<'_, '_>;
    read {
        fn cluster_nodes(&self) -> Result<Vec<crate::store::cluster::NodeRecord>>;
    }
    write {
        fn fence(&self, token: i64) -> Result<()>;
    }
);
