//! Python runner. Filled in below.
