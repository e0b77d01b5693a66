//! Sets the linker flags a Node addon needs (undefined Node-API symbols are
//! resolved by the Node process that loads the library).
fn main() {
    napi_build::setup();
}
