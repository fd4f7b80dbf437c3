//! Adapters: one folder per real implementation of a port (DESIGN.md §2).

pub mod maildir;
