//! Tests of the service as a whole over a data dir that is restarted and tampered with.

mod restarts;
