//! Unit tests of the PostgreSQL backend.
