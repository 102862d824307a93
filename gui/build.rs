//! Release builds embed `web/dist` (the page `cargo xtask build-ui` builds): rebuild this crate
//! when it changes. Debug builds read it from disk at run time, so they need no rebuild.

fn main() {
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rerun-if-changed=web/dist");
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
