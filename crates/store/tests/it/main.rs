//! paysync-store's integration tests: one binary.

mod migrations_in_step;
