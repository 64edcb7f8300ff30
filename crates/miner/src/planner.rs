//! Adaptive batch planner. STUB.
