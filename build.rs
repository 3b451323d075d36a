// The migrations are embedded by sqlx's macros (`migrate!`, `#[sqlx::test(migrations)]`) at
// compile time; without this a new migration would not reach an already built binary or test.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
