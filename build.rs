//! Rebuild when an embedded directory changes: `include_dir!` reads templates/ and the demo repository at compile
//! time, and cargo does not know it.
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=fixtures/repos/shop");
    println!("cargo:rerun-if-changed=schema");
}
