//! The rules of the product, with no I/O: vocabulary, who may see what, and
//! how audit events are chained. Transport and store call into this layer;
//! it never touches a socket or a pool.

pub mod access;
pub mod audit;
pub mod break_glass;
pub mod channels;
pub mod clock;
pub mod consent;
pub mod email_code;
pub mod findings;
pub mod limits;
pub mod meetings;
pub mod missing;
pub mod search;
pub mod sharing;
pub mod sharing_records;
pub mod subject_access;
pub mod vocabulary;
pub mod withholding;
pub mod working_days;
