//! The JSON API (`server/src/http/api.rs`), for the person who may and the person who may not.
