//! SQLite files: open, stream rows, cancel through a progress handler that interrupts the
//! running statement.
//!
//! The dependencies run one way: [`query`] drives [`raw`] (the C-API stepping) and falls back
//! to sqlx; both take their column types from [`types`].

mod catalog;
mod open;
mod query;
mod raw;
mod types;

pub use catalog::catalog_sql;
pub use open::{Shared, connect};
pub use query::run;
