//! A core module as `cargo build --target wasm32-unknown-unknown` leaves it, turned into the
//! component keeperdb loads: wit-bindgen puts the component's type in a custom section of the
//! module, and `wit-component` encodes module and type into a component (what
//! `wasm-tools component new` does).

use crate::WasmError;

/// Whether `bytes` start like a core WebAssembly module (not a component).
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The component encoded from the core module `bytes` of plugin `plugin`.
pub fn component_from_module(plugin: &str, bytes: &[u8]) -> Result<Vec<u8>, WasmError> {
    let not_a_component = |message: String| WasmError::NotAComponent {
        plugin: plugin.to_string(),
        message,
    };
    let encoded = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
        .map(|e| e.encode());
    match encoded {
        Err(e) => Err(not_a_component(format!(
            "it is a core module without a component type ({e:#}); build it with a WIT \
             bindings generator such as the keeperdb plugin SDK"
        ))),
        Ok(Err(e)) => Err(not_a_component(format!(
            "it cannot be encoded as a component: {e:#}"
        ))),
        Ok(Ok(component)) => Ok(component),
    }
}
