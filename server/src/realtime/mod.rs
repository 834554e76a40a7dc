//! Real-time delivery: the websocket endpoint (`ws`), its frames
//! (`protocol`), the in-process fan-out (`hub`), the single writer that
//! group-commits messages (`writer`) and the batched delivery log
//! (`deliveries`). Transport only: access decisions come from the domain
//! through the store's `ChannelAccess`.

pub mod cluster;
pub mod deliveries;
pub mod hub;
pub mod limits;
pub mod protocol;
pub mod writer;
pub mod ws;
