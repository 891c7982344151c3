//! Where an agent runs: `--cwd` > the agent's configured `cwd` > the submitter's directory.

mod common;

use common::Home;

#[test]
fn an_agents_cwd_applies_from_the_cli_and_cwd_overrides_it() {
    let placed = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let explicit = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let run_in = |dir: &std::path::Path, args: &[&str]| {
        let o = home.cmd(args).current_dir(dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let canon = |p: &std::path::Path| p.canonicalize().unwrap().display().to_string();

    // Run from another directory: the agent's own applies.
    let got = run_in(elsewhere.path(), &["run", "--wait", "placed", "cwd"]);
    assert_eq!(got, canon(placed.path()));
    // --cwd wins over it.
    let got = run_in(
        elsewhere.path(),
        &[
            "run",
            "--wait",
            "--cwd",
            explicit.path().to_str().unwrap(),
            "placed",
            "cwd",
        ],
    );
    assert_eq!(got, canon(explicit.path()));
    // An agent without a cwd of its own runs where it was submitted.
    let got = run_in(elsewhere.path(), &["run", "--wait", "fake", "cwd"]);
    assert_eq!(got, canon(elsewhere.path()));
}
