//! The shell stays a shell: among keeperdb's own crates it depends on the application core
//! alone, so everything it does goes through `keeperdb_core::App` and a second shell gets the
//! same behaviour. Cargo then refuses any `use` of a host crate from `cli/`. The other keeperdb
//! crates it may use are shells of their own, which themselves depend on the core alone:
//! `keeperdb-mcp` (the MCP protocol, served by `keeperdb mcp`) and `keeperdb-gui` (the web GUI,
//! served by `keeperdb ui`).

#[test]
fn the_cli_depends_on_no_keeperdb_crate_but_the_core() {
    assert_eq!(
        own_dependencies(include_str!("../Cargo.toml")),
        ["keeperdb-core", "keeperdb-gui", "keeperdb-mcp"]
    );
}

fn own_dependencies(manifest: &str) -> Vec<String> {
    let manifest: toml::Table = toml::from_str(manifest).expect("the manifest parses");
    manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("keeperdb"))
        .cloned()
        .collect()
}

#[test]
fn the_mcp_shell_depends_on_no_keeperdb_crate_but_the_core() {
    assert_eq!(
        own_dependencies(include_str!("../../mcp/Cargo.toml")),
        ["keeperdb-core"]
    );
}

#[test]
fn the_gui_shell_depends_on_no_keeperdb_crate_but_the_core() {
    assert_eq!(
        own_dependencies(include_str!("../../gui/Cargo.toml")),
        ["keeperdb-core"]
    );
}
