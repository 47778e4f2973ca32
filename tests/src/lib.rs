//! Shared helpers for the black-box suites.
