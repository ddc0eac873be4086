//! `.now()`: the output of a future that is ready at once, for sync tests of the in-memory
//! `CcfKeyStore` (its `async` methods never wait). Panics if the future is not ready.

use core::future::Future;
use core::task::{Context, Poll, Waker};

pub trait Now: Future + Sized {
    fn now(self) -> Self::Output {
        let mut fut = core::pin::pin!(self);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the in-memory CcfKeyStore's future was not ready"),
        }
    }
}

impl<F: Future> Now for F {}
