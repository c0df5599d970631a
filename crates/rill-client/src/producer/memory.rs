//! `buffer.memory`: the byte budget of records waiting to be delivered.
//!
//! `send` reserves a record's estimated size before it is appended and the
//! reservation is released when its batch completes (delivered or failed),
//! so the memory held by pending records never exceeds the budget; a `send`
//! that finds the budget used up waits (up to `max.block.ms`) until
//! deliveries free enough of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// The budget, shared by every `send`.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_bytes: usize,
}

/// A batch's bytes of the budget (all its records'), given back when it is
/// dropped.
#[derive(Debug)]
pub struct Reservation {
    permits: Option<Arc<Semaphore>>,
    bytes: usize,
}

/// One record's bytes of the budget on their way into its batch
/// ([`Reservation::add_record`]); given back if dropped before. Borrowed
/// from the budget: no reference count changes per record, which showed in
/// profiles of `send` (tokio's owned permits clone and drop an `Arc` each).
#[derive(Debug)]
pub struct RecordReservation<'a> {
    permits: Option<&'a Arc<Semaphore>>,
    bytes: usize,
}

impl RecordReservation<'_> {
    /// Holds nothing.
    pub fn empty() -> Self {
        RecordReservation { permits: None, bytes: 0 }
    }
}

impl Drop for RecordReservation<'_> {
    fn drop(&mut self) {
        if let (Some(permits), bytes @ 1..) = (self.permits, self.bytes) {
            permits.add_permits(bytes);
        }
    }
}

impl Reservation {
    /// Holds nothing.
    pub fn empty() -> Self {
        Reservation { permits: None, bytes: 0 }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes up to `bytes` of this reservation into a new one.
    pub fn split(&mut self, bytes: usize) -> Reservation {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Reservation { permits: self.permits.clone().filter(|_| bytes > 0), bytes }
    }

    /// Adds `other`'s bytes to this reservation (both are of the producer's one budget).
    pub fn merge(&mut self, mut other: Reservation) {
        if other.bytes == 0 {
            return;
        }
        if self.permits.is_none() {
            self.permits = other.permits.take();
        }
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Adds a record's bytes to this reservation.
    pub fn add_record(&mut self, mut record: RecordReservation<'_>) {
        let Some(permits) = record.permits else { return };
        if record.bytes == 0 {
            return;
        }
        if self.permits.is_none() {
            self.permits = Some(permits.clone());
        }
        self.bytes += std::mem::take(&mut record.bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let (Some(permits), bytes @ 1..) = (&self.permits, self.bytes) {
            permits.add_permits(bytes);
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

    /// Reserves `bytes` if they are free now (`Ok(None)` if not). Never
    /// jumps the queue: permits freed while others wait go to the waiters.
    pub fn try_reserve(&self, bytes: usize) -> Result<Option<RecordReservation<'_>>, ReserveError> {
        if bytes > self.total_bytes {
            return Err(ReserveError::LargerThanBudget { bytes, budget_bytes: self.total_bytes });
        }
        if bytes == 0 {
            return Ok(Some(RecordReservation::empty()));
        }
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        Ok(self.permits.try_acquire_many(n).ok().map(|permit| {
            // Counted from here on by the reservation, which gives them back.
            permit.forget();
            RecordReservation { permits: Some(&self.permits), bytes: n as usize }
        }))
    }

    /// Reserves `bytes`, waiting up to `max_wait` for them to be freed.
    /// Waiters are served in arrival order (tokio's semaphore is fair).
    pub async fn reserve(&self, bytes: usize, max_wait: Duration) -> Result<RecordReservation<'_>, ReserveError> {
        // At once when the bytes are free (no clock read, no timer); this
        // also refuses more than the budget and takes nothing for 0 bytes.
        if let Some(reservation) = self.try_reserve(bytes)? {
            return Ok(reservation);
        }
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = match tokio::time::timeout(max_wait, self.permits.acquire_many(n)).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => return Err(ReserveError::Timeout { bytes, waited: max_wait }),
        };
        // Counted from here on by the reservation, which gives them back.
        permit.forget();
        Ok(RecordReservation { permits: Some(&self.permits), bytes: n as usize })
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
            tokio::spawn(async move {
                let mut batch = Reservation::empty();
                batch.add_record(budget.reserve(50, Duration::from_secs(60)).await?);
                Ok::<_, ReserveError>(batch)
            })
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

    /// try_reserve takes only what is free now, and never what a waiter is owed.
    #[tokio::test(start_paused = true)]
    async fn try_reserve_takes_free_bytes_only_and_never_ahead_of_a_waiter() {
        let budget = MemoryBudget::new(100);
        assert_eq!(budget.try_reserve(101).unwrap_err(), ReserveError::LargerThanBudget { bytes: 101, budget_bytes: 100 });
        let a = budget.try_reserve(70).unwrap().expect("free");
        assert!(budget.try_reserve(40).unwrap().is_none(), "only 30 are free");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(60, Duration::from_secs(60)).await.map(|r| r.bytes) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a);
        // The 100 freed go to the waiter first: 40 are left, not 100.
        assert!(budget.try_reserve(50).unwrap().is_none());
        assert_eq!(waiter.await.unwrap().unwrap(), 60);
        // The waiter's reservation was dropped with its task: all 100 are free again.
        let b = budget.try_reserve(40).unwrap().expect("free");
        assert_eq!((b.bytes, budget.available_bytes()), (40, 60));
        assert_eq!(budget.try_reserve(0).unwrap().map(|r| r.bytes), Some(0));
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
        let mut a = Reservation::empty();
        a.add_record(budget.reserve(3, Duration::ZERO).await.unwrap());
        a.add_record(budget.reserve(4, Duration::ZERO).await.unwrap());
        a.add_record(budget.reserve(0, Duration::ZERO).await.unwrap());
        assert_eq!(a.bytes(), 7);
        assert_eq!(budget.available_bytes(), 3);
        let mut b = a.split(5);
        assert_eq!((a.bytes(), b.bytes()), (2, 5));
        drop(a);
        assert_eq!(budget.available_bytes(), 5);
        b.merge(Reservation::empty());
        let mut c = Reservation::empty();
        c.merge(b);
        assert_eq!(c.bytes(), 5);
        drop(c);
        assert_eq!(budget.available_bytes(), 10);
        // A record's bytes not added to a batch go back when dropped.
        let record = budget.reserve(6, Duration::ZERO).await.unwrap();
        assert_eq!(budget.available_bytes(), 4);
        drop(record);
        assert_eq!(budget.available_bytes(), 10);
    }
}
