//! `include/cortex_migrate.h` is what cbindgen generates from `src/` with
//! `cbindgen.toml`, byte for byte: this regenerates it and compares, so a
//! change to the ABI that forgot the header fails here (and nobody needs
//! the cbindgen command). `CORTEX_MIGRATE_BLESS=1` writes it instead.

use std::path::Path;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

fn generated() -> String {
    let root = Path::new(CRATE);
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .unwrap();
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn committed_header_is_the_generated_one() {
    let path = Path::new(CRATE).join("include/cortex_migrate.h");
    let want = generated();
    if std::env::var_os("CORTEX_MIGRATE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what cbindgen generates from src/; run \
         `CORTEX_MIGRATE_BLESS=1 cargo test -p cortex-migrate-capi --test header` \
         and commit it. Generated:\n{want}",
        path.display()
    );
}
