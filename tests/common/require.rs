//! What a test does when the machine denies it something it needs (root,
//! a `mount`, `chattr +i`): on a person's machine it says why and skips;
//! under `CI=true` it fails, so that CI never passes a test it did not run.
//! (Server tests are not decided here: they skip when their URL is unset,
//! and CI sets it.)

/// Whether the tests run in CI: `CI` is `true` (as CI services and
/// `.ci/run` set it) or `1`.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// `true` when the test got `what` and goes on. When it did not (`got` is
/// why not), `false` after printing why the test is skipped, or a panic
/// naming `what` and why under `CI=true`.
pub fn require(what: &str, got: Result<(), String>) -> bool {
    match got {
        Ok(()) => true,
        Err(why) if in_ci() => panic!(
            "this test needs {what} and CI=true, where it must run, not skip: {why} \
             (run the tests as root on a machine that allows it)"
        ),
        Err(why) => {
            eprintln!("skipping: this test needs {what}: {why}");
            false
        }
    }
}

/// Runs `command`, `Ok` when it succeeds, else what it printed or why it
/// could not start: the `got` of [`require`].
pub fn succeeds(command: &mut std::process::Command) -> Result<(), String> {
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{:?} failed ({}): {}",
            command,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("{:?} could not start: {e}", command)),
    }
}
