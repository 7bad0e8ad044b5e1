//! Runs the request's future at once, inside the call from JavaScript, and returns its value
//! directly when it needs no I/O to finish — the common request: a public route, a cached token or
//! API key, a refusal. Only a future that is still pending after that first poll becomes a
//! `Promise`. `wasm_bindgen_futures::future_to_promise` would allocate a promise, queue a microtask
//! and settle through JavaScript closures for every request, whether or not it waits on anything
//! (measured at about a tenth of the gateway's CPU on a public route, `bench/profile.mjs`).
//!
//! The waker is real from the first poll: anything the future registers it with (a `JsFuture`, a
//! timer) wakes the task, which is then polled again from a microtask (`spawn_local`) until it
//! settles its promise. No `unsafe`: the waker holds only the task's number, and the tasks live in
//! a thread-local table (wasm32 is single-threaded).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use wasm_bindgen::JsValue;

type Job = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

struct Task {
    job: RefCell<Option<Job>>,
    /// The promise's `resolve` and `reject`, once the first poll found the job pending.
    settle: RefCell<Option<(js_sys::Function, js_sys::Function)>>,
    /// A poll is already queued: several wakes before it runs poll once.
    queued: Cell<bool>,
}

thread_local! {
    /// Pending tasks by number; a task leaves when it settles.
    static PENDING: RefCell<HashMap<u64, Rc<Task>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// What a waker holds: the task's number, which is `Send + Sync` as `Wake` requires.
struct TaskWaker(u64);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(task) = PENDING.with(|p| p.borrow().get(&self.0).cloned()) else {
            // Settled already (a late callback of a future dropped with its job): nothing to do.
            return;
        };
        if task.queued.replace(true) {
            return;
        }
        let id = self.0;
        let waker = Waker::from(self.clone());
        wasm_bindgen_futures::spawn_local(async move {
            task.queued.set(false);
            if let Some(out) = poll(&task, &waker) {
                PENDING.with(|p| p.borrow_mut().remove(&id));
                if let Some((resolve, reject)) = task.settle.borrow_mut().take() {
                    let _ = match out {
                        Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                        Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
                    };
                }
            }
        });
    }
}

/// One poll of the task's job; `Some` with its output when it finished (the job is dropped then).
fn poll(task: &Task, waker: &Waker) -> Option<Result<JsValue, JsValue>> {
    let mut slot = task.job.borrow_mut();
    let job = slot.as_mut()?;
    match job.as_mut().poll(&mut Context::from_waker(waker)) {
        Poll::Ready(out) => {
            *slot = None;
            Some(out)
        }
        Poll::Pending => None,
    }
}

/// The job's value if it finishes in this call, else a `Promise` of it. An error finished at once
/// is thrown, as an async export's rejection would be.
pub(super) fn run_now(
    job: impl Future<Output = Result<JsValue, JsValue>> + 'static,
) -> Result<JsValue, JsValue> {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    });
    let task = Rc::new(Task {
        job: RefCell::new(Some(Box::pin(job))),
        settle: RefCell::new(None),
        queued: Cell::new(false),
    });
    // Registered before the first poll: the job may wake itself during it.
    PENDING.with(|p| p.borrow_mut().insert(id, task.clone()));
    let waker = Waker::from(Arc::new(TaskWaker(id)));
    if let Some(out) = poll(&task, &waker) {
        PENDING.with(|p| p.borrow_mut().remove(&id));
        return out;
    }
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        *task.settle.borrow_mut() = Some((resolve, reject));
    });
    Ok(promise.into())
}
