//! Records the git commit the binary is built from, for `flywheel --version`: the short hash,
//! or "unknown" when the source is not a git checkout (a release tarball) or git is missing.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// Asks cargo to run this again when `path` changes. A missing file would make cargo run it on
/// every build, so only existing ones are named (a ref that is only packed has no file).
fn watch(path: Option<String>) {
    if let Some(p) = path.filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={p}");
    }
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=FLYWHEEL_GIT_COMMIT={commit}");
    // Run again when HEAD moves: a commit, a checkout, or a branch's ref changing (loose or
    // packed). The paths come from git itself, which also knows where a worktree keeps them.
    watch(git(&["rev-parse", "--git-path", "HEAD"]));
    watch(git(&["rev-parse", "--git-path", "packed-refs"]));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    println!("cargo:rerun-if-changed=build.rs");
}
