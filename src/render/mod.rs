//! What people read: tables, text, markdown reports with charts. Nothing here computes a
//! result; it lays out what `study` produced.

pub mod hardware;
pub mod plan;
pub mod priors;
pub mod profile;
pub mod report;
pub mod simulate;
pub mod table;
pub mod validate;
