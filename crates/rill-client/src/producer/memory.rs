//! `buffer.memory`: the byte budget of records waiting to be delivered.
//!
//! `send` reserves a record's estimated size before it is appended and the
//! reservation is released when its batch completes (delivered or failed),
//! so the memory held by pending records never exceeds the budget; a `send`
//! that finds the budget used up waits (up to `max.block.ms`) until
//! deliveries free enough of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget, shared by every `send`.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_bytes: usize,
}

/// Bytes held until dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Holds nothing.
    pub fn empty() -> Self {
        Reservation { permit: None }
    }

    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Takes up to `bytes` of this reservation into a new one.
    pub fn split(&mut self, bytes: usize) -> Reservation {
        Reservation { permit: self.permit.as_mut().and_then(|p| p.split(bytes.min(p.num_permits()))) }
    }

    /// Adds `other`'s bytes to this reservation.
    pub fn merge(&mut self, mut other: Reservation) {
        match (self.permit.as_mut(), other.permit.take()) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, theirs) => self.permit = theirs,
            (_, None) => {}
        }
    }
}

/// Why memory could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// More than the whole budget was asked for.
    LargerThanBudget { bytes: usize, budget_bytes: usize },
    /// Not enough was freed within the wait.
    Timeout { bytes: usize, waited: Duration },
}

impl MemoryBudget {
    /// The largest budget (the semaphore counts in `u32` steps per acquire).
    pub const MAX_BYTES: usize = u32::MAX as usize;

    pub fn new(total_bytes: usize) -> Self {
        let total_bytes = total_bytes.clamp(1, Self::MAX_BYTES);
        MemoryBudget { permits: Arc::new(Semaphore::new(total_bytes)), total_bytes }
    }

    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Bytes not reserved right now.
    pub fn available_bytes(&self) -> usize {
        self.permits.available_permits()
    }

    /// Reserves `bytes`, waiting up to `max_wait` for them to be freed.
    /// Waiters are served in arrival order (tokio's semaphore is fair).
    pub async fn reserve(&self, bytes: usize, max_wait: Duration) -> Result<Reservation, ReserveError> {
        if bytes > self.total_bytes {
            return Err(ReserveError::LargerThanBudget { bytes, budget_bytes: self.total_bytes });
        }
        if bytes == 0 {
            return Ok(Reservation { permit: None });
        }
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        // At once when the bytes are free (no clock read, no timer): permits
        // freed while others wait go to the waiters first, so this never
        // jumps the queue.
        if let Ok(permit) = self.permits.clone().try_acquire_many_owned(n) {
            return Ok(Reservation { permit: Some(permit) });
        }
        match tokio::time::timeout(max_wait, self.permits.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(Reservation { permit: Some(permit) }),
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(ReserveError::Timeout { bytes, waited: max_wait }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reserve_waits_at_the_budget_and_resumes_when_freed() {
        let budget = MemoryBudget::new(100);
        let a = budget.reserve(60, Duration::from_secs(60)).await.unwrap();
        let b = budget.reserve(40, Duration::from_secs(60)).await.unwrap();
        assert_eq!(budget.available_bytes(), 0);
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(50, Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "a reservation over the budget must wait");
        drop(b); // 40 free: still not enough for 50
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        drop(a);
        let c = waiter.await.unwrap().unwrap();
        assert_eq!(c.bytes(), 50);
        assert_eq!(budget.available_bytes(), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn reserve_fails_beyond_the_budget_and_after_the_wait() {
        let budget = MemoryBudget::new(100);
        assert_eq!(
            budget.reserve(101, Duration::from_secs(1)).await.unwrap_err(),
            ReserveError::LargerThanBudget { bytes: 101, budget_bytes: 100 }
        );
        let _held = budget.reserve(100, Duration::from_secs(1)).await.unwrap();
        let err = budget.reserve(1, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err, ReserveError::Timeout { bytes: 1, waited: Duration::from_secs(2) });
    }

    #[tokio::test(start_paused = true)]
    async fn merged_reservations_free_together() {
        let budget = MemoryBudget::new(10);
        let mut a = budget.reserve(3, Duration::ZERO).await.unwrap();
        a.merge(budget.reserve(4, Duration::ZERO).await.unwrap());
        a.merge(budget.reserve(0, Duration::ZERO).await.unwrap());
        assert_eq!(a.bytes(), 7);
        assert_eq!(budget.available_bytes(), 3);
        drop(a);
        assert_eq!(budget.available_bytes(), 10);
    }
}
