//! The N×N mesh of bounded SPSC rings between cores.
//!
//! Contract:
//! - ring `(from, to)` is pushed only by endpoint `from` and popped only by
//!   endpoint `to`; each endpoint exists once and is `Send` but not `Sync`, so
//!   every ring has exactly one producer and one consumer;
//! - messages between one pair arrive in the order they were sent (a
//!   watermark arrives after the batches it covers);
//! - [`Endpoint::send`] on a full ring keeps draining the sender's own inbound
//!   rings into the caller's inbox until there is room, so cores blocked on
//!   each other's full rings always make progress;
//! - [`Endpoint::park`] sleeps until a message arrives (or a timeout); senders
//!   unpark a parked receiver after each push.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

/// What travels between cores.
#[derive(Debug)]
pub enum Message<T> {
    Data(T),
    /// No later message on this ring carries an event time below this one;
    /// with the time the input that moved it was ingested (what the
    /// watermark releases is timed from there).
    Watermark(i64, Instant),
    /// The sender will send nothing more on this ring.
    End,
}

/// The rings and wake-up state of `cores` cores.
pub struct Mesh<T> {
    cores: usize,
    /// Ring `from * cores + to`.
    rings: Box<[ArrayQueue<Message<T>>]>,
    parked: Box<[AtomicBool]>,
    threads: Box<[OnceLock<Thread>]>,
    handed_out: Box<[AtomicBool]>,
    aborted: AtomicBool,
}

impl<T> Mesh<T> {
    /// A mesh of `cores × cores` rings of `capacity` messages each.
    pub fn new(cores: usize, capacity: usize) -> Arc<Self> {
        assert!(cores > 0 && capacity > 0, "a mesh needs cores and capacity");
        Arc::new(Mesh {
            cores,
            rings: (0..cores * cores)
                .map(|_| ArrayQueue::new(capacity))
                .collect(),
            parked: (0..cores).map(|_| AtomicBool::new(false)).collect(),
            threads: (0..cores).map(|_| OnceLock::new()).collect(),
            handed_out: (0..cores).map(|_| AtomicBool::new(false)).collect(),
            aborted: AtomicBool::new(false),
        })
    }

    /// Stops the run: every waiting [`Endpoint::send`] gives up, and parked
    /// cores are woken so they can notice.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        for t in self.threads.iter().filter_map(OnceLock::get) {
            t.unpark();
        }
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    pub fn cores(&self) -> usize {
        self.cores
    }

    /// The endpoint of `core`. Each endpoint can be taken once.
    pub fn endpoint(self: &Arc<Self>, core: usize) -> Endpoint<T> {
        assert!(core < self.cores, "core {core} out of range");
        let taken = self.handed_out[core].swap(true, Ordering::AcqRel);
        assert!(
            !taken,
            "endpoint {core} taken twice: its rings would have two owners"
        );
        Endpoint {
            mesh: self.clone(),
            me: core,
            next: Cell::new(0),
            blocked: Cell::new(Duration::ZERO),
            _not_sync: PhantomData,
        }
    }

    fn ring(&self, from: usize, to: usize) -> &ArrayQueue<Message<T>> {
        &self.rings[from * self.cores + to]
    }
}

/// One core's view of the mesh: its outbound and inbound rings.
pub struct Endpoint<T> {
    mesh: Arc<Mesh<T>>,
    me: usize,
    /// Round-robin position over inbound rings.
    next: Cell<usize>,
    /// Time [`Endpoint::send`] waited for room in a full ring, all told.
    blocked: Cell<Duration>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Endpoint<T> {
    pub fn core(&self) -> usize {
        self.me
    }

    pub fn cores(&self) -> usize {
        self.mesh.cores
    }

    /// The mesh this endpoint belongs to (to abort the run).
    pub fn mesh(&self) -> &Mesh<T> {
        &self.mesh
    }

    /// Registers the calling thread as this core's, so senders can wake it.
    /// Call once, from the thread that will use this endpoint.
    pub fn bind_thread(&self) {
        let _ = self.mesh.threads[self.me].set(std::thread::current());
    }

    fn wake(&self, to: usize) {
        fence(Ordering::SeqCst);
        if self.mesh.parked[to].load(Ordering::Relaxed) {
            if let Some(t) = self.mesh.threads[to].get() {
                t.unpark();
            }
        }
    }

    /// Sends without waiting; a full ring hands the message back.
    pub fn try_send(&self, to: usize, msg: Message<T>) -> Result<(), Message<T>> {
        self.mesh.ring(self.me, to).push(msg)?;
        self.wake(to);
        Ok(())
    }

    /// Sends, waiting while the ring is full. While it waits, every message
    /// arriving on this core's inbound rings is handed to `inbox` (with its
    /// sender), so peers blocked on this core make progress. Once the mesh
    /// is aborted, a send that would wait hands the message back.
    pub fn send(
        &self,
        to: usize,
        msg: Message<T>,
        inbox: &mut dyn FnMut(usize, Message<T>),
    ) -> Result<(), Message<T>> {
        let mut msg = msg;
        let mut idle = 0u32;
        // Set once the ring was found full: the wait is timed from there.
        let mut since: Option<Instant> = None;
        let note = |since: Option<Instant>| {
            if let Some(t) = since {
                self.blocked.set(self.blocked.get() + t.elapsed());
            }
        };
        loop {
            match self.try_send(to, msg) {
                Ok(()) => {
                    note(since);
                    return Ok(());
                }
                Err(m) => msg = m,
            }
            since.get_or_insert_with(Instant::now);
            if self.mesh.is_aborted() {
                note(since);
                return Err(msg);
            }
            let mut drained = false;
            while let Some((from, m)) = self.try_recv_any() {
                inbox(from, m);
                drained = true;
            }
            if drained {
                idle = 0;
            } else {
                idle += 1;
                if idle < 64 {
                    std::hint::spin_loop();
                } else {
                    // The receiver is busy: give the CPU away briefly.
                    std::thread::park_timeout(Duration::from_micros(50));
                }
            }
        }
    }

    /// How long [`Endpoint::send`] has waited for room in full rings, all
    /// told: this endpoint's time blocked by a slower receiver.
    pub fn blocked(&self) -> Duration {
        self.blocked.get()
    }

    /// The next message from `from`, if any.
    pub fn try_recv(&self, from: usize) -> Option<Message<T>> {
        self.mesh.ring(from, self.me).pop()
    }

    /// The next message from any sender, taking senders in turn.
    pub fn try_recv_any(&self) -> Option<(usize, Message<T>)> {
        let n = self.mesh.cores;
        let start = self.next.get();
        for k in 0..n {
            let from = (start + k) % n;
            if let Some(m) = self.try_recv(from) {
                self.next.set((from + 1) % n);
                return Some((from, m));
            }
        }
        None
    }

    fn inbound_empty(&self) -> bool {
        (0..self.mesh.cores).all(|from| self.mesh.ring(from, self.me).is_empty())
    }

    /// Sleeps until a message may have arrived, or `timeout` passes.
    pub fn park(&self, timeout: Duration) {
        self.mesh.parked[self.me].store(true, Ordering::Relaxed);
        // Pairs with the fence in `wake`: either the sender sees us parked,
        // or we see its message here.
        fence(Ordering::SeqCst);
        if self.inbound_empty() {
            std::thread::park_timeout(timeout);
        }
        self.mesh.parked[self.me].store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// Runs `f` on a thread and fails the test if it does not finish in time.
    fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(secs))
            .expect("deadlock or hang")
    }

    #[test]
    fn a_tiny_ring_applies_backpressure_and_keeps_order() {
        within(30, || {
            let mesh = Mesh::<u64>::new(2, 1);
            let tx = mesh.endpoint(0);
            let rx = mesh.endpoint(1);
            let h = std::thread::spawn(move || {
                tx.bind_thread();
                for i in 0..20_000 {
                    tx.send(1, Message::Data(i), &mut |_, _| panic!("nothing inbound"))
                        .unwrap();
                }
                tx.send(1, Message::End, &mut |_, _| {}).unwrap();
            });
            rx.bind_thread();
            let mut expect = 0;
            loop {
                match rx.try_recv(0) {
                    Some(Message::Data(v)) => {
                        assert_eq!(v, expect);
                        expect += 1;
                    }
                    Some(Message::End) => break,
                    Some(Message::Watermark(..)) => unreachable!(),
                    None => rx.park(Duration::from_millis(10)),
                }
            }
            assert_eq!(expect, 20_000);
            h.join().unwrap();
        });
    }

    /// A sender whose receiver takes its messages only after a while
    /// counts that wait as blocked; one that never met a full ring, none.
    #[test]
    fn time_waiting_for_room_is_counted_as_blocked() {
        within(30, || {
            let mesh = Mesh::<u64>::new(2, 1);
            let tx = mesh.endpoint(0);
            let rx = mesh.endpoint(1);
            let (sent, first) = mpsc::channel();
            let h = std::thread::spawn(move || {
                tx.bind_thread();
                tx.send(1, Message::Data(0), &mut |_, _| {}).unwrap();
                assert_eq!(tx.blocked(), Duration::ZERO, "room for the first");
                sent.send(()).unwrap();
                // The ring is full until the receiver wakes.
                tx.send(1, Message::Data(1), &mut |_, _| {}).unwrap();
                tx.blocked()
            });
            first.recv().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let mut got = 0;
            while got < 2 {
                match rx.try_recv(0) {
                    Some(_) => got += 1,
                    None => std::thread::yield_now(),
                }
            }
            let blocked = h.join().unwrap();
            assert!(
                blocked >= Duration::from_millis(30) && blocked < Duration::from_secs(20),
                "blocked {blocked:?}"
            );
            assert_eq!(rx.blocked(), Duration::ZERO);
        });
    }

    struct Inbox {
        got: Vec<u64>,
        ended: usize,
    }

    impl Inbox {
        fn take(&mut self, from: usize, m: Message<u64>) {
            match m {
                Message::Data(v) => {
                    assert_eq!(v, self.got[from], "FIFO per pair");
                    self.got[from] += 1;
                }
                Message::End => self.ended += 1,
                Message::Watermark(..) => {}
            }
        }
    }

    /// Every core sends to every core through rings of 2; without draining
    /// while blocked this would deadlock.
    fn all_to_all(cores: usize, per_pair: u64, skewed: bool) {
        let mesh = Mesh::<u64>::new(cores, 2);
        let handles: Vec<_> = (0..cores)
            .map(|c| {
                let ep = mesh.endpoint(c);
                std::thread::spawn(move || {
                    ep.bind_thread();
                    let mut st = Inbox {
                        got: vec![0u64; ep.cores()],
                        ended: 0,
                    };
                    for i in 0..per_pair {
                        for to in 0..ep.cores() {
                            if !skewed || to == 0 {
                                ep.send(to, Message::Data(i), &mut |f, m| st.take(f, m))
                                    .unwrap();
                            }
                        }
                    }
                    for to in 0..ep.cores() {
                        ep.send(to, Message::End, &mut |f, m| st.take(f, m))
                            .unwrap();
                    }
                    while st.ended < ep.cores() {
                        match ep.try_recv_any() {
                            Some((from, m)) => st.take(from, m),
                            None => ep.park(Duration::from_millis(5)),
                        }
                    }
                    st.got
                })
            })
            .collect();
        for (c, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            let expect = if !skewed || c == 0 { per_pair } else { 0 };
            assert!(got.iter().all(|n| *n == expect), "core {c}: {got:?}");
        }
    }

    #[test]
    fn all_to_all_traffic_through_tiny_rings_does_not_deadlock() {
        within(60, || {
            for cores in 1..=4 {
                all_to_all(cores, 5_000, false);
            }
        });
    }

    #[test]
    fn one_hot_destination_drains() {
        within(60, || all_to_all(4, 5_000, true));
    }

    #[test]
    fn a_parked_core_is_woken_by_a_message() {
        within(30, || {
            let mesh = Mesh::<u8>::new(2, 4);
            let tx = mesh.endpoint(0);
            let rx = mesh.endpoint(1);
            rx.bind_thread();
            let h = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                tx.try_send(1, Message::Data(1)).unwrap();
            });
            let t = Instant::now();
            while rx.try_recv(0).is_none() {
                rx.park(Duration::from_secs(20));
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "not woken: {:?}",
                t.elapsed()
            );
            h.join().unwrap();
        });
    }

    #[test]
    fn abort_releases_a_blocked_sender() {
        within(30, || {
            let mesh = Mesh::<u8>::new(2, 1);
            let tx = mesh.endpoint(0);
            tx.try_send(1, Message::Data(0)).unwrap();
            let m = mesh.clone();
            let h = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                m.abort();
            });
            assert!(matches!(
                tx.send(1, Message::Data(1), &mut |_, _| {}),
                Err(Message::Data(1))
            ));
            h.join().unwrap();
        });
    }

    #[test]
    #[should_panic(expected = "taken twice")]
    fn an_endpoint_has_one_owner() {
        let mesh = Mesh::<u8>::new(2, 1);
        let _a = mesh.endpoint(0);
        let _b = mesh.endpoint(0);
    }
}
