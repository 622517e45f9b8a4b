//! Helpers for the tests that start a database server of their own.

/// Whether the tests run as root (servers then run as their own user).
pub(crate) fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a database tool and fails the test with its output if it fails.
pub(crate) fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().expect("run a database tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
