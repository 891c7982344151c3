//! Filling pueue's store: copies of one finished task written into a stopped pueued's
//! `state.json`, which it loads on start. The copy keeps pueue's own shape (including the
//! client environment pueue stores with every task), so the store is what `pueue add` makes.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Adds `n` copies of task `template` to the state file at `path`, numbered after the highest
/// id in it.
pub fn clone_task(path: &Path, template: &str, n: usize) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read pueue's state {}", path.display()))?;
    let mut state: Value = serde_json::from_str(&text).context("pueue's state.json")?;
    let tasks = state["tasks"]
        .as_object_mut()
        .context("no `tasks` object in pueue's state.json")?;
    let proto = tasks
        .get(template)
        .cloned()
        .with_context(|| format!("task {template} is not in pueue's state.json"))?;
    let next = tasks
        .keys()
        .filter_map(|k| k.parse::<u64>().ok())
        .max()
        .map_or(0, |m| m + 1);
    for id in next..next + n as u64 {
        let mut t = proto.clone();
        t["id"] = Value::from(id);
        tasks.insert(id.to_string(), t);
    }
    let tmp = path.with_extension("json.bench");
    std::fs::write(&tmp, serde_json::to_vec(&state)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_get_fresh_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(
            &p,
            r#"{"tasks":{"0":{"id":0,"command":"true"},"4":{"id":4,"command":"x"}},"groups":{}}"#,
        )
        .unwrap();
        clone_task(&p, "0", 3).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let tasks = v["tasks"].as_object().unwrap();
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks["7"]["id"], 7);
        assert_eq!(tasks["5"]["command"], "true");
    }
}
