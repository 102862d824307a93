//! The shell stays a shell: among keeperdb's own crates it depends on the application core
//! alone, so everything it does goes through `keeperdb_core::App` and a second shell gets the
//! same behaviour. Cargo then refuses any `use` of a host crate from `cli/`. The one other
//! keeperdb crate it may use is `keeperdb-mcp`, a protocol shell of its own (served by `keeperdb
//! mcp`), which itself depends on the core alone.

#[test]
fn the_cli_depends_on_no_keeperdb_crate_but_the_core() {
    let manifest: toml::Table =
        toml::from_str(include_str!("../Cargo.toml")).expect("cli/Cargo.toml parses");
    let own: Vec<&String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("keeperdb"))
        .collect();
    assert_eq!(own, ["keeperdb-core", "keeperdb-mcp"]);
}

#[test]
fn the_mcp_shell_depends_on_no_keeperdb_crate_but_the_core() {
    let manifest: toml::Table =
        toml::from_str(include_str!("../../mcp/Cargo.toml")).expect("mcp/Cargo.toml parses");
    let own: Vec<&String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("keeperdb"))
        .collect();
    assert_eq!(own, ["keeperdb-core"]);
}
