//! kcat (librdkafka) runner. Filled in below.
