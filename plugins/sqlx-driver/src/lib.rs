//! sqlx driver plugin (being built).
