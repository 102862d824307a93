//! keeperdb native driver SDK (being built).
