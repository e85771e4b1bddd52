//! One async function per user-visible operation. This layer owns the
//! transactions: it opens one, calls [`crate::store`] and [`crate::risk`],
//! and commits, so that a write and the rescoring it causes land together or
//! not at all. GraphQL resolvers and REST handlers call only this layer.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod ingest;
pub mod payment_writer;
pub mod queries;
pub mod scoring;
pub mod stats_cache;
