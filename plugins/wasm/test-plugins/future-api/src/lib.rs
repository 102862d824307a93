//! Test-only plugin built against `keeperdb:plugin@1.0.0`, a major this host does not serve.

wit_bindgen::generate!({ path: "wit", world: "connection-source" });

struct Future;

impl exports::keeperdb::plugin::source::Guest for Future {
    fn list_connections() -> Vec<String> {
        vec!["from the future".to_string()]
    }
}

export!(Future);
