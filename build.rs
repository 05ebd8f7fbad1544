//! Rebuild when an embedded directory changes: `include_dir!` reads templates/, the demo repository and the
//! snapshot of its clusters at compile time, and cargo does not know it.
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=fixtures/repos/shop");
    println!("cargo:rerun-if-changed=fixtures/snapshots/shop-setup");
    println!("cargo:rerun-if-changed=schema");
}
