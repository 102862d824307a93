//! KSM emulator (being built).
