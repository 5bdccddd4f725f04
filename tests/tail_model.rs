//! Randomised model-based test of the file tailer: random sequences of append, partial append,
//! rename rotation, copytruncate, truncate, delete+recreate, symlink swap, deleting rotated
//! files, and stop/resume of the tailer (with file operations while it is stopped), checked
//! against a model of what must arrive.
//!
//! The model: every line carries a unique number `n` and the id of the file generation it was
//! written to (a generation is one inode). Every complete line must be delivered **exactly once**
//! and, per generation, **in order**; a delivered line must be byte-for-byte a line that was
//! written (no fragments). The only lines allowed to go missing are those the operation itself
//! destroys before anyone could read them, which the model marks as "may be lost" *at the moment
//! of the operation*:
//! * copytruncate / truncate racing the writer: lines of the file not yet delivered when the
//!   truncate happens (the unavoidable window; measured and printed);
//! * operations while the tailer is stopped that destroy or hide unread data: deleting a file,
//!   truncating it, replacing it by a symlink swap, or renaming a file out of a live-name-only
//!   glob when that file was not in the tailer's checkpoint (it never saw it).
//!
//! Two sources run at once: `a/fw.log` (live name only; rotated files are drained through the
//! fd, or found by inode after a restart) and `b/fw.log*` (rotated names included).
//!
//! Steps: 300 in `cargo test`. `SOCWALL_SOAK=1` runs `SOCWALL_SOAK_STEPS` (default 20000) steps;
//! `SOCWALL_SEED=<n>` replays a seed. The seed is printed at the start and on failure.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socwall::tail::{SourceSpec, StartAt, TailCheckpoint, TailOptions, Tailer};
use tokio::sync::mpsc::{Sender, channel};

const DEFAULT_STEPS: usize = 300;
const DEFAULT_SOAK_STEPS: usize = 20_000;
const DEADLINE: Duration = Duration::from_secs(15);

/// splitmix64: tiny, seedable, good enough to drive a test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The exact bytes of line `n` (without '\n').
fn line_text(n: u64, generation: u32, len: usize) -> Vec<u8> {
    let mut v = format!("n={n} g={generation} ").into_bytes();
    let fill = b'a' + (n % 26) as u8;
    while v.len() < len {
        v.push(fill);
    }
    v
}

#[derive(Debug, Clone)]
struct LineInfo {
    generation: u32,
    family: usize,
    len: usize,
    /// false: an operation destroyed it before it could have been read (see module docs).
    must: bool,
}

/// What the consumer thread has seen.
#[derive(Default)]
struct Received {
    count: HashMap<u64, u32>,
    last_per_gen: HashMap<u32, u64>,
    problems: Vec<String>,
    /// Per family (source): the highest line number delivered so far.
    max_n: [Option<u64>; 2],
    /// Lines of one source that arrived after a line of the same source written later, in
    /// another file (allowed: only per-file order is promised; measured).
    cross_file_inversions: u64,
    total: u64,
}

impl Received {
    fn observe(&mut self, line: &[u8], registry: &[LineInfo]) {
        self.total += 1;
        let text = String::from_utf8_lossy(line);
        let parsed = text
            .strip_prefix("n=")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        let Some(n) = parsed.filter(|&n| (n as usize) < registry.len()) else {
            self.problems
                .push(format!("garbage line {:?}", &text[..text.len().min(80)]));
            return;
        };
        let info = &registry[n as usize];
        if line != line_text(n, info.generation, info.len).as_slice() {
            self.problems.push(format!(
                "line {n} mangled: {:?}",
                &text[..text.len().min(80)]
            ));
            return;
        }
        let c = self.count.entry(n).or_insert(0);
        *c += 1;
        if *c > 1 {
            self.problems.push(format!("line {n} delivered {c} times"));
        }
        if let Some(prev) = self.last_per_gen.insert(info.generation, n)
            && prev >= n
        {
            self.problems.push(format!(
                "generation {}: line {n} after line {prev}",
                info.generation
            ));
        }
        let max = &mut self.max_n[info.family];
        if max.is_some_and(|m| m > n) {
            self.cross_file_inversions += 1;
        }
        *max = (*max).max(Some(n));
    }
}

#[derive(Debug)]
struct Generation {
    family: usize,
    /// `lines.len()` at its last truncation: lines from there on are the new content.
    truncated_at: Option<usize>,
    dev: u64,
    ino: u64,
    /// Complete lines written to it, in order.
    lines: Vec<u64>,
    /// A line being written: its number and how many bytes of it are on disk.
    partial: Option<(u64, usize)>,
}

#[derive(Debug)]
struct Live {
    generation: u32,
}

struct Family {
    source: u16,
    dir: PathBuf,
    /// true: the glob matches rotated names too (`fw.log*`).
    glob_all: bool,
    live: Option<Live>,
    /// Renamed-away files still on disk (path, generation), oldest first.
    rotated: VecDeque<(PathBuf, u32)>,
}

impl Family {
    fn live_path(&self) -> PathBuf {
        self.dir.join("fw.log")
    }
    fn spec(&self) -> SourceSpec {
        let pat = if self.glob_all { "fw.log*" } else { "fw.log" };
        SourceSpec {
            start_at: StartAt::End,
            ..SourceSpec::new(
                self.source,
                format!("fam{}", self.source),
                self.dir.join(pat).to_str().unwrap(),
            )
        }
    }
}

/// What the tailer's checkpoint held when it was stopped.
struct Stopped {
    inodes: HashSet<(u64, u64)>,
    /// Generations truncated after the tailer last saw them (no line of the new content
    /// delivered yet): their saved head may be the old content's, so a position for them may
    /// not match the file any more (see `op_restart`).
    stale: HashSet<u32>,
    /// Generations from this index on were created while stopped. Their inode numbers can be
    /// those of files the stop just let go of (deleted files held open by the tailer are
    /// freed when it closes them), so "its inode is in the checkpoint" is not enough.
    first_new: u32,
}

impl Stopped {
    fn in_checkpoint(&self, g: u32, generation: &Generation) -> bool {
        g < self.first_new && self.inodes.contains(&(generation.dev, generation.ino))
    }
}

#[derive(Default, Debug)]
struct Measure {
    racing_truncations: u64,
    window_lines: u64,
    stopped_destructive: u64,
    stopped_may_lines: u64,
    /// Lines of deleted files still being drained when the tailer stopped.
    unreachable_at_stop: u64,
    /// Lines of truncated-then-rotated files whose saved head went stale (see `op_restart`).
    stale_at_stop: u64,
    restarts: u64,
    ops: HashMap<&'static str, u64>,
}

struct Model {
    rng: Rng,
    seed: u64,
    families: Vec<Family>,
    gens: Vec<Generation>,
    registry: Arc<Mutex<Vec<LineInfo>>>,
    received: Arc<Mutex<Received>>,
    tailer: Option<Tailer>,
    tx: Option<Sender<socwall::tail::LineBatch>>,
    /// Window lines per racing truncation, to count the lost ones at the end.
    window: Vec<u64>,
    measure: Measure,
    log: VecDeque<String>,
    unique: u64,
    /// Complete lines that must arrive and have not been seen arriving yet.
    unconfirmed: std::collections::BTreeSet<u64>,
    _tmp: tempfile::TempDir,
}

fn opts() -> TailOptions {
    TailOptions {
        rescan_interval: Duration::from_millis(25),
        ..TailOptions::default()
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    f.write_all(bytes).unwrap();
}

impl Model {
    fn new(seed: u64) -> Model {
        let tmp = tempfile::tempdir().unwrap();
        let families: Vec<Family> = [(1u16, false), (2, true)]
            .into_iter()
            .map(|(source, glob_all)| {
                let dir = tmp.path().join(if glob_all { "b" } else { "a" });
                fs::create_dir_all(dir.join("copies")).unwrap();
                fs::create_dir_all(dir.join("targets")).unwrap();
                Family {
                    source,
                    dir,
                    glob_all,
                    live: None,
                    rotated: VecDeque::new(),
                }
            })
            .collect();
        Model {
            rng: Rng(seed),
            seed,
            families,
            gens: Vec::new(),
            registry: Arc::new(Mutex::new(Vec::new())),
            received: Arc::new(Mutex::new(Received::default())),
            tailer: None,
            tx: None,
            window: Vec::new(),
            measure: Measure::default(),
            log: VecDeque::new(),
            unique: 0,
            unconfirmed: Default::default(),
            _tmp: tmp,
        }
    }

    fn note(&mut self, s: String) {
        if self.log.len() >= 60 {
            self.log.pop_front();
        }
        let s = if self.running() {
            s
        } else {
            format!("  [stopped] {s}")
        };
        self.log.push_back(s);
    }

    fn specs(&self) -> Vec<SourceSpec> {
        self.families.iter().map(Family::spec).collect()
    }

    fn start(&mut self, resume: Option<TailCheckpoint>) {
        let tx = self.tx.clone().unwrap();
        let t = match resume {
            None => Tailer::spawn(self.specs(), opts(), tx),
            Some(cp) => Tailer::resume(self.specs(), opts(), tx, cp),
        }
        .unwrap();
        // Until the first rescan has run, a file deleted now was never opened: wait for it.
        let st = t.stats();
        self.wait("first rescan", |_| st.rescans() >= 1);
        self.tailer = Some(t);
    }

    fn running(&self) -> bool {
        self.tailer.is_some()
    }

    fn fresh_name(&mut self) -> u64 {
        self.unique += 1;
        self.unique
    }

    /// Polls `cond` (with the received state) until true; panics at the deadline.
    fn wait(&self, what: &str, cond: impl Fn(&Received) -> bool) {
        let end = Instant::now() + DEADLINE;
        loop {
            if cond(&self.received.lock().unwrap()) {
                return;
            }
            if Instant::now() > end {
                let r = self.received.lock().unwrap();
                panic!(
                    "seed {}: timed out waiting for {what}; problems so far: {:?}",
                    self.seed,
                    &r.problems[..r.problems.len().min(5)]
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn new_generation(&mut self, fam: usize, path: &Path) -> u32 {
        let m = fs::metadata(path).unwrap();
        self.gens.push(Generation {
            family: fam,
            truncated_at: None,
            dev: m.dev(),
            ino: m.ino(),
            lines: Vec::new(),
            partial: None,
        });
        let g = (self.gens.len() - 1) as u32;
        self.note(format!(
            "new g{g} at {} (inode {})",
            path.display(),
            m.ino()
        ));
        g
    }

    /// Every name in the families' directories with its inode (for failure messages).
    fn listing(&self) -> String {
        let mut out = Vec::new();
        for f in &self.families {
            let Ok(rd) = fs::read_dir(&f.dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if let Ok(m) = fs::metadata(&p) {
                    out.push(format!("{} -> {}", p.display(), m.ino()));
                }
            }
        }
        out.sort();
        out.join("\n")
    }

    /// The live generation of `fam`, creating `fw.log` if there is none.
    fn live_gen(&mut self, fam: usize) -> u32 {
        if let Some(l) = &self.families[fam].live {
            return l.generation;
        }
        let path = self.families[fam].live_path();
        fs::write(&path, b"").unwrap();
        let g = self.new_generation(fam, &path);
        self.families[fam].live = Some(Live { generation: g });
        g
    }

    fn line_len(&mut self) -> usize {
        let r = self.rng.below(1000);
        (if r < 5 {
            self.rng.range(30_000, 60_000)
        } else if r < 25 {
            self.rng.range(2_000, 20_000)
        } else {
            self.rng.range(20, 200)
        }) as usize
    }

    fn register(&mut self, fam: usize, generation: u32) -> (u64, usize) {
        let len = self.line_len();
        let mut reg = self.registry.lock().unwrap();
        let n = reg.len() as u64;
        reg.push(LineInfo {
            generation,
            family: fam,
            len,
            must: true,
        });
        (n, len)
    }

    /// Finishes the live generation's partial line, if any.
    fn complete_partial(&mut self, fam: usize) {
        let Some(live) = &self.families[fam].live else {
            return;
        };
        let g = live.generation;
        let Some((n, written)) = self.gens[g as usize].partial.take() else {
            return;
        };
        let len = self.registry.lock().unwrap()[n as usize].len;
        let mut rest = line_text(n, g, len)[written..].to_vec();
        rest.push(b'\n');
        append(&self.families[fam].live_path(), &rest);
        self.gens[g as usize].lines.push(n);
        self.unconfirmed.insert(n);
    }

    fn op_append(&mut self, fam: usize) {
        let g = self.live_gen(fam);
        let mut bytes = Vec::new();
        if let Some((n, written)) = self.gens[g as usize].partial.take() {
            let len = self.registry.lock().unwrap()[n as usize].len;
            bytes.extend_from_slice(&line_text(n, g, len)[written..]);
            bytes.push(b'\n');
            self.gens[g as usize].lines.push(n);
            self.unconfirmed.insert(n);
        }
        let k = if self.rng.chance(0.03) {
            self.rng.range(200, 2000)
        } else {
            self.rng.range(1, 20)
        };
        for _ in 0..k {
            let (n, len) = self.register(fam, g);
            bytes.extend_from_slice(&line_text(n, g, len));
            bytes.push(b'\n');
            self.gens[g as usize].lines.push(n);
            self.unconfirmed.insert(n);
        }
        append(&self.families[fam].live_path(), &bytes);
        self.note(format!("fam{fam} append {k} lines to g{g}"));
    }

    fn op_partial(&mut self, fam: usize) {
        let g = self.live_gen(fam);
        let (n, written) = match self.gens[g as usize].partial {
            Some(p) => p,
            None => {
                let (n, _) = self.register(fam, g);
                (n, 0)
            }
        };
        let len = self.registry.lock().unwrap()[n as usize].len;
        if written + 1 >= len {
            return; // only the newline is missing; leave it for the next append
        }
        let upto = self.rng.range(written as u64 + 1, len as u64 - 1) as usize;
        append(
            &self.families[fam].live_path(),
            &line_text(n, g, len)[written..upto],
        );
        self.gens[g as usize].partial = Some((n, upto));
        self.note(format!("fam{fam} partial line {n} bytes {written}..{upto}"));
    }

    /// The tailer has opened the live generation (one of its lines arrived), so removing its
    /// name cannot hide it. A generation without lines that must arrive has nothing to lose.
    fn ensure_opened(&mut self, fam: usize) {
        let Some(live) = &self.families[fam].live else {
            return;
        };
        let lines: Vec<u64> = {
            let reg = self.registry.lock().unwrap();
            self.gens[live.generation as usize]
                .lines
                .iter()
                .copied()
                .filter(|&n| reg[n as usize].must)
                .collect()
        };
        if lines.is_empty() || !self.running() {
            return;
        }
        self.wait("the live file to be opened", |r| {
            lines.iter().any(|n| r.count.contains_key(n))
        });
    }

    /// Marks the not-yet-delivered lines of generation `g` as "may be lost"; returns how many.
    fn mark_may(&mut self, g: u32) -> u64 {
        let reg = &mut *self.registry.lock().unwrap();
        let r = self.received.lock().unwrap();
        let mut k = 0;
        for &n in &self.gens[g as usize].lines {
            if !r.count.contains_key(&n) && reg[n as usize].must {
                reg[n as usize].must = false;
                self.unconfirmed.remove(&n);
                k += 1;
                if self.tailer.is_some() {
                    self.window.push(n);
                }
            }
        }
        k
    }

    fn op_rename(&mut self, fam: usize, stopped: Option<&Stopped>) {
        if self.families[fam].live.is_none() {
            return;
        }
        self.complete_partial(fam);
        if !self.families[fam].glob_all {
            self.ensure_opened(fam);
        }
        let live = self.families[fam].live.take().unwrap();
        let k = self.fresh_name();
        let to = self.families[fam].dir.join(format!("fw.log.{k}"));
        fs::rename(self.families[fam].live_path(), &to).unwrap();
        let g = live.generation;
        // Stopped, live-name-only glob: found again only through its checkpoint position.
        if let Some(st) = stopped
            && !self.families[fam].glob_all
            && (!st.in_checkpoint(g, &self.gens[g as usize]) || st.stale.contains(&g))
        {
            let k = self.mark_may(g);
            self.measure.stopped_destructive += 1;
            self.measure.stopped_may_lines += k;
        }
        self.families[fam].rotated.push_back((to, g));
        self.note(format!("fam{fam} rename g{g} -> fw.log.{k}"));
    }

    fn op_delete(&mut self, fam: usize, stopped: bool) {
        let Some(live) = &self.families[fam].live else {
            return;
        };
        let g = live.generation;
        self.complete_partial(fam);
        self.ensure_opened(fam);
        fs::remove_file(self.families[fam].live_path()).unwrap();
        self.families[fam].live = None;
        if stopped {
            let k = self.mark_may(g);
            self.measure.stopped_destructive += 1;
            self.measure.stopped_may_lines += k;
        }
        self.note(format!("fam{fam} delete g{g}"));
    }

    fn op_truncate(&mut self, fam: usize, copy: bool, stopped: bool) {
        let Some(live) = &self.families[fam].live else {
            return;
        };
        let g = live.generation;
        self.complete_partial(fam);
        let racing = stopped || self.rng.chance(0.5);
        if !racing {
            self.sync();
        }
        let path = self.families[fam].live_path();
        if copy {
            let k = self.fresh_name();
            fs::copy(&path, self.families[fam].dir.join(format!("copies/c.{k}"))).unwrap();
        }
        // Lines not delivered by now are in the window (nothing when quiesced).
        let k = self.mark_may(g);
        if stopped {
            self.measure.stopped_destructive += 1;
            self.measure.stopped_may_lines += k;
        } else {
            self.measure.racing_truncations += racing as u64;
            self.measure.window_lines += k;
        }
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        self.gens[g as usize].truncated_at = Some(self.gens[g as usize].lines.len());
        self.note(format!(
            "fam{fam} {} g{g} (racing: {racing}, window {k})",
            if copy { "copytruncate" } else { "truncate" }
        ));
    }

    fn op_symlink_swap(&mut self, fam: usize, stopped: bool) {
        let old = self.families[fam].live.as_ref().map(|l| l.generation);
        if old.is_some() {
            self.complete_partial(fam);
            self.ensure_opened(fam);
        }
        let k = self.fresh_name();
        let target = self.families[fam].dir.join(format!("targets/t.{k}"));
        fs::write(&target, b"").unwrap();
        let g = self.new_generation(fam, &target);
        let tmp = self.families[fam].dir.join(format!(".swap.{k}"));
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        fs::rename(&tmp, self.families[fam].live_path()).unwrap();
        self.families[fam].live = Some(Live { generation: g });
        if stopped && let Some(o) = old {
            // The old file is out of every glob now and not in the checkpoint's directory.
            let k = self.mark_may(o);
            self.measure.stopped_destructive += 1;
            self.measure.stopped_may_lines += k;
        }
        self.note(format!("fam{fam} symlink swap {old:?} -> g{g}"));
    }

    fn op_delete_rotated(&mut self, fam: usize, stopped: bool) {
        let Some((path, g)) = self.families[fam].rotated.pop_front() else {
            return;
        };
        fs::remove_file(&path).unwrap();
        if stopped {
            let k = self.mark_may(g);
            self.measure.stopped_destructive += 1;
            self.measure.stopped_may_lines += k;
        }
        self.note(format!("fam{fam} delete rotated g{g}"));
    }

    /// Waits until every line that must arrive has arrived.
    fn sync(&mut self) {
        if !self.running() {
            return;
        }
        let end = Instant::now() + DEADLINE;
        loop {
            // Only the lines not confirmed yet are looked at: the test stays linear in the
            // number of lines however long it runs.
            {
                let r = self.received.lock().unwrap();
                self.unconfirmed.retain(|n| !r.count.contains_key(n));
            }
            if self.unconfirmed.is_empty() {
                break;
            }
            let missing: Vec<u64> = self.unconfirmed.iter().copied().collect();
            if Instant::now() > end {
                let reg = self.registry.lock().unwrap();
                let problems = self.received.lock().unwrap().problems.clone();
                let detail: Vec<String> = missing
                    .iter()
                    .take(10)
                    .map(|&n| format!("{n} (g{})", reg[n as usize].generation))
                    .collect();
                // The generation of the first missing line: which of its lines arrived.
                let g = reg[missing[0] as usize].generation;
                let got = {
                    let r = self.received.lock().unwrap();
                    self.gens[g as usize]
                        .lines
                        .iter()
                        .map(|n| {
                            let mark = if r.count.contains_key(n) {
                                "+"
                            } else if reg[*n as usize].must {
                                "MISSING "
                            } else {
                                "may "
                            };
                            format!("{mark}{n}")
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                panic!(
                    "seed {}: {} line(s) never delivered: {detail:?}; problems: {problems:?}\n\
                     generation {g} (inode {}): {got}\nfiles:\n{}\nlast operations:\n{}",
                    self.seed,
                    missing.len(),
                    self.gens[g as usize].ino,
                    self.listing(),
                    self.log.iter().cloned().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.check_problems();
    }

    fn check_problems(&self) {
        let r = self.received.lock().unwrap();
        if !r.problems.is_empty() {
            panic!(
                "seed {}: {} problem(s): {:?}\nlast operations:\n{}",
                self.seed,
                r.problems.len(),
                &r.problems[..r.problems.len().min(10)],
                self.log.iter().cloned().collect::<Vec<_>>().join("\n")
            );
        }
    }

    fn op_restart(&mut self) {
        if self.rng.chance(0.5) {
            self.sync();
        }
        let cp = self
            .tailer
            .take()
            .unwrap()
            .stop_for_resume()
            .expect("tailer thread did not panic");
        self.measure.restarts += 1;
        // A file the tailer was still draining through its fd when it stopped, and that no
        // name in the source's directory leads to any more (deleted, or a symlink's old
        // target), cannot be found again: its unread lines die with the fd.
        let reachable: HashSet<(u64, u64)> = self
            .families
            .iter()
            .flat_map(|f| fs::read_dir(&f.dir).unwrap().flatten())
            .filter_map(|e| fs::metadata(e.path()).ok())
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
            .collect();
        for g in 0..self.gens.len() {
            let id = (self.gens[g].dev, self.gens[g].ino);
            if !reachable.contains(&id) {
                let k = self.mark_may(g as u32);
                self.measure.unreachable_at_stop += k;
            }
        }
        // A file truncated after the tailer last looked keeps a position whose head is the
        // old content's. Still under the glob, it is read again from 0 (its ctime is after the
        // last rescan); renamed out of a live-name-only glob, it is found by inode but its head
        // does not match, and the tailer does not adopt it (the inode could as well belong to
        // another file by now, a copytruncate copy say): its new lines are lost.
        let stale: HashSet<u32> = {
            let r = self.received.lock().unwrap();
            (0..self.gens.len() as u32)
                .filter(|&g| {
                    let gn = &self.gens[g as usize];
                    gn.truncated_at
                        .is_some_and(|t| !gn.lines[t..].iter().any(|n| r.count.contains_key(n)))
                })
                .collect()
        };
        for &g in &stale {
            let fam = self.gens[g as usize].family;
            let live = self.families[fam].live.as_ref().map(|l| l.generation);
            if !self.families[fam].glob_all && live != Some(g) {
                let k = self.mark_may(g);
                self.measure.stale_at_stop += k;
            }
        }
        let stopped = Stopped {
            inodes: cp
                .files
                .iter()
                .map(|f| (f.fingerprint.dev, f.fingerprint.ino))
                .collect(),
            stale,
            first_new: self.gens.len() as u32,
        };
        let n = self.rng.below(4);
        for _ in 0..n {
            let fam = self.rng.below(2) as usize;
            match self.rng.below(9) {
                0..=2 => self.op_append(fam),
                3 => self.op_partial(fam),
                4 => self.op_rename(fam, Some(&stopped)),
                5 => self.op_delete(fam, true),
                6 => {
                    let copy = self.rng.chance(0.5);
                    self.op_truncate(fam, copy, true)
                }
                7 => self.op_symlink_swap(fam, true),
                _ => self.op_delete_rotated(fam, true),
            }
        }
        self.note(format!(
            "restart ({} positions, {n} operations while stopped)",
            cp.files.len()
        ));
        self.start(Some(cp));
    }

    fn step(&mut self) {
        let fam = self.rng.below(2) as usize;
        let (name, op): (&'static str, u64) = match self.rng.below(100) {
            0..=34 => ("append", 0),
            35..=42 => ("partial", 1),
            43..=50 => ("rename", 2),
            51..=55 => ("copytruncate", 3),
            56..=59 => ("truncate", 4),
            60..=64 => ("delete", 5),
            65..=69 => ("symlink_swap", 6),
            70..=73 => ("restart", 7),
            74..=79 => ("sync", 8),
            _ => ("delete_rotated", 9),
        };
        *self.measure.ops.entry(name).or_insert(0) += 1;
        match op {
            0 => self.op_append(fam),
            1 => self.op_partial(fam),
            2 => self.op_rename(fam, None),
            3 => self.op_truncate(fam, true, false),
            4 => self.op_truncate(fam, false, false),
            5 => self.op_delete(fam, false),
            6 => self.op_symlink_swap(fam, false),
            7 => self.op_restart(),
            8 => self.sync(),
            _ => {
                // Bound the open files of the `fw.log*` family; only fully read ones, as
                // logrotate deletes old generations, not the one being drained.
                if self.families[fam].rotated.len() > 3 {
                    self.sync();
                    self.op_delete_rotated(fam, false)
                }
            }
        }
    }
}

/// Prints the seed if the test panics (the panic message has it too, but not every panic site
/// can add it).
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "tail_model failed with seed {0}; replay with SOCWALL_SEED={0}",
                self.0
            );
        }
    }
}

#[test]
fn random_operations_deliver_every_line_exactly_once() {
    let soak = std::env::var("SOCWALL_SOAK").is_ok_and(|v| v == "1");
    let steps = if soak {
        std::env::var("SOCWALL_SOAK_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_SOAK_STEPS)
    } else {
        DEFAULT_STEPS
    };
    let seed = std::env::var("SOCWALL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let _guard = SeedGuard(seed);
    eprintln!("tail_model: seed {seed}, {steps} steps (replay: SOCWALL_SEED={seed})");
    let started = Instant::now();

    let mut m = Model::new(seed);
    let (tx, mut rx) = channel(16);
    m.tx = Some(tx);
    let (registry, received) = (m.registry.clone(), m.received.clone());
    let consumer = std::thread::spawn(move || {
        while let Some(b) = rx.blocking_recv() {
            let reg = registry.lock().unwrap();
            let mut r = received.lock().unwrap();
            for line in b.lines() {
                r.observe(line, &reg);
            }
        }
    });
    m.start(None);
    for _ in 0..steps {
        m.step();
    }
    for fam in 0..2 {
        m.complete_partial(fam);
    }
    m.sync();
    // Nothing more may arrive: wait for three more rescans (a duplicate would show up).
    let st = m.tailer.as_ref().unwrap().stats();
    let before = (st.rescans(), m.received.lock().unwrap().total);
    m.wait("three more rescans", |_| st.rescans() >= before.0 + 3);
    assert_eq!(
        m.received.lock().unwrap().total,
        before.1,
        "seed {seed}: lines arrived after everything was delivered"
    );
    m.tailer.take().unwrap().stop();
    m.tx = None;
    consumer.join().unwrap();
    m.check_problems();

    let reg = m.registry.lock().unwrap();
    let r = m.received.lock().unwrap();
    let missing: Vec<u64> = (0..reg.len() as u64)
        .filter(|n| reg[*n as usize].must && !r.count.contains_key(n))
        .filter(|n| {
            // A line still partial at the end was never completed: not expected.
            !m.gens.iter().any(|g| g.partial.map(|p| p.0) == Some(*n))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "seed {seed}: {} line(s) never delivered, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let window_lost = m.window.iter().filter(|n| !r.count.contains_key(n)).count();
    eprintln!(
        "tail_model: seed {seed}: {steps} steps in {:.1?}; {} lines written, {} delivered; \
         {} restarts; racing (copy)truncates: {} with {} lines in the window, {} of them lost; \
         destructive operations while stopped: {} ({} lines could be lost); \
         unread lines of deleted files at a stop: {}; \
         lines of truncated-then-rotated files at a stop: {}; \
         cross-file order inversions: {}; ops {:?}",
        started.elapsed(),
        reg.len(),
        r.total,
        m.measure.restarts,
        m.measure.racing_truncations,
        m.measure.window_lines,
        window_lost,
        m.measure.stopped_destructive,
        m.measure.stopped_may_lines,
        m.measure.unreachable_at_stop,
        m.measure.stale_at_stop,
        r.cross_file_inversions,
        m.measure.ops,
    );
}
