//! redoflow
