//! Adapters: one folder per implementation of a port (DESIGN.md §2).

pub mod embedded_bus;
