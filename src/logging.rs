//! tracing to a log file under the state dir; never to the terminal while the TUI runs.
