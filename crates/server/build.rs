//! Names the git commit the binary is built from, as `FLYWHEEL_GIT_COMMIT` (`flywheel --version` and
//! `flywheel_build_info` on /metrics). A build outside a git checkout (a source tarball) gets "unknown", unless the
//! builder sets `FLYWHEEL_GIT_COMMIT` itself.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=FLYWHEEL_GIT_COMMIT");
    let commit = match std::env::var("FLYWHEEL_GIT_COMMIT") {
        Ok(given) if !given.is_empty() => given,
        _ => git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_string()),
    };
    // Rebuild when HEAD moves: HEAD itself changes on checkout, its reflog on every commit
    // (a worktree has its own git dir, which `--git-dir` names).
    // A path that does not exist would make cargo rerun this script on every build.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for file in ["HEAD", "logs/HEAD"] {
            let path = std::path::Path::new(&dir).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rustc-env=FLYWHEEL_GIT_COMMIT={commit}");
}
