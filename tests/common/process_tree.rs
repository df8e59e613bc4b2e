//! The process-tree stopper lives in its own dev-only crate
//! (`tests/support`) so the benchmark can share it without a `#[path]`.

pub use process_tree::*;
