//! Finding and stopping a server's whole process tree. `wrangler dev` starts
//! workerd as a child, so stopping only the process we spawned would leave
//! the runtime running (and holding its port). Shared by the test fixture and
//! the benchmark, which both start servers this way.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sends `signal` to `child` and everything below it, waits up to `grace`
/// for the child to exit, then kills whatever of the tree is still alive.
pub fn end_tree(child: &mut Child, signal: &str, grace: Duration) {
    // Collected first: once wrangler exits, workerd is reparented and can no
    // longer be found below it.
    let tree = descendants(child.id());
    send_signal(signal, &tree);
    let deadline = Instant::now() + grace;
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<u32> = tree
        .into_iter()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    send_signal("KILL", &alive);
    let _ = child.wait();
}

fn send_signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// The resident memory of `pid` and every process below it, in bytes: what
/// a server costs the machine, whichever of its processes holds it.
pub fn tree_rss_bytes(root: u32) -> u64 {
    descendants(root).into_iter().filter_map(rss_bytes).sum()
}

/// The resident memory of one process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// `root` and every process below it, read from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat_fields(pid)?.get(1)?.parse().ok()?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// The fields of `/proc/<pid>/stat` after the command name, so index 0 is the
/// state, 1 the parent pid, 11 and 12 user and system time (proc(5) numbers
/// them from 3).
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields resume
    // after the last ')'.
    let after = stat.get(stat.rfind(')')? + 2..)?;
    Some(after.split_whitespace().map(str::to_owned).collect())
}
