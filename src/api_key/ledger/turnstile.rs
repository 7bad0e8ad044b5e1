//! One call at a time through a ledger object. A Durable Object delivers a new event while an
//! earlier one awaits anything but its own storage (a KV write, a call to another object), so the
//! object's shell passes every call through this turnstile: a call enters only when the one before
//! it has left, in arrival order.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    /// Tickets handed out, and the ticket now allowed through.
    next_ticket: Cell<u64>,
    serving: Cell<u64>,
    waiting: RefCell<VecDeque<(u64, Waker)>>,
    /// Tickets whose callers gave up before their turn: skipped.
    abandoned: RefCell<BTreeSet<u64>>,
}

impl Inner {
    /// The current holder left: the next ticket still wanted goes through.
    fn advance(&self) {
        let mut next = self.serving.get() + 1;
        while self.abandoned.borrow_mut().remove(&next) {
            next += 1;
        }
        self.serving.set(next);
        let waker = {
            let mut waiting = self.waiting.borrow_mut();
            let i = waiting.iter().position(|(t, _)| *t == next);
            i.and_then(|i| waiting.remove(i)).map(|(_, w)| w)
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A FIFO async lock for a single-threaded runtime.
#[derive(Clone, Default)]
pub(crate) struct Turnstile {
    inner: Rc<Inner>,
}

/// Held while a call runs; the next call enters when it drops (also when the call's future is
/// dropped half-way).
pub(crate) struct Passage {
    inner: Rc<Inner>,
}

impl Drop for Passage {
    fn drop(&mut self) {
        self.inner.advance();
    }
}

pub(crate) struct Entering {
    inner: Rc<Inner>,
    ticket: u64,
    entered: bool,
}

impl Future for Entering {
    type Output = Passage;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Passage> {
        if self.inner.serving.get() == self.ticket {
            self.entered = true;
            return Poll::Ready(Passage {
                inner: self.inner.clone(),
            });
        }
        let mut waiting = self.inner.waiting.borrow_mut();
        match waiting.iter_mut().find(|(t, _)| *t == self.ticket) {
            Some(entry) => entry.1 = cx.waker().clone(),
            None => waiting.push_back((self.ticket, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Entering {
    /// A caller that gives up waiting hands its turn on, so the line never stalls.
    fn drop(&mut self) {
        if self.entered {
            return;
        }
        self.inner
            .waiting
            .borrow_mut()
            .retain(|(t, _)| *t != self.ticket);
        if self.inner.serving.get() == self.ticket {
            self.inner.advance();
        } else {
            self.inner.abandoned.borrow_mut().insert(self.ticket);
        }
    }
}

impl Turnstile {
    /// Waits for this caller's turn.
    pub(crate) fn enter(&self) -> Entering {
        let ticket = self.inner.next_ticket.get();
        self.inner.next_ticket.set(ticket + 1);
        Entering {
            inner: self.inner.clone(),
            ticket,
            entered: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    fn poll(f: Pin<&mut Entering>) -> Poll<Passage> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn one_at_a_time_in_arrival_order() {
        let t = Turnstile::default();
        let mut a = pin!(t.enter());
        let mut b = pin!(t.enter());
        let mut c = pin!(t.enter());
        let Poll::Ready(pa) = poll(a.as_mut()) else {
            panic!("first enters at once")
        };
        assert!(poll(c.as_mut()).is_pending());
        assert!(poll(b.as_mut()).is_pending());
        drop(pa);
        assert!(poll(c.as_mut()).is_pending(), "c arrived after b");
        let Poll::Ready(pb) = poll(b.as_mut()) else {
            panic!("b is next")
        };
        assert!(poll(c.as_mut()).is_pending());
        drop(pb);
        assert!(poll(c.as_mut()).is_ready());
    }

    #[test]
    fn a_caller_that_gives_up_does_not_stall_the_line() {
        let t = Turnstile::default();
        let mut a = pin!(t.enter());
        let b = t.enter();
        let mut c = pin!(t.enter());
        let Poll::Ready(pa) = poll(a.as_mut()) else {
            panic!()
        };
        drop(b);
        assert!(poll(c.as_mut()).is_pending(), "a still holds it");
        drop(pa);
        assert!(poll(c.as_mut()).is_ready(), "b's turn is skipped");
        // Its turn came and it never took it.
        let t = Turnstile::default();
        let a = t.enter();
        let mut b = pin!(t.enter());
        drop(a);
        assert!(poll(b.as_mut()).is_ready());
    }
}
